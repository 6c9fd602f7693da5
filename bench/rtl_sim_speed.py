"""How fast each model of the array runs the same real layer, measured in one run: the
file-driven testbench (``accel.cosim.harness``) and the cocotb testbench on Verilator and
Icarus, against the cycle-level simulator; then the wall time of ``accel verify`` on the
whole pruned ResNet-50.

Why: the RTL simulators are the ground truth but slow; whole networks are only verifiable
on the RTL if the testbench costs nothing per cycle. The layer: ResNet-50 layer1.0.conv2
(3x3, 64 -> 64, K = 576), weights 70 % sparse, activations 50 % dense, on 8x8 and 16x16
arrays (block 16, queue depth 4), cut in N so that each model runs for seconds (the
Verilator harness and the simulator take all N = 3,136 pixels, Icarus and cocotb fewer:
cycles per second do not depend on N once the start-up is paid, and start-up is counted).
Every run must match the golden model, the simulator's cycles and its counters; the
script says so. The harness's time covers packing the beats, writing the files, the
simulator and parsing its output; the checks against the golden model are not timed.
Builds are cached in ``sim_build/`` and not counted.

Run: `.venv/bin/python bench/rtl_sim_speed.py [--arrays 8,16] [--no-cocotb] [--no-network]`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from accel.config import ArrayConfig, Config
from accel.cosim.checks import UNBOUNDED, check_layer
from accel.cosim.harness import build_harness
from accel.cosim.runner import Case, build, check_simulator, run_cases
from accel.hw.driver import program
from accel.perf.simulate import simulate_arrays
from accel.workloads.layer import Layer
from accel.workloads.sparsity import WeightSparsity, random_acts, random_weights
from accel.workloads.zoo import get_network

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "sim_build"
MAX_BLOCKS = 64


def _ok(v: dict) -> bool:
    return "error" not in v and v["outputs_ok"] and v["counters_ok"] and bool(v["cycles_ok"])


def _operands(n: int):
    layer = next(x for x in get_network("resnet50") if x.name == "layer1.0.conv2")
    rng = np.random.default_rng(7)
    W = random_weights(rng, (layer.M, layer.K), WeightSparsity("unstructured", 0.3), 8)
    X = random_acts(rng, (layer.K, n), 0.5, 8)
    return W, X


def _measure(cfg: ArrayConfig, n_fast: int, n_slow: int, sims: list[str], cocotb: bool):
    """Rows of (model, N, wall s, cycles, check) for one array."""
    rows = []
    W, X = _operands(n_fast)
    layer = Layer("conv2", W.shape[0], W.shape[1], X.shape[1])
    t = time.perf_counter()
    for _ in range(5):
        res = simulate_arrays(Config(cfg, UNBOUNDED), layer, W, X)
    rows.append(("cycle-level simulator", n_fast, (time.perf_counter() - t) / 5,
                 res.sparse.core_cycles, "exact by construction"))  # fmt: skip
    for sim in sims:
        n = n_fast if sim == "verilator" else n_slow
        Wn, Xn = W, X[:, :n]
        harness = build_harness(cfg, sim, BUILD, max_blocks=MAX_BLOCKS)
        with tempfile.TemporaryDirectory() as work:
            t = time.perf_counter()  # packing, files, the simulator, parsing: not the checks
            prog = program(cfg, Wn, Xn, max_blocks=MAX_BLOCKS)
            (run,) = harness.run([prog], work)
            wall = time.perf_counter() - t
        v = check_layer(cfg, "conv2", Wn, Xn, prog.decode(run.results), run.cycles,
                        run.counters, stamps=run.stamps)  # fmt: skip
        rows.append((f"{sim}, file-driven harness", n, wall, v["rtl_cycles"],
                     "matches" if _ok(v) else "DOES NOT MATCH"))  # fmt: skip
        if cocotb:
            Xs = X[:, :n_slow]
            built = build(cfg, sim, BUILD, max_blocks=MAX_BLOCKS)
            t = time.perf_counter()
            (v,) = run_cases(built, [Case("conv2", W, Xs)])
            wall = time.perf_counter() - t
            rows.append((f"{sim}, cocotb", n_slow, wall, v["rtl_cycles"],
                         "matches" if _ok(v) else "DOES NOT MATCH"))  # fmt: skip
    return rows


def _network(jobs: int) -> tuple[str, bool]:
    """``accel verify --network resnet50`` (16x16, 80 % unstructured, balanced), timed."""
    cmd = [sys.executable, "-m", "accel.cli", "verify", "--network", "resnet50",
           "--weight-density", "0.2", "--act-density", "0.5", "--balance", "auto",
           "--sim", "verilator", "-j", str(jobs), "--quiet"]  # fmt: skip
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    summary = next((x for x in proc.stdout.splitlines() if " RTL cycles in " in x), "")
    built = re.search(r"testbench build ([\d.]+) s", summary)
    build_s = float(built.group(1)) if built else 0.0
    line = (
        f"accel verify --network resnet50 (16x16, 80 % unstructured, act 0.5, balanced) -j "
        f"{jobs} on Verilator: {wall:.1f} s wall ({wall - build_s:.1f} s without the testbench "
        f"build of {build_s:.1f} s)\n  {summary}\n  {proc.stdout.strip().splitlines()[-1]}"
    )
    return line, proc.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrays", default="8,16", help="array sides to measure")
    parser.add_argument("--sims", default="verilator,icarus")
    parser.add_argument("--n-fast", type=int, default=3136, help="N for Verilator's harness")
    parser.add_argument("--n-slow", type=int, default=256, help="N for Icarus and cocotb")
    parser.add_argument("--no-cocotb", action="store_true")
    parser.add_argument("--no-network", action="store_true")
    args = parser.parse_args(argv)
    sims = [s for s in args.sims.split(",") if s]
    for sim in sims:
        check_simulator(sim)
    print(f"{'array':<6} {'model':<30} {'N':>5} {'wall s':>8} {'cycles':>9} {'cycles/s':>11} "
          f"{'vs cocotb':>9} {'sim x':>7}  check")  # fmt: skip
    good = True
    for side in (int(s) for s in args.arrays.split(",")):
        cfg = ArrayConfig(rows=side, cols=side, block=16, queue_depth=4)
        rows = _measure(cfg, args.n_fast, args.n_slow, sims, not args.no_cocotb)
        rate = {name: cyc / wall for name, _, wall, cyc, _ in rows}
        ours = rate["cycle-level simulator"]
        for name, n, wall, cyc, check in rows:
            sim = name.split(",")[0]
            vs = ""
            if name.endswith("harness") and f"{sim}, cocotb" in rate:
                vs = f"{rate[name] / rate[f'{sim}, cocotb']:.1f}x"
            print(f"{side}x{side:<4} {name:<30} {n:>5} {wall:>8.3f} {cyc:>9,} "
                  f"{rate[name]:>11,.0f} {vs:>9} {ours / rate[name]:>7,.0f}  {check}")  # fmt: skip
            good &= check != "DOES NOT MATCH"
    print("(cycles/s include starting the simulator; 'sim x': how many times slower than the "
          "cycle-level simulator)")  # fmt: skip
    if not args.no_network and "verilator" in sims:
        line, ok = _network(min(2, os.cpu_count() or 1))
        print(line)
        good &= ok
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
