"""Whole workloads on the RTL: every layer of a network, an ONNX model or a GEMM file run
on the file-driven testbench and checked against the golden model and the simulator.

Layers are grouped into runs of roughly equal work (consecutive layers, back to back in one
simulator process without a reset); ``jobs`` runs go at once, each its own simulator
process, while this process draws the next layers' operands and checks finished ones.
At most ``jobs + 1`` runs' operands are held at a time.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ArrayConfig
from ..encode import blocks
from ..hw.driver import program
from ..workloads.layer import Layer
from ..workloads.sparsity import WeightSparsity, layer_operands, layer_rng
from .checks import check_layer
from .harness import Harness
from .runner import Case

__all__ = ["memory_depth", "network_cases", "onnx_cases", "select_layers", "verify_cases"]

RUN_SHARE = 4  # runs per job: enough to balance the jobs and move the progress bar


def memory_depth(cfg: ArrayConfig, Ks: Iterable[int]) -> int:
    """The weight-memory depth (blocks) the workload needs, rounded up to a power of two
    so that workloads of similar size share one compiled testbench."""
    need = max(blocks(K, cfg.block) for K in Ks)
    return 1 << max(need - 1, 0).bit_length()


def _cut(X: np.ndarray, max_n: int | None) -> np.ndarray:
    return X if max_n is None else X[..., :max_n]


def _squeeze(W: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (W[0], X[0]) if W.shape[0] == 1 else (W, X)


def network_cases(
    cfg: ArrayConfig,
    layers: Sequence[Layer],
    weights: WeightSparsity,
    act_density: float,
    seed: int = 0,
    balance: str = "auto",
    max_n: int | None = None,
    keep: Callable[[int], bool] = lambda i: True,
) -> Iterator[Case]:
    """A built-in network's layers with weights pruned to ``weights`` and activations at
    ``act_density``: a layer's zero patterns are exactly the ones ``simulate_network``
    draws from ``layer_rng(seed, layer)`` (so the RTL runs the layers ``accel simulate``
    timed, same seed), the values from its stream 1. ``max_n`` cuts each layer to a layer
    of that N after its generators are made (the weights stay those of the full layer).
    Layers whose left operand is an activation (attention) draw it at ``act_density``,
    as ``simulate_network`` does."""
    for i, layer in enumerate(layers):
        if not keep(i):
            continue
        rng, values = layer_rng(seed, layer), layer_rng(seed, layer, 1)
        if max_n is not None and max_n < layer.N:
            layer = dataclasses.replace(layer, N=max_n, conv=None)
        sparsity = WeightSparsity("unstructured", act_density) if layer.dynamic_weights else weights
        W, X = layer_operands(rng, layer, cfg, sparsity, act_density, values)
        yield Case(layer.name, *_squeeze(W, X), balance=balance)


def onnx_cases(
    cfg: ArrayConfig,
    model: Any,
    act_density: float,
    seed: int = 0,
    balance: str = "auto",
    max_n: int | None = None,
    keep: Callable[[int], bool] = lambda i: True,
) -> Iterator[Case]:
    """An imported ONNX model's layers: its own quantised weights; activations captured
    from ``model.feeds`` (onnxruntime) or drawn at ``act_density``."""
    from ..workloads.onnx import layer_operands

    for i, (item, W, X) in enumerate(layer_operands(model, cfg, act_density, seed)):
        if keep(i):
            yield Case(item.node, *_squeeze(W, _cut(X, max_n)), balance=balance)


def select_layers(names: Sequence[str], spec: str | None) -> list[int]:
    """Layer indices from ``--layers``: comma-separated names, indices or ranges ``a-b``."""
    from ..errors import AccelError

    if spec is None:
        return list(range(len(names)))
    picked: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part in names:
            picked.append(names.index(part))
            continue
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            a, b = int(lo), int(hi or lo)
            if a <= b < len(names):
                picked.extend(range(a, b + 1))
                continue
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise AccelError(
            f"--layers {spec}: {part!r} is neither a layer name nor an index range in "
            f"0..{len(names) - 1} (layers: {shown})"
        )
    return sorted(set(picked))


HANG_FLOOR = 10_000  # quiet cycles always allowed: pipelines, drains, back-pressure


def _work(case: Case, cfg: ArrayConfig) -> int:
    W, X = np.asarray(case.W), np.asarray(case.X)
    return int(W.size // W.shape[-1] * X.shape[-1] * W.shape[-1]) // (cfg.rows * cfg.cols) + 1


def _run_chunk(
    harness: Harness,
    cases: list[Case],
    workdir: Path,
    seed: int,
    idle: float,
    stall: float,
    on_layer: Callable[[str], None],
) -> list[dict[str, Any]]:
    cfg = harness.config
    progs = [
        program(cfg, c.W, c.X, bias=c.bias, relu=c.relu, shift=c.shift,
                max_blocks=harness.max_blocks, balance=c.balance)
        for c in cases
    ]  # fmt: skip
    # No layer is quiet (no beat moving) for longer than its whole dense run: a hang is
    # called after four times the longest one, not after the harness's million cycles.
    timeout = HANG_FLOOR + 4 * max(_work(c, cfg) for c in cases)
    try:
        runs = harness.run(
            progs, workdir, seed=seed, idle=idle, stall=stall, timeout=timeout,
            on_layer=lambda i: on_layer(cases[i].name),
        )  # fmt: skip
    except RuntimeError as err:
        return [{"name": c.name, "error": str(err)} for c in cases]
    timed = not idle and not stall
    return [
        check_layer(
            cfg, c.name, c.W, c.X, p.decode(r.results), r.cycles, r.counters,
            bias=c.bias, relu=c.relu, shift=c.shift, balance=c.balance, timed=timed,
            stamps=r.stamps,
        )
        for c, p, r in zip(cases, progs, runs, strict=True)
    ]  # fmt: skip


def verify_cases(
    harness: Harness,
    cases: Iterable[Case],
    workdir: str | Path,
    *,
    total_work: int,
    count: int,
    jobs: int = 1,
    seed: int = 0,
    idle: float = 0.0,
    stall: float = 0.0,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``cases`` (``count`` layers, about ``total_work`` dense array cycles) on the
    harness, ``jobs`` simulator processes at a time; one verdict per layer, in order."""
    cfg = harness.config
    share = max(1, total_work // (RUN_SHARE * max(jobs, 1)))
    lock, done = threading.Lock(), [0]

    def finished(name: str) -> None:
        with lock:
            done[0] += 1
            if progress:
                progress(done[0], count, name)

    if progress:
        progress(0, count, "")
    slots = threading.Semaphore(jobs + 1)
    futures: list[Future] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:

        def submit(chunk: list[Case]) -> None:
            slots.acquire()
            where = Path(workdir) / f"run-{len(futures)}"
            future = pool.submit(_run_chunk, harness, chunk, where, seed, idle, stall, finished)
            future.add_done_callback(lambda _: slots.release())
            futures.append(future)

        chunk: list[Case] = []
        work = 0
        for case in cases:
            chunk.append(case)
            work += _work(case, cfg)
            if work >= share:
                submit(chunk)
                chunk, work = [], 0
        if chunk:
            submit(chunk)
        return [v for f in futures for v in f.result()]
