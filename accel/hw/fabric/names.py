"""The fabrics the primitives know, and the one check of a ``fabric`` argument."""

from __future__ import annotations

from ...errors import AccelError

__all__ = ["FABRICS", "check_fabric"]

FABRICS = ("generic", "ecp5", "ice40")
"""``generic``: plain Amaranth; ``ecp5`` and ``ice40``: the family's hard blocks."""


def check_fabric(fabric: object) -> str:
    if fabric not in FABRICS:
        raise AccelError(f"fabric must be one of {', '.join(FABRICS)}, not {fabric!r}")
    return fabric
