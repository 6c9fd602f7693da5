"""The synthesis report as a table for people (the JSON is the report for programs)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_report", "verdict"]

_LABELS = {
    "lut": "LUT4 [1]",
    "ff": "flip-flops",
    "carry": "carry cells",
    "dsp": "DSP",
    "bram": "block RAM",
    "lutram": "LUT RAM",
    "io": "I/O pins",
}


def verdict(result: dict[str, Any]) -> str:
    """``fits and meets``, ``misses the frequency`` or ``does not fit``."""
    if not result["fits"]:
        return "does not fit"
    if result.get("met") is False:
        return "misses the frequency"
    if result.get("met") is None:
        return "fits (not placed)"
    return "fits and meets the frequency"


def _pct(used: int, available: int | None) -> str:
    return f"{100 * used / available:.1f} %" if available else "-"


def format_report(result: dict[str, Any], title: str) -> str:
    core = result["core"]["resources"]
    harness = result["harness"]["resources"]
    placed = result.get("placed") or {}
    estimate = result["estimate"]
    lines = [title, ""]
    head = f"{'resource':<12} {'core':>8} {'harness':>8} {'placed':>8} {'device':>8} {'use':>8}"
    lines += [head, "-" * len(head)]
    for res, label in _LABELS.items():
        c = core.get(res, 0) if res != "io" else 0
        h = harness.get(res, 0) if res != "io" else result["harness"]["pins"]
        p = placed.get(res)
        avail = (p or {}).get("available") or (estimate.get(res) or {}).get("available")
        used = p["used"] if p else None
        shown = f"{used:>8,}" if used is not None else f"{'-':>8}"
        use = _pct(used, avail) if used is not None else "-"
        lines.append(
            f"{label:<12} {c:>8,} {h:>8,} {shown} {avail or 0:>8,} {use:>8}"
            if avail
            else f"{label:<12} {c:>8,} {h:>8,} {shown} {'-':>8} {use:>8}"
        )
    lines.append(
        "[1] core and harness: LUT4 cells; placed: every LUT site used (LUT4s, two per "
        "carry cell, six per 16x4 LUT RAM)"
    )
    lines.append("")
    if result["short"]:
        for res, s in result["short"].items():
            over = s["needed"] - s["available"]
            lines.append(
                f"DOES NOT FIT: {_LABELS.get(res, res)} needs {s['needed']:,}, the device has "
                f"{s['available']:,} ({over:,} or {100 * over / s['available']:.0f} % too many)"
            )
    for clock, f in (result.get("fmax") or {}).items():
        ok = f["achieved"] >= f["constraint"]
        slack = 1e3 / f["constraint"] - 1e3 / f["achieved"]
        state = "met" if ok else f"MISSED by {f['constraint'] - f['achieved']:.1f} MHz"
        lines.append(
            f"Fmax {clock}: {f['achieved']:.1f} MHz against {f['constraint']:g} MHz: {state} "
            f"(worst slack {slack:+.2f} ns)"
        )
    path = result.get("critical_path")
    if path:
        lines.append(
            f"critical path: {path['delay_ns']:.2f} ns ({path['routing_ns']:.2f} ns routing), "
            f"{path['logic_levels']} logic levels"
        )
        lines.append(f"  from {path['from']}")
        lines.append(f"  to   {path['to']}")
    checks = [
        f"latches {len(result['latches'])}",
        f"combinational loops {len(result['logic_loops'])}",
    ]
    if "multipliers" in result:
        dsp = core.get("dsp", 0)
        luts = result.get("lut_multipliers", 0)
        checks.append(
            f"DSPs {dsp} for {result['multipliers']} multipliers"
            + (f" ({luts} LUT multipliers beyond the device's DSPs)" if luts else "")
            + ("" if dsp + luts == result["multipliers"] else " (NOT one each)")
        )
    lines.append("checks: " + ", ".join(checks))
    for text in result.get("caveats", []):
        lines.append(f"note: {text}")
    lines += _equal_area_lines(result)
    wall = result.get("wall", {})
    times = ", ".join(f"{k.removesuffix('_s')} {v:.0f} s" for k, v in wall.items())
    lines.append(f"tool time: {times}" + (" (cached result)" if result.get("cached") else ""))
    lines.append(f"verdict: {verdict(result)}")
    return "\n".join(lines)


def _equal_area_lines(result: dict[str, Any]) -> list[str]:
    """The dense reference beside the design, and the speedup at equal area."""
    eq = result.get("equal_area")
    if not eq:
        return []
    d, r = eq["design"], eq["reference"]
    lines = [
        f"dense reference of the same size (measured, block "
        f"{result['reference']['config']['block']}): {r['logic_cells']:,} logic cells, "
        f"{r['fmax_mhz']:.1f} MHz, {r['dsp']} DSP, {r['bram']} block RAM; the design: "
        f"{d['logic_cells']:,} logic cells, {d['fmax_mhz']:.1f} MHz",
        f"area {eq['area_ratio']:.2f}x the reference's, clock {eq['clock_ratio']:.2f}x: the "
        f"design breaks even at equal area when it takes {eq['break_even']:.2f}x fewer cycles",
    ]
    if "speedup" in eq:
        w = eq["workload"]
        lines.append(
            f"speedup at equal area on {w['network']} (weights {w['weight_density']:g}, "
            f"activations {w['act_density']:g}, seed {w['seed']}): {eq['speedup']:.2f}x "
            f"({eq['cycle_ratio']:.2f}x fewer cycles)"
        )
    return lines
