"""What a stored row means at a clock, with an energy table, on an FPGA: latency,
energy per run, area. Nothing here simulates; a new clock or table is free."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from ..config import ArrayConfig
from ..perf.energy import EnergyTable, load_energy_table, price

__all__ = ["OBJECTIVES", "priced", "per_design", "flat"]

OBJECTIVES = {
    "energy_uj": "energy per run of the workloads (uJ)",
    "latency_ms": "latency of the workloads, one after another (ms), at the requested clock "
    "or the design's modelled Fmax where that is lower",
    "area": "share of the FPGA its scarcest resource uses (LUT, FF, DSP or BRAM)",
}


@cache
def _table(path: str) -> EnergyTable:
    return load_energy_table(None if path == "default" else path)


def _array(params: dict[str, Any]) -> ArrayConfig:
    return ArrayConfig(**params["array"])


def priced(
    rows: Iterable[dict[str, Any]], clocks: list[float], energy: list[str], fpga: list[str]
) -> list[dict[str, Any]]:
    """One entry per row, clock, energy table and FPGA target."""
    from ..fpga.area import estimate

    out = []
    for row in rows:
        cfg = _array(row["params"])
        r = row["result"]
        for path in energy:
            table = _table(path)
            e = price(table, cfg, r["actions"])["total"]
            dense = price(table, cfg, r["dense_actions"])["total"]
            for target in fpga:
                area = _area(estimate, cfg, r["max_blocks"], target)
                fmax = _fmax(cfg, target)
                for clock in clocks:
                    # a clock the design cannot reach is not a design choice: latency is
                    # priced at the modelled Fmax when the request is above it
                    run = min(clock, fmax)
                    out.append({
                        "row": row,
                        "clock_mhz": clock,
                        "run_clock_mhz": run,
                        "fmax_mhz": fmax,
                        "fmax_source": "modelled",
                        "energy": table.name if path == "default" else path,
                        "fpga": target,
                        "latency_ms": r["cycles"] / (run * 1e3),
                        "dense_latency_ms": r["dense_cycles"] / (run * 1e3),
                        "energy_uj": e / 1e6,
                        "dense_energy_uj": dense / 1e6,
                        **area,
                    })  # fmt: skip
    return out


def _fmax(cfg: ArrayConfig, target: str) -> float:
    from ..fpga.fmax import fmax_mhz

    return fmax_mhz(cfg, target=target)


def _area(estimate, cfg: ArrayConfig, max_blocks: int, target: str) -> dict[str, Any]:
    a = _estimate(estimate, cfg, max_blocks, target)
    return {
        "lut": a["lut"],
        "ff": a["ff"],
        "dsp": a["dsp"],
        "bram": a["bram"],
        "area": max(a["share"].values()),
        "fits": a["fits"],
    }


_AREAS: dict[tuple, dict[str, Any]] = {}


def _estimate(estimate, cfg: ArrayConfig, max_blocks: int, target: str) -> dict[str, Any]:
    key = (cfg, max_blocks, target)
    if key not in _AREAS:
        _AREAS[key] = estimate(cfg, max_blocks=max_blocks, target=target)
    return _AREAS[key]


def per_design(entries: list[dict[str, Any]], workloads: list[str]) -> list[dict[str, Any]]:
    """Each design (at one clock, table and target) over all ``workloads``: energy and
    latency summed, area at the deepest weight memory any of them needs. A design that
    lacks a workload's row is left out."""
    from ..fpga.area import estimate

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for e in entries:
        if e["row"]["workload"] in workloads:
            key = (e["row"]["design_key"], e["clock_mhz"], e["energy"], e["fpga"])
            groups.setdefault(key, []).append(e)
    out = []
    for (_, clock, energy, target), group in groups.items():
        if {e["row"]["workload"] for e in group} != set(workloads):
            continue
        first = group[0]["row"]
        cfg = _array(first["params"])
        depth = max(e["row"]["result"]["max_blocks"] for e in group)
        out.append({
            "design_key": first["design_key"],
            "params": first["params"],
            "clock_mhz": clock,
            "energy": energy,
            "fpga": target,
            "energy_uj": sum(e["energy_uj"] for e in group),
            "dense_energy_uj": sum(e["dense_energy_uj"] for e in group),
            "latency_ms": sum(e["latency_ms"] for e in group),
            "dense_latency_ms": sum(e["dense_latency_ms"] for e in group),
            "run_clock_mhz": group[0]["run_clock_mhz"],
            "fmax_mhz": group[0]["fmax_mhz"],
            **_area(estimate, cfg, depth, target),
            **_equal_area(cfg, [e["row"]["result"] for e in group], depth, target),
        })  # fmt: skip
    return out


def _equal_area(cfg: ArrayConfig, results: list[dict], depth: int, target: str) -> dict:
    """Speedup at equal area against the dense reference of the same size, modelled (area
    and Fmax models, each design at its own Fmax), over the design's workloads."""
    from ..fpga.equal_area import modelled

    if any(r.get("reference_cycles") is None for r in results):
        return {}
    eq = modelled(
        cfg,
        cycles=int(sum(r["cycles"] for r in results)),
        reference_cycles=int(sum(r["reference_cycles"] for r in results)),
        max_blocks=depth,
        target=target,
    )
    return {"equal_area_speedup": eq.speedup, "equal_area_source": eq.source}


def flat(entry: dict[str, Any]) -> dict[str, Any]:
    """A priced row as one flat record (a CSV line): parameters, results, prices."""
    row = entry["row"]
    p = row["params"]
    out: dict[str, Any] = {"workload": row["workload"], "design_key": row["design_key"]}
    out.update(p["array"])
    out.update(p["system"])
    out["balance"] = p["balance"]
    out.update({k: v for k, v in row["result"].items() if k not in ("actions", "dense_actions")})
    out.update({f"actions_{k}": v for k, v in row["result"]["actions"].items()})
    out.update({k: v for k, v in entry.items() if k != "row"})
    out["speedup"] = row["result"]["dense_cycles"] / row["result"]["cycles"]
    out["seconds"] = row["seconds"]
    out["version"] = row["version"]
    return out


