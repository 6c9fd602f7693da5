"""Layer and network simulation: schedule, fixed latencies, memory and energy together,
for the configured design and for the dense baseline on the same array."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..balance import DEFAULT_BALANCE, balance_rows, permute_pattern
from ..config import ArrayConfig, Config
from ..encode import ActPattern, WeightPattern, act_pattern, weight_pattern
from ..workloads.layer import Layer
from ..workloads.sparsity import (
    WeightSparsity,
    layer_act_pattern,
    layer_rng,
    layer_weight_pattern,
)
from .energy import EnergyTable, action_counts, load_energy_table, price
from .footprint import check_fits
from .latency import core_cycles, result_cycles, tile_captures, weight_loads
from .memory import traffic
from .schedule import Counters, Schedule, schedule

__all__ = [
    "DesignResult",
    "LayerResult",
    "NetworkResult",
    "result_beat_cycles",
    "simulate_arrays",
    "simulate_layer",
    "simulate_network",
]


@dataclass(frozen=True)
class DesignResult:
    """One layer on one design (the configured one or its dense baseline)."""

    compute_cycles: int
    core_cycles: int
    dram_cycles: int
    glb_cycles: int
    total_cycles: int
    counters: Counters
    traffic_bytes: dict[str, float]
    actions: dict[str, float]  # what the energy table prices (``energy.action_counts``)
    energy_pj: dict[str, Any]

    @property
    def bound(self) -> str:
        """What limits the layer: compute, or the memory level needing the most cycles."""
        worst = max(
            ("compute", self.core_cycles),
            ("dram", self.dram_cycles),
            ("glb", self.glb_cycles),
            key=lambda kv: kv[1],
        )
        return worst[0]

    @property
    def stall_cycles(self) -> int:
        return self.total_cycles - self.core_cycles


def _design(
    config: Config,
    layer: Layer,
    wp: WeightPattern,
    ap: ActPattern,
    table: EnergyTable,
    output_density: float | None,
    tick: Callable[[float], None] | None = None,
) -> DesignResult:
    cfg = config.array
    sched = schedule(cfg, wp, ap, tick)
    loads = weight_loads(cfg, wp)  # one profile for the load timing and the traffic
    core = core_cycles(cfg, sched.tile_cycles, loads)
    moved = traffic(config, layer, wp, ap, sched.counters, output_density, loads)
    total = max(core, moved.dram_cycles, moved.glb_cycles)
    actions = action_counts(cfg, sched.counters, moved, total)
    return DesignResult(
        compute_cycles=sched.compute_cycles,
        core_cycles=core,
        dram_cycles=moved.dram_cycles,
        glb_cycles=moved.glb_cycles,
        total_cycles=total,
        counters=sched.counters,
        traffic_bytes=moved.bytes_by_level(),
        actions=actions,
        energy_pj=price(table, cfg, actions),
    )


def _utilisation(c: Counters) -> float:
    """Ideal over actual: busy row-cycles over all row-cycles of the compute phase."""
    denom = c.row_busy_cycles + c.row_idle_cycles
    return c.row_busy_cycles / denom if denom else 0.0


@dataclass(frozen=True)
class LayerResult:
    """A layer on the configured design and on the dense baseline of the same array.

    ``sparse`` ran the rows in the order the ``balance`` pass chose; ``unbalanced`` is the
    schedule of the same design in the layer's own row order (equal to ``sparse``'s when
    the pass kept it), for the with-and-without figures.
    """

    layer: Layer
    weight_density: float
    act_density: float
    sparse: DesignResult
    dense: DesignResult
    balance: str = "none"
    unbalanced: Schedule | None = None
    reference: DesignResult | None = None
    """The layer on the dense reference array of the same size (``ArrayConfig.
    dense_reference``): what speedup at equal area compares against."""

    @property
    def utilisation(self) -> float:
        return _utilisation(self.sparse.counters)

    @property
    def unbalanced_counters(self) -> Counters:
        return (self.unbalanced or self.sparse).counters

    @property
    def unbalanced_compute_cycles(self) -> int:
        return (self.unbalanced or self.sparse).compute_cycles

    @property
    def unbalanced_utilisation(self) -> float:
        return _utilisation(self.unbalanced_counters)

    @property
    def speedup(self) -> float:
        return self.dense.total_cycles / self.sparse.total_cycles

    def to_dict(self) -> dict[str, Any]:
        s, d = self.sparse, self.dense
        return {
            "name": self.layer.name,
            "kind": self.layer.kind,
            "M": self.layer.M,
            "K": self.layer.K,
            "N": self.layer.N,
            "groups": self.layer.groups,
            "macs": self.layer.macs,
            "weight_density": self.weight_density,
            "act_density": self.act_density,
            "compute_cycles": s.compute_cycles,
            "total_cycles": s.total_cycles,
            "core_cycles": s.core_cycles,
            "dram_cycles": s.dram_cycles,
            "glb_cycles": s.glb_cycles,
            "stall_cycles": s.stall_cycles,
            "bound": s.bound,
            "dense_compute_cycles": d.compute_cycles,
            "dense_total_cycles": d.total_cycles,
            "dense_bound": d.bound,
            "utilisation": self.utilisation,
            "balance": self.balance,
            "unbalanced_compute_cycles": self.unbalanced_compute_cycles,
            "unbalanced_utilisation": self.unbalanced_utilisation,
            "speedup": self.speedup,
            "compute_speedup": d.compute_cycles / s.compute_cycles,
            "counters": s.counters.as_dict(),
            "dense_counters": d.counters.as_dict(),
            "traffic_bytes": s.traffic_bytes,
            "dense_traffic_bytes": d.traffic_bytes,
            "energy_pj": s.energy_pj,
            "dense_energy_pj": d.energy_pj,
            "reference_total_cycles": self.reference.total_cycles if self.reference else None,
            "reference_energy_pj": self.reference.energy_pj if self.reference else None,
        }


def simulate_layer(
    config: Config,
    layer: Layer,
    wp: WeightPattern,
    ap: ActPattern,
    table: EnergyTable | None = None,
    output_density: float | None = None,
    balance: str = DEFAULT_BALANCE,
    tick: Callable[[float], None] | None = None,
) -> LayerResult:
    """Simulate one layer given its weight and activation patterns (``tick``: told the
    fraction of the configured design's schedule done, for progress within a layer).

    ``output_density`` is the nonzero fraction of the layer's outputs (what the memory
    model charges for writing them compressed); by default the input's density.
    ``balance`` names the row-balancing pass (``accel.balance``) applied first, as the
    host driver applies it before the RTL runs the layer.
    """
    table = table or load_energy_table()
    balanced, kept = _balanced(config.array, wp, balance)
    sparse = _design(config, layer, balanced, ap, table, output_density, tick)
    dense_cfg = Config(config.array.as_dense(), config.system)
    dense = (
        sparse if config.array.dense else _design(dense_cfg, layer, wp, ap, table, output_density)
    )
    unbalanced = None if kept else schedule(config.array, wp, ap)
    ref_cfg = config.array.dense_reference()
    if ref_cfg == config.array:
        reference = sparse
    else:
        ref_wp, ref_ap = _reblocked(wp, ap, ref_cfg.block)
        ref_config = Config(ref_cfg, config.system)
        reference = _design(ref_config, layer, ref_wp, ref_ap, table, output_density)
    return LayerResult(
        layer, wp.density, ap.density, sparse, dense, balance, unbalanced, reference
    )


def _reblocked(wp: WeightPattern, ap: ActPattern, block: int) -> tuple[WeightPattern, ActPattern]:
    """The layer's patterns as the dense reference array (another block) sees them. That
    array reads no mask (its schedule, weight stream and traffic depend on the shapes and
    the per-row and per-column nonzero counts only), so the masks are left empty."""
    G, Mg, _ = wp.masks.shape
    nb = -(-wp.K // block)
    ntn = ap.masks.shape[1]
    return (
        WeightPattern(np.zeros((G, Mg, nb), np.uint64), wp.col_nnz, wp.K, block),
        ActPattern(np.zeros((G, ntn, nb), np.uint64), ap.row_nnz, ap.K, ap.N, block, ap.cols),
    )


def _balanced(cfg: ArrayConfig, wp: WeightPattern, balance: str) -> tuple[WeightPattern, bool]:
    """The pattern the array sees after row balancing, and whether the order was kept."""
    perm = balance_rows(cfg, wp, balance)
    kept = bool((perm == np.arange(perm.shape[1])).all())
    return (wp if kept else permute_pattern(wp, perm)), kept


def result_beat_cycles(
    cfg: ArrayConfig, W: np.ndarray, X: np.ndarray, balance: str = DEFAULT_BALANCE
) -> np.ndarray:
    """The cycle (after ``start``) at which the RTL emits each of a layer's result beats,
    in stream order, when its inputs never wait: what a co-simulation compares beat by
    beat, so a timing slip is named by the first beat it moves."""
    wp, _ = _balanced(cfg, weight_pattern(W, cfg.block), balance)
    sched = schedule(cfg, wp, act_pattern(X, cfg.block, cfg.cols))
    return result_cycles(cfg, tile_captures(cfg, sched.tile_cycles, weight_loads(cfg, wp)))


def simulate_arrays(
    config: Config,
    layer: Layer,
    W: np.ndarray,
    X: np.ndarray,
    table: EnergyTable | None = None,
    output_density: float | None = None,
    balance: str = DEFAULT_BALANCE,
) -> LayerResult:
    """Simulate a layer from its real operands: ``W [G, Mg, K]`` or ``[M, K]`` and
    ``X [G, K, N]`` or ``[K, N]`` (a pruned model's weights, captured activations)."""
    cfg = config.array
    wp = weight_pattern(W, cfg.block)
    ap = act_pattern(X, cfg.block, cfg.cols)
    return simulate_layer(config, layer, wp, ap, table, output_density, balance)


def _sum(dicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Key-wise sum of nested dicts of numbers."""
    out: dict[str, Any] = {}
    for key, value in dicts[0].items():
        if isinstance(value, dict):
            out[key] = _sum([d[key] for d in dicts])
        else:
            out[key] = sum(d[key] for d in dicts)
    return out


@dataclass(frozen=True)
class NetworkResult:
    """Every layer's result and the network's totals."""

    layers: list[LayerResult]
    meta: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, Any]:
        rows = [r.to_dict() for r in self.layers]
        summed = {
            k: sum(r[k] for r in rows)
            for k in (
                "macs",
                "compute_cycles",
                "total_cycles",
                "core_cycles",
                "stall_cycles",
                "dense_compute_cycles",
                "dense_total_cycles",
            )
        }
        counters = _sum([r["counters"] for r in rows])
        weights = sum(r.layer.weight_count for r in self.layers)
        inputs = sum(r.layer.groups * r.layer.K * r.layer.N for r in self.layers)
        busy, idle = counters["row_busy_cycles"], counters["row_idle_cycles"]
        return {
            "layers": len(rows),
            **summed,
            "weight_density": sum(r.weight_density * r.layer.weight_count for r in self.layers)
            / weights,
            "act_density": sum(
                r.act_density * r.layer.groups * r.layer.K * r.layer.N for r in self.layers
            )
            / inputs,
            "utilisation": busy / (busy + idle) if busy + idle else 0.0,
            "unbalanced_compute_cycles": sum(r["unbalanced_compute_cycles"] for r in rows),
            "unbalanced_utilisation": _utilisation(
                sum((r.unbalanced_counters for r in self.layers), Counters())
            ),
            "speedup": summed["dense_total_cycles"] / summed["total_cycles"],
            "compute_speedup": summed["dense_compute_cycles"] / summed["compute_cycles"],
            "counters": counters,
            "dense_counters": _sum([r["dense_counters"] for r in rows]),
            "traffic_bytes": _sum([r["traffic_bytes"] for r in rows]),
            "dense_traffic_bytes": _sum([r["dense_traffic_bytes"] for r in rows]),
            "energy_pj": _sum([r["energy_pj"] for r in rows]),
            "dense_energy_pj": _sum([r["dense_energy_pj"] for r in rows]),
            "reference_total_cycles": (
                sum(r["reference_total_cycles"] for r in rows)
                if all(r["reference_total_cycles"] is not None for r in rows)
                else None
            ),
        }


def _within(progress: Callable, i: int, n: int, name: str, fraction: float) -> None:
    progress(i + fraction, n, name)


def simulate_network(
    config: Config,
    layers: Sequence[Layer],
    weights: WeightSparsity,
    act_density: float,
    seed: int = 0,
    table: EnergyTable | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    balance: str = DEFAULT_BALANCE,
) -> NetworkResult:
    """Simulate a layer list with weights pruned to ``weights`` and activations at
    ``act_density``, drawn from ``seed``.

    Each layer draws from the stream of (seed, its GEMM shape) (``layer_rng``), so a
    layer's numbers do not depend on which layers come before it or which network holds
    it. Layers whose left operand is an activation
    (attention) are not pruned: their "weights" are drawn at ``act_density`` too.
    """
    table = table or load_energy_table()
    cfg = config.array
    check_fits(cfg, layers)
    results = []
    for i, layer in enumerate(layers):
        tick = None
        if progress:
            progress(i, len(layers), layer.name)
            tick = functools.partial(_within, progress, i, len(layers), layer.name)
        rng = layer_rng(seed, layer)
        sparsity = WeightSparsity("unstructured", act_density) if layer.dynamic_weights else weights
        wp = layer_weight_pattern(rng, layer, cfg, sparsity)
        ap = layer_act_pattern(rng, layer, cfg, act_density)
        results.append(simulate_layer(config, layer, wp, ap, table, act_density, balance, tick))
    if progress:
        progress(len(layers), len(layers), "")
    return NetworkResult(results)
