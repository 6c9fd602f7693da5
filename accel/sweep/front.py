"""The Pareto front of a store: energy per run, latency and FPGA area of each design
over the sweep's workloads, the non-dominated designs, and their hypervolume."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AccelError
from .derive import OBJECTIVES, per_design, priced
from .pareto import hypervolume, non_dominated, reference_point

__all__ = ["AREA_MEASURES", "front_report"]

AREA_MEASURES = {
    "share": "area",  # the scarcest resource's share of the device
    "lut": "lut",
    "dsp": "dsp",
    "bram": "bram",
}


def front_report(
    rows: list[dict[str, Any]],
    meta: dict[str, Any],
    *,
    workloads: list[str] | None = None,
    energy: str | None = None,
    fpga: str | None = None,
    area: str = "share",
    reference: list[float] | None = None,
    feasible_only: bool = True,
    budget: float = 1.0,
) -> dict[str, Any]:
    """Every design (each clock a design choice) at one energy table and one FPGA target:
    the objectives, the front and its hypervolume against ``reference`` (by default 1.1
    times the worst value of each objective over the designs considered). With
    ``feasible_only``, a design whose scarcest resource uses more than ``budget`` of the
    device is left out."""
    names = workloads or meta["workloads"]
    energy = energy or meta["energy"][0]
    fpga = fpga or meta["fpga"][0]
    if energy not in meta["energy"]:
        raise AccelError(f"--energy {energy}: the sweep priced {', '.join(meta['energy'])}")
    if fpga not in meta["fpga"]:
        raise AccelError(f"--fpga {fpga}: the sweep applied {', '.join(meta['fpga'])}")
    present = {r["workload"] for r in rows}
    for name in names:
        if name not in present:
            raise AccelError(f"--workload {name}: the store holds no row of it "
                             f"(it holds {', '.join(sorted(present)) or 'none'})")  # fmt: skip
    designs = per_design(priced(rows, meta["clocks"], [energy], [fpga]), names)
    within = [d for d in designs if d["fits"] and d["area"] <= budget]
    considered = within if feasible_only else designs
    if not considered:
        raise AccelError(f"no design fits {budget:g} of {fpga} (of {len(designs):,}); "
                         "try --all, a larger --budget or --fpga")  # fmt: skip
    column = AREA_MEASURES[area]
    points = np.array([[d["energy_uj"], d["latency_ms"], d[column]] for d in considered], float)
    ref = np.asarray(reference, float) if reference is not None else reference_point(points)
    if ref.shape != (3,) or not np.isfinite(ref).all() or (ref <= 0).any():
        raise AccelError(f"--reference needs three positive numbers, not {reference}")
    mask = non_dominated(points)
    hv = hypervolume(points[mask], ref)
    order = np.argsort(points[:, 0])
    front = [_entry(considered[i], points[i]) for i in order if mask[i]]
    return {
        "workloads": names,
        "energy_table": energy,
        "fpga": fpga,
        "objectives": {
            "energy_uj": OBJECTIVES["energy_uj"],
            "latency_ms": OBJECTIVES["latency_ms"],
            "area": OBJECTIVES["area"] if area == "share" else f"{area.upper()} count",
        },
        "designs": len(designs),
        "considered": len(considered),
        "budget": budget,
        "infeasible": len(designs) - len(within),
        "reference": ref.tolist(),
        "hypervolume": hv,
        "hypervolume_fraction": hv / float(np.prod(ref)),
        "front": front,
        "points": [[float(v) for v in p] for p in points],
        "on_front": mask.tolist(),
    }


def _entry(d: dict[str, Any], point: np.ndarray) -> dict[str, Any]:
    a, s = d["params"]["array"], d["params"]["system"]
    return {
        "design_key": d["design_key"],
        "energy_uj": float(point[0]),
        "latency_ms": float(point[1]),
        "area": float(point[2]),
        "clock_mhz": d["clock_mhz"],
        "lut": d["lut"],
        "dsp": d["dsp"],
        "bram": d["bram"],
        "dense_energy_uj": d["dense_energy_uj"],
        "dense_latency_ms": d["dense_latency_ms"],
        "array": a,
        "system": {**s, "clock_mhz": d["clock_mhz"]},
        "balance": d["params"]["balance"],
    }
