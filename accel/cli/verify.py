"""``accel verify``: one GEMM on the generated Verilog (cocotb), checked against the golden
model and the simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AccelError
from .common import add_balance_flag, add_config_flags, make_dir, resolve_config

NAME = "verify"
HELP = (
    "run a GEMM on the generated Verilog (cocotb) and "
    "compare with the golden model and the simulator"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)
    p.add_argument(
        "--gemm",
        required=True,
        metavar="FILE.npz",
        help="integer arrays W (M x K), X (K x N), optional bias (M)",
    )
    p.add_argument("--sim", required=True, choices=("icarus", "verilator"), help="HDL simulator")
    p.add_argument("--relu", action="store_true", help="apply ReLU in the output stage")
    p.add_argument("--shift", type=int, metavar="S", help="requantise: shift right by S")
    p.add_argument("--seed", type=int, default=0, help="testbench seed")
    add_balance_flag(p)
    p.add_argument("--waves", metavar="DIR", help="write waveforms (FST or VCD) into DIR")
    p.add_argument("--force", action="store_true", help="replace wave files already in DIR")


def _cache_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "accel" / "sim_build"


def run(args: argparse.Namespace) -> int:
    import shutil

    import numpy as np

    from ..cosim.runner import Case, build, check_simulator, run_cases
    from ..encode import blocks
    from ..golden import as_operand
    from ..workloads.gemm_file import load_gemm

    config = resolve_config(args)
    cfg = config.array
    check_simulator(args.sim)
    W, X = load_gemm(args.gemm, cfg)
    with np.load(args.gemm) as data:
        bias = data["bias"] if "bias" in data.files else None
    if bias is not None:
        if bias.shape != (W.shape[0],):
            raise AccelError(
                f"bias must have shape ({W.shape[0]},), not {bias.shape}", source=args.gemm
            )
        try:  # integers that fit the accumulator, as the output stage adds them
            bias = as_operand("bias", bias, cfg.acc_bits)
        except AccelError as err:
            raise AccelError(str(err), source=args.gemm) from None
    if args.shift is not None and not 0 <= args.shift < cfg.acc_bits:
        raise AccelError(f"--shift must be in 0..{cfg.acc_bits - 1}, not {args.shift}")
    waves = None
    if args.waves:
        waves = Path(args.waves)
        if waves.exists() and not waves.is_dir():
            raise AccelError(f"--waves {waves}: exists and is not a directory")
        old = sorted(p.name for ext in ("*.fst", "*.vcd") for p in waves.glob(ext))
        if old and not args.force:
            raise AccelError(
                f"--waves {waves}: already holds {', '.join(old)}; choose another directory "
                "or pass --force to replace them"
            )
        make_dir(waves, "--waves", args.waves)
    max_blocks = 1 << max(blocks(W.shape[1], cfg.block) - 1, 0).bit_length()
    print(
        f"building {args.sim} model ({cfg.rows}x{cfg.cols}, block {cfg.block}, "
        f"max_blocks {max_blocks}) ...",
        file=sys.stderr,
    )
    built = build(cfg, args.sim, _cache_dir(), max_blocks=max_blocks, waves=bool(waves))
    case = Case(
        Path(args.gemm).stem,
        W,
        X,
        bias=bias,
        relu=args.relu,
        shift=args.shift,
        balance=args.balance,
    )
    print(f"running {W.shape[0]}x{W.shape[1]}x{X.shape[1]} on {args.sim} ...", file=sys.stderr)
    (verdict,) = run_cases(built, [case], waves=bool(waves), seed=args.seed)
    if waves:
        for pattern in ("*.fst", "*.vcd"):
            for f in built.directory.glob(pattern):
                shutil.copy2(f, waves / f.name)
                print(f"waves: {waves / f.name}")

    if verdict["outputs_ok"]:
        print(f"outputs: ok ({W.shape[0]} x {X.shape[1]} values bit-exact with the golden model)")
    else:
        mm = verdict["first_mismatch"]
        row, col = mm["index"][-2:]
        print(
            f"outputs: MISMATCH at row {row}, column {col}: expected {mm['expected']}, "
            f"got {mm['got']}"
        )
    mark = "ok" if verdict["cycles_ok"] else "MISMATCH"
    print(
        f"cycles: RTL {verdict['rtl_cycles']:,}, simulator {verdict['sim_cycles']:,} ({mark}; "
        "core cycles: the RTL has no memory system and ignores [system] bandwidths)"
    )
    print(f"{'counter':<18} {'RTL':>14} {'simulator':>14}")
    for name, sim_value in verdict["sim_counters"].items():
        rtl_value = verdict["rtl_counters"][name]
        flag = "" if rtl_value == sim_value else "  <- differs"
        print(f"{name:<18} {rtl_value:>14,} {sim_value:>14,}{flag}")
    ok = verdict["outputs_ok"] and verdict["cycles_ok"] and verdict["counters_ok"]
    print("verify: PASS" if ok else "verify: FAIL")
    return 0 if ok else 1
