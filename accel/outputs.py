"""Writing output files without ever overwriting something the user made.

A file at the target path is replaced only if this tool wrote it (a JSON report with
``"tool": "accel"``, a PNG whose ``Software`` text chunk says ``accel``) or when the user
passes ``--force``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import AccelError

__all__ = ["TOOL_MARK", "is_ours", "check_writable", "write_text"]

TOOL_MARK = "accel"


def _is_our_json(path: Path) -> bool:
    try:
        if path.stat().st_size > 1 << 28:  # not a report of ours; do not read it whole
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("tool") == TOOL_MARK


def _is_our_png(path: Path) -> bool:
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return False
    return head.startswith(b"\x89PNG") and b"Software\x00" + TOOL_MARK.encode() in head


def is_ours(path: Path) -> bool:
    """True if ``path`` is a report or plot this tool wrote."""
    return _is_our_png(path) or _is_our_json(path)


def check_writable(path: str | Path, force: bool, flag: str) -> Path:
    """Refuse to replace a file the tool did not write, unless ``force``."""
    path = Path(path)
    if path.is_dir():
        raise AccelError(f"{flag} {path}: is a directory, expected a file path")
    if path.exists() and not force and not is_ours(path):
        raise AccelError(
            f"{flag} {path}: file exists and was not written by accel; "
            "choose another path or pass --force"
        )
    return path


def write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise AccelError(f"cannot write {path}: {err.strerror}") from None
