"""Reading what Yosys and nextpnr wrote: cell counts, utilisation, Fmax, critical paths.

Pure functions of the tools' JSON files, so the parser is tested on saved reports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import AccelError
from .targets import RESOURCES, Target

__all__ = [
    "cell_counts",
    "core_resources",
    "read_json",
    "placed_resources",
    "fmax",
    "critical_paths",
    "check_problems",
]


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise AccelError(f"{path}: cannot read the {what}: {err}") from None
    if not isinstance(data, dict):
        raise AccelError(f"{path}: the {what} is not a JSON object")
    return data


def cell_counts(stat: dict[str, Any], module: str) -> dict[str, int]:
    """Cells of one module (not counting its submodules) from ``stat -json``."""
    modules = stat.get("modules", {})
    for key in (module, "\\" + module):
        if key in modules:
            cells = modules[key].get("num_cells_by_type", {})
            return {k: int(v) for k, v in cells.items() if not k.startswith("$scopeinfo")}
    raise AccelError(f"the Yosys statistics have no module {module!r}")


def core_resources(cells: dict[str, int], target: Target) -> dict[str, int]:
    """Cell counts in the report's resource names (unknown cell types are ignored)."""
    out = dict.fromkeys(RESOURCES[:-1], 0)
    for cell, n in cells.items():
        name = target.cells.get(cell)
        if name is not None:
            out[name] += n
    return out


def logic_cells(cells: dict[str, int], target: Target) -> int:
    """How many of the device's logic cells the cells take once packed (a fit estimate)."""
    lut_cells = [c for c, r in target.cells.items() if r == "lut"]
    return sum(cells.get(c, 0) for c in lut_cells) + sum(
        cells.get(c, 0) * cost for c, cost in target.cell_cost.items()
    )


def placed_resources(report: dict[str, Any], target: Target) -> dict[str, dict[str, int]]:
    """``{resource: {used, available}}`` of the placed design, from nextpnr's report."""
    out: dict[str, dict[str, int]] = {}
    for bel, use in report.get("utilization", {}).items():
        name = target.bels.get(bel)
        if name is not None:
            entry = out.setdefault(name, {"used": 0, "available": 0})
            entry["used"] += int(use["used"])
            entry["available"] += int(use["available"])
    return out


def _clock_name(net: str) -> str:
    """The clock's pin name from nextpnr's net name: ``$glbnet$clk$TRELLIS_IO_IN`` (ECP5)
    and ``clk$SB_IO_IN_$glb_clk`` (iCE40) are both ``clk``."""
    name = net.removeprefix("$glbnet$")
    return name.split("$", 1)[0] or net


def fmax(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{clock: {achieved, constraint}}`` in MHz."""
    return {
        _clock_name(net): {"achieved": float(v["achieved"]), "constraint": float(v["constraint"])}
        for net, v in report.get("fmax", {}).items()
    }


def _endpoint(text: str) -> str:
    text = text.replace("posedge ", "").replace("negedge ", "")
    return _clock_name(text)


def critical_paths(report: dict[str, Any], *, top: int = 1) -> list[dict[str, Any]]:
    """Each reported path: clocks, the start and end cells, delay, logic levels.

    Logic levels count the cells the path passes through, a carry chain's cells included;
    ``routing_ns`` is the part of the delay spent in wires.
    """
    out = []
    for cp in report.get("critical_paths", []):
        steps = cp.get("path", [])
        if not steps:
            continue
        logic = [s for s in steps if s.get("type") == "logic"]
        out.append(
            {
                "from_clock": _endpoint(cp.get("from", "")),
                "to_clock": _endpoint(cp.get("to", "")),
                "from": steps[0]["from"]["cell"],
                "to": steps[-1]["to"]["cell"],
                "delay_ns": round(sum(float(s["delay"]) for s in steps), 3),
                "routing_ns": round(
                    sum(float(s["delay"]) for s in steps if s.get("type") == "routing"), 3
                ),
                "logic_levels": len(logic),
            }
        )
    out.sort(key=lambda p: -p["delay_ns"])
    return out[:top] if top else out


_OVERFLOW = re.compile(r"Failed to expand region .* of (\d+) (\w+?)s?\s*$", re.M)
_BEL_COUNT = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)", re.M)


def placement_overflow(log: str, target: Target) -> dict[str, dict[str, int]] | None:
    """``{resource: {needed, available}}`` when nextpnr gave up for want of room, else None.

    nextpnr packs before it places, so its count of packed cells (an iCE40 logic cell
    holds a LUT and a flip-flop) is the real need, which Yosys's cell counts only bound.
    """
    m = _OVERFLOW.search(log)
    if m is None:
        return None
    needed, bel = int(m.group(1)), m.group(2)
    available = {b: int(a) for b, _, a in _BEL_COUNT.findall(log)}
    name = target.bels.get(bel, bel)
    return {
        name: {"needed": needed, "available": available.get(bel, target.available.get(name, 0))}
    }


_CHECK_LINE = re.compile(r"^Warning: (.*)$", re.M)


def check_problems(text: str) -> dict[str, list[str]]:
    """What Yosys's ``check`` pass found: combinational loops and other problems."""
    warnings = _CHECK_LINE.findall(text)
    loops = [w for w in warnings if "logic loop" in w]
    return {"logic_loops": loops, "other": [w for w in warnings if w not in loops]}
