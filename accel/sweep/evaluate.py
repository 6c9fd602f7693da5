"""One design point on every workload: what a worker runs, returning rows to store.

A row holds what was simulated, never what is priced afterwards: cycles, the counts of
every priced action (``perf.energy.ACTIONS``) of the design and of its dense baseline,
and the weight-memory depth the area model needs. Clock, energy table and FPGA target
are applied to it later (``derive``).

Each worker process keeps two caches. Layer results, keyed by the design and the layer
(its shape and its zeros, which a built-in network draws from ``(seed, shape)``): a
shape repeated in a network, or shared by a second workload on the same design, is
simulated once. And a model's layer patterns per array geometry, so that an ONNX
model is run on onnxruntime once per worker, not once per point.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..perf.energy import ACTIONS
from .space import Design, digest
from .workload import Workload

__all__ = ["evaluate", "row_key", "simulator_version"]

_SOURCES = ("perf", "workloads", "encode.py", "balance.py", "config.py", "quant.py")
"""What computes a row: a change to any of it is a new simulator version."""


@cache
def simulator_version() -> str:
    """The package version and a hash of the simulator's sources: rows of another
    simulator are never taken for this one's."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for name in _SOURCES:
        path = root / name
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"


@cache
def _tune_malloc() -> None:
    """Undo what a Dask nanny's ``MALLOC_TRIM_THRESHOLD_`` does to this process. Setting
    it turns off glibc's dynamic mmap threshold, so every array above 128 KiB is mapped
    and unmapped afresh: the simulator ran 2.3x slower on a Dask worker than alone
    (measured here). Large thresholds keep big arrays on the heap, as glibc's default
    would after the first few; a worker then holds its peak memory, as it does without
    Dask."""
    import ctypes
    import os
    import sys

    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): nothing to undo
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)  # the largest glibc accepts: 32 MiB
    libc.mallopt(m_trim_threshold, 256 << 20)


def row_key(design_key: str, workload_key: str, version: str) -> str:
    return digest([design_key, workload_key, version])


class _Lru:
    """A bounded mapping: the least recently used entry goes first."""

    def __init__(self, size: int) -> None:
        self.size, self.data = size, OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self.data:
            self.hits += 1
            self.data.move_to_end(key)
            return self.data[key]
        self.misses += 1
        value = self.data[key] = make()
        if len(self.data) > self.size:
            self.data.popitem(last=False)
        return value


_LAYERS = _Lru(8192)  # (design, layer, zeros) -> the numbers a row sums
_PATTERNS = _Lru(4)  # (workload, geometry) -> an ONNX model's layer patterns


def _summary(result) -> dict[str, Any]:
    """What a row needs of one layer's result."""
    s, d = result.sparse, result.dense
    c = s.counters
    return {
        "cycles": s.total_cycles,
        "compute_cycles": s.compute_cycles,
        "dense_cycles": d.total_cycles,
        "dense_compute_cycles": d.compute_cycles,
        "reference_cycles": result.reference.total_cycles,
        "busy": c.row_busy_cycles,
        "idle": c.row_idle_cycles,
        "macs": result.layer.macs,
        "weights": result.layer.weight_count,
        "weight_nonzeros": result.weight_density * result.layer.weight_count,
        "inputs": result.layer.groups * result.layer.K * result.layer.N,
        "act_nonzeros": result.act_density * result.layer.groups * result.layer.K * result.layer.N,
        "K": result.layer.K,
        "actions": s.actions,
        "dense_actions": d.actions,
    }


def _layer_key(layer) -> tuple:
    """A layer's identity for the cache: every field but its name."""
    fields = dataclasses.asdict(layer)
    fields.pop("name")
    return tuple(sorted((k, repr(v)) for k, v in fields.items()))


def _network_layers(design: Design, w: Workload, table) -> list[dict[str, Any]]:
    from ..perf.simulate import simulate_layer
    from ..workloads.sparsity import (
        WeightSparsity,
        layer_act_pattern,
        layer_rng,
        layer_weight_pattern,
    )

    cfg = design.config.array
    out = []
    for layer in _built(w.source, w.shape):
        sparsity = WeightSparsity("unstructured", w.act_density) if layer.dynamic_weights \
            else w.weights  # fmt: skip
        key = (design.key, _layer_key(layer), sparsity, w.act_density, w.seed)

        def run(layer=layer, sparsity=sparsity):
            rng = layer_rng(w.seed, layer)
            wp = layer_weight_pattern(rng, layer, cfg, sparsity)
            ap = layer_act_pattern(rng, layer, cfg, w.act_density)
            return _summary(simulate_layer(design.config, layer, wp, ap, table,
                                           w.act_density, design.balance))  # fmt: skip

        out.append(_LAYERS.get(key, run))
    return out


@cache
def _built(network: str, shape: tuple[tuple[str, int], ...]):
    from ..workloads.zoo import get_network

    return get_network(network, **dict(shape))


def _onnx_layers(design: Design, w: Workload, table) -> list[dict[str, Any]]:
    from ..perf.simulate import simulate_layer

    cfg = design.config.array
    geometry = (cfg.block, cfg.cols, cfg.w_bits, cfg.a_bits)
    patterns = _PATTERNS.get((w.key, geometry), lambda: _onnx_patterns(w, cfg))
    out = []
    for i, p in enumerate(patterns):
        key = (design.key, w.key, i)
        out.append(_LAYERS.get(key, lambda p=p: _summary(simulate_layer(
            design.config, p.item.layer, p.weights, p.acts, table, p.output_density,
            design.balance))))  # fmt: skip
    return out


def _onnx_patterns(w: Workload, cfg) -> list:
    from ..workloads.onnx import layer_patterns, load_onnx

    data = None
    if w.input:
        from ..workloads.onnx import load_input

        data = load_input(w.input)
    model = load_onnx(w.source, data)
    return list(layer_patterns(model, cfg, w.act_density, w.seed))


_LOWER = {"network": _network_layers, "onnx": _onnx_layers}


def _total(layers: list[dict[str, Any]], block: int) -> dict[str, Any]:
    def add(name: str) -> float:
        return sum(layer[name] for layer in layers)

    busy, idle = add("busy"), add("idle")
    return {
        "layers": len(layers),
        "cycles": add("cycles"),
        "compute_cycles": add("compute_cycles"),
        "dense_cycles": add("dense_cycles"),
        "dense_compute_cycles": add("dense_compute_cycles"),
        "reference_cycles": add("reference_cycles"),
        "macs": add("macs"),
        "utilisation": busy / (busy + idle) if busy + idle else 0.0,
        "weight_density": add("weight_nonzeros") / add("weights"),
        "act_density": add("act_nonzeros") / add("inputs"),
        "max_blocks": max(1, max(-(-layer["K"] // block) for layer in layers)),
        "actions": {a: sum(layer["actions"][a] for layer in layers) for a in ACTIONS},
        "dense_actions": {a: sum(layer["dense_actions"][a] for layer in layers)
                          for a in ACTIONS},  # fmt: skip
    }


def evaluate(design: Design, workloads: list[Workload], version: str) -> list[dict[str, Any]]:
    """Rows of ``design`` on each workload (run in a worker; it never touches the store)."""
    _tune_malloc()
    table = _table()
    rows = []
    for w in workloads:
        start = time.perf_counter()
        hits = _LAYERS.hits
        layers = _LOWER[w.kind](design, w, table)
        rows.append({
            "key": row_key(design.key, w.key, version),
            "design_key": design.key,
            "workload": w.name,
            "workload_key": w.key,
            "version": version,
            "params": design.params(),
            "result": _total(layers, design.config.array.block),
            "seconds": time.perf_counter() - start,
            "cached_layers": _LAYERS.hits - hits,
        })  # fmt: skip
    return rows


@cache
def _table():
    """The packaged table: a row's actions do not depend on it, only its unused energy."""
    from ..perf.energy import load_energy_table

    return load_energy_table()
