"""Reading a user's TOML file with one clear error for every way it can go wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import AccelError

__all__ = ["read_toml"]


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Parse ``path``; errors name the file and say which ``what`` could not be read."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AccelError(f"cannot read {what}: no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as err:
        raise AccelError(f"cannot read {what}: {err}", source=source) from None
    return parse_toml(text, source)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise AccelError(f"not valid TOML: {err}", source=source) from None
