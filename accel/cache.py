"""Where accel (and the YoWASP tools it runs) keep their caches: one place that checks it.

``$XDG_CACHE_HOME`` (default ``~/.cache``) holds ``accel/synth`` (synthesis results),
``accel/sim_build`` (Verilator and Icarus builds) and YoWASP's compiled WebAssembly. A
value that is not a usable directory is one line naming the variable, before any work,
instead of a Yosys or Wasmtime error after it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import AccelError
from .inputs import shown

__all__ = ["cache_root", "cache_dir"]


def cache_root() -> Path:
    """``$XDG_CACHE_HOME`` or ``~/.cache``, created if need be and checked writable."""
    value = os.environ.get("XDG_CACHE_HOME")
    name = "XDG_CACHE_HOME" if value else "~/.cache"
    root = Path(value) if value else Path.home() / ".cache"
    if value and not root.is_absolute():  # the XDG spec ignores a relative value
        raise AccelError(f"XDG_CACHE_HOME={shown(value)}: must be an absolute path")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise AccelError(
            f"{name}={shown(root)}: is a file, not a directory (accel and the YoWASP tools "
            "keep their caches there; point XDG_CACHE_HOME at a directory)"
        ) from None
    except OSError as err:
        raise AccelError(f"{name}={shown(root)}: cannot create it ({err.strerror})") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise AccelError(f"{name}={shown(root)}: is not writable")
    return root


def cache_dir(*parts: str) -> Path:
    """``cache_root()/accel/PARTS``."""
    return cache_root().joinpath("accel", *parts)
