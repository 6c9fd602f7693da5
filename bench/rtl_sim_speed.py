"""How fast each model of the array runs the same real layer: Icarus and Verilator
(through cocotb) against the cycle-level simulator, measured in one run.

Why: the RTL simulators are the ground truth but slow; the cycle-level simulator must be
exactly as right and fast enough for sweeps. This prints simulated cycles per second of
wall time for each, and the ratios. The layer: ResNet-50 layer1.0.conv2 (3x3, 64 -> 64,
K = 576) cut down to N = 16 output pixels, weights 70 % sparse, activations 50 % dense,
on an 8x8 array (block 16, queue depth 4). Every run must match the golden model, the
simulator's cycles and its counters; the script says so.

Run: `.venv/bin/python bench/rtl_sim_speed.py [--sims icarus,verilator] [--n 16]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from accel.config import ArrayConfig, Config, SystemConfig
from accel.cosim.runner import Case, build, run_cases
from accel.perf.simulate import simulate_arrays
from accel.workloads.layer import Layer
from accel.workloads.sparsity import WeightSparsity, random_acts, random_weights
from accel.workloads.zoo import get_network

CFG = ArrayConfig(rows=8, cols=8, block=16, queue_depth=4)
UNBOUNDED = SystemConfig(dram_bytes_per_cycle=1e12, glb_bytes_per_cycle=1e12)
BUILD = Path(__file__).resolve().parents[1] / "sim_build"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", default="icarus,verilator")
    parser.add_argument("--n", type=int, default=16, help="output pixels kept (N)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    layer = next(x for x in get_network("resnet50") if x.name == "layer1.0.conv2")
    rng = np.random.default_rng(7)
    W = random_weights(rng, (layer.M, layer.K), WeightSparsity("unstructured", 0.3), 8)
    X = random_acts(rng, (layer.K, args.n), 0.5, 8)
    sliced = Layer("conv2", layer.M, layer.K, args.n)
    macs = layer.M * layer.K * args.n

    t = time.perf_counter()
    for _ in range(args.repeats):
        res = simulate_arrays(Config(CFG, UNBOUNDED), sliced, W, X)
    ours = (time.perf_counter() - t) / args.repeats
    cycles = res.sparse.total_cycles
    print(
        f"layer: ResNet-50 layer1.0.conv2 cut to N={args.n}: {layer.M}x{layer.K}x{args.n}, "
        f"{macs:,} MACs, weights {res.weight_density:.2f} dense, acts {res.act_density:.2f}"
    )
    print(
        f"array: {CFG.rows}x{CFG.cols}, block {CFG.block}, queue depth {CFG.queue_depth}; "
        f"{cycles:,} cycles (dense baseline {res.dense.total_cycles:,})"
    )
    rows = [("cycle-level simulator", ours, cycles, "exact by construction")]
    for sim in [s for s in args.sims.split(",") if s]:
        try:
            t = time.perf_counter()
            built = build(CFG, sim, BUILD, max_blocks=64)
            built_s = time.perf_counter() - t
            t = time.perf_counter()
            (v,) = run_cases(built, [Case("conv2", W, X)])
            wall = time.perf_counter() - t
        except Exception as err:  # a missing simulator: say so, measure the rest
            print(f"{sim}: not measured ({err})", file=sys.stderr)
            continue
        ok = v["outputs_ok"] and v["cycles_ok"] and v["counters_ok"]
        rows.append(
            (
                f"{sim} (cocotb; build {built_s:.1f} s, not counted)",
                wall,
                v["rtl_cycles"],
                "matches" if ok else "DOES NOT MATCH",
            )
        )
    print(f"\n{'model':<46} {'wall s':>9} {'cycles/s':>12} {'x slower than ours':>19}  check")
    for name, wall, cyc, check in rows:
        print(f"{name:<46} {wall:>9.4f} {cyc / wall:>12,.0f} {wall / ours:>19,.0f}  {check}")
    print("\n(RTL runs include starting the HDL simulator and Python inside it, about 1 s.)")
    return 0 if all(r[3] != "DOES NOT MATCH" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
