"""``accel verify``: layers of a network, an ONNX model or a GEMM on the generated Verilog,
checked against the golden model (outputs, bit for bit) and the simulator (cycles, every
result beat's cycle, the event counters)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import AccelError
from .common import (
    Progress,
    act_density,
    add_balance_flag,
    add_config_flags,
    check_seed,
    flag_of,
    make_dir,
    network_layers,
    resolve_config,
)

NAME = "verify"
HELP = (
    "run a network, an ONNX model or a GEMM on the generated Verilog and compare every "
    "layer with the golden model and the simulator"
)
MAX_JOBS = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--network", metavar="NAME", help="built-in network: resnet50, mobilenet_v2, vgg16, ..."
    )
    src.add_argument("--onnx", metavar="MODEL.onnx", help="an ONNX model, its own weights")
    src.add_argument(
        "--gemm",
        metavar="FILE.npz",
        help="one GEMM: integer arrays W (M x K), X (K x N), optional bias (M)",
    )
    p.add_argument(
        "--input",
        metavar="DATA.npy|DATA.npz",
        help="run the --onnx model on this array (an .npz: one per graph input): real activations",
    )
    p.add_argument("--batch", type=int, help="batch size (networks)")
    p.add_argument("--image", type=int, help="input image side (CNNs; default 224)")
    p.add_argument("--seq-len", type=int, help="sequence length (bert_base; default 128)")
    p.add_argument(
        "--weight-density", type=float, metavar="D", help="fraction of weights kept (networks)"
    )
    p.add_argument(
        "--pattern",
        default="unstructured",
        metavar="P",
        help="weight pattern (networks): unstructured, N:M (e.g. 2:4) or channel",
    )
    p.add_argument("--act-density", type=float, metavar="D", help="fraction of nonzero activations")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the operands and of the testbench's stalls"
    )
    add_balance_flag(p)
    p.add_argument(
        "--layers",
        metavar="LIST",
        help="only these layers: comma-separated names, indices or ranges (e.g. 0-3,fc)",
    )
    p.add_argument(
        "--max-n", type=int, metavar="N", help="cut every layer to its first N output columns"
    )
    p.add_argument(
        "--sim",
        default="verilator",
        choices=("icarus", "verilator"),
        help="HDL simulator (default verilator)",
    )
    p.add_argument(
        "-j", "--jobs", type=int, default=1, help="simulator processes at once (default 1)"
    )
    p.add_argument(
        "--idle",
        type=float,
        default=0.0,
        metavar="P",
        help="the testbench withholds each input beat with probability P (cycles then not "
        "compared)",
    )
    p.add_argument(
        "--stall",
        type=float,
        default=0.0,
        metavar="P",
        help="the testbench refuses each result beat with probability P",
    )
    p.add_argument("--relu", action="store_true", help="--gemm: apply ReLU in the output stage")
    p.add_argument("--shift", type=int, metavar="S", help="--gemm: requantise, shift right by S")
    p.add_argument(
        "--waves",
        metavar="DIR",
        help="--gemm: run on the cocotb testbench and write waveforms (FST or VCD) into DIR",
    )
    p.add_argument("--force", action="store_true", help="replace wave files already in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress, no table: the verdict only")


def _cache_dir() -> Path:
    from ..cache import cache_dir

    return cache_dir("sim_build")


def _check_flags(args: argparse.Namespace) -> None:
    check_seed(args)
    if not 1 <= args.jobs <= MAX_JOBS:
        raise AccelError(f"--jobs must be an integer in 1..{MAX_JOBS}, not {args.jobs}")
    if args.max_n is not None and args.max_n < 1:
        raise AccelError(f"--max-n must be a positive integer, not {args.max_n}")
    for flag in ("idle", "stall"):
        value = getattr(args, flag)
        if not 0.0 <= value < 1.0:  # also false for NaN
            raise AccelError(f"--{flag} must be in [0, 1), not {value!r}")
    if args.input is not None and not args.onnx:
        raise AccelError("--input applies only to --onnx MODEL.onnx")
    if not args.gemm:
        for flag in ("relu", "shift", "waves"):
            if getattr(args, flag) not in (None, False):
                raise AccelError(f"{flag_of(flag)} applies only to --gemm")
    if not args.network:
        for flag in ("batch", "image", "seq_len", "weight_density"):
            if getattr(args, flag) is not None:
                raise AccelError(f"{flag_of(flag)} applies only to --network")
        if args.pattern != "unstructured":
            raise AccelError("--pattern applies only to --network")
    if args.gemm and args.act_density is not None:
        raise AccelError("--act-density does not apply to --gemm (the file holds X)")
    if args.input is not None and args.act_density is not None:
        raise AccelError("--act-density does not apply with --input (activations are real)")


def _gemm_case(args: argparse.Namespace, cfg):

    from ..cosim.runner import Case
    from ..golden import as_operand
    from ..workloads.gemm_file import load_gemm

    W, X, extra = load_gemm(args.gemm, cfg)
    bias = extra.get("bias")
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
    name = Path(args.gemm).stem
    return Case(name, W, X, bias=bias, relu=args.relu, shift=args.shift, balance=args.balance)


def _workload(args: argparse.Namespace, cfg) -> dict[str, Any]:
    """The layers to run, lazily: names, their K (the memory depth), dense work, cases."""
    from ..cosim import workload as wl

    if args.gemm:
        case = _gemm_case(args, cfg)
        names, Ks = [case.name], [case.W.shape[-1]]
        return {"names": names, "Ks": Ks, "work": 1, "cases": iter([case]), "label": case.name}
    if args.network:
        from ..workloads.sparsity import parse_pattern

        weights = parse_pattern(args.pattern, args.weight_density)
        layers = network_layers(args)
        pick = wl.select_layers([x.name for x in layers], args.layers)
        chosen = [layers[i] for i in pick]
        cases = wl.network_cases(
            cfg, layers, weights, act_density(args), args.seed, args.balance, args.max_n,
            keep=set(pick).__contains__,
        )  # fmt: skip
        label = f"{args.network} ({weights.label})"
    else:
        from ..workloads.onnx import load_input, load_onnx

        data = None if args.input is None else load_input(args.input)
        model = load_onnx(args.onnx, data)
        layers = [item.layer for item in model.layers]
        pick = wl.select_layers([item.node for item in model.layers], args.layers)
        chosen = [layers[i] for i in pick]
        cases = wl.onnx_cases(
            cfg, model, act_density(args), args.seed, args.balance, args.max_n,
            keep=set(pick).__contains__,
        )  # fmt: skip
        label = Path(args.onnx).name + (" (captured activations)" if data is not None else "")
    n_of = (lambda x: x.N) if args.max_n is None else (lambda x: min(x.N, args.max_n))
    work = sum(x.macs // x.N * n_of(x) for x in chosen) // (cfg.rows * cfg.cols)
    return {
        "names": [x.name for x in chosen],
        "Ks": [x.K for x in chosen],
        "work": max(work, 1),
        "cases": cases,
        "label": label,
    }


def run(args: argparse.Namespace) -> int:
    from ..cosim.runner import check_simulator

    _check_flags(args)
    config = resolve_config(args)
    cfg = config.array
    check_simulator(args.sim)
    if args.waves:
        return _run_cocotb(args, cfg)
    from ..cosim.harness import build_harness
    from ..cosim.workload import memory_depth, verify_cases

    job = _workload(args, cfg)
    depth = memory_depth(cfg, job["Ks"])
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    t0 = time.perf_counter()
    harness = build_harness(cfg, args.sim, _cache_dir(), max_blocks=depth, log=say)
    built = time.perf_counter() - t0
    progress = Progress(f"verifying {job['label']} on {args.sim}", not args.quiet)
    import tempfile

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accel-verify-") as work:
        verdicts = verify_cases(
            harness,
            job["cases"],
            work,
            total_work=job["work"],
            count=len(job["names"]),
            jobs=args.jobs,
            seed=args.seed,
            idle=args.idle,
            stall=args.stall,
            progress=progress,
        )
    wall = time.perf_counter() - t0
    if args.gemm and len(verdicts) == 1 and "error" not in verdicts[0]:
        return _print_one(verdicts[0])
    return _print_table(args, cfg, verdicts, wall, built, depth)


def _ok(v: dict[str, Any]) -> bool:
    return "error" not in v and v["outputs_ok"] and v["counters_ok"] and v["cycles_ok"] is not False


def _mark(value: bool | None) -> str:
    return "-" if value is None else ("ok" if value else "DIFFERS")


def _print_table(args, cfg, verdicts, wall: float, built: float, depth: int) -> int:
    if not args.quiet:
        print(
            f"{'layer':<28} {'M x K x N':>18} {'RTL cycles':>12} {'sim cycles':>12} "
            f"{'cycles':>7} {'counters':>8} {'outputs':>7}"
        )
        for v in verdicts:
            if "error" in v:
                print(f"{v['name'][:28]:<28} ERROR: {v['error']}")
                continue
            shape = "x".join(str(s) for s in v["shape"])
            print(
                f"{v['name'][:28]:<28} {shape:>18} {v['rtl_cycles']:>12,} {v['sim_cycles']:>12,} "
                f"{_mark(v['cycles_ok']):>7} {_mark(v['counters_ok']):>8} "
                f"{_mark(v['outputs_ok']):>7}"
            )
    bad = [v for v in verdicts if not _ok(v)]
    for v in bad[:1]:
        print(_first_problem(v))
    ran = [v for v in verdicts if "error" not in v]
    cycles = sum(v["rtl_cycles"] for v in ran)
    rate = f", {cycles / wall:,.0f} cycles/s" if wall > 0 else ""
    print(
        f"{len(verdicts)} layers, {cycles:,} RTL cycles in {wall:.1f} s on {args.sim} "
        f"({args.jobs} process{'es' if args.jobs > 1 else ''}{rate}; testbench build "
        f"{built:.1f} s; {cfg.rows}x{cfg.cols}, block {cfg.block}, max_blocks {depth})"
    )
    if args.idle or args.stall:
        print("cycles not compared: the testbench injected idle inputs or back-pressure")
    print(f"verify: PASS ({len(verdicts)} of {len(verdicts)} layers match)" if not bad else
          f"verify: FAIL ({len(bad)} of {len(verdicts)} layers differ)")  # fmt: skip
    return 0 if not bad else 1


def _first_problem(v: dict[str, Any]) -> str:
    """The first thing that differs in a layer, named precisely."""
    name = v["name"]
    if "error" in v:
        return f"first mismatch: layer {name}: {v['error']}"
    if not v["outputs_ok"]:
        mm = v["first_mismatch"]
        *g, row, col = mm["index"]
        group = f"group {g[0]}, " if v.get("groups", 1) > 1 else ""
        return (
            f"first mismatch: layer {name}, {group}row {row}, column {col}: "
            f"expected {mm['expected']}, got {mm['got']}"
        )
    if v["cycles_ok"] is False:
        late = v.get("first_late_beat")
        if late:
            return (
                f"first mismatch: layer {name}, result beat {late['beat']}: expected at cycle "
                f"{late['expected']}, got {late['got']} (RTL {v['rtl_cycles']:,} cycles, "
                f"simulator {v['sim_cycles']:,})"
            )
        return f"first mismatch: layer {name}: RTL {v['rtl_cycles']:,} cycles, simulator " + (
            f"{v['sim_cycles']:,}"
        )
    diff = [k for k, x in v["sim_counters"].items() if v["rtl_counters"].get(k) != x]
    k = diff[0] if diff else "row_idle_cycles"
    return (
        f"first mismatch: layer {name}, counter {k}: RTL {v['rtl_counters'].get(k)}, "
        f"simulator {v['sim_counters'].get(k)}"
    )


def _print_one(verdict: dict[str, Any]) -> int:
    """One GEMM: the outputs, the cycles and every counter side by side."""
    M, _, N = verdict["shape"]
    if verdict["outputs_ok"]:
        print(f"outputs: ok ({M} x {N} values bit-exact with the golden model)")
    else:
        mm = verdict["first_mismatch"]
        row, col = mm["index"][-2:]
        print(
            f"outputs: MISMATCH at row {row}, column {col}: expected {mm['expected']}, "
            f"got {mm['got']}"
        )
    mark = {True: "ok", False: "MISMATCH", None: "not compared"}[verdict["cycles_ok"]]
    print(
        f"cycles: RTL {verdict['rtl_cycles']:,}, simulator {verdict['sim_cycles']:,} ({mark}; "
        "core cycles: the RTL has no memory system and ignores [system] bandwidths)"
    )
    late = verdict.get("first_late_beat")
    if late:
        print(
            f"result beat {late['beat']}: expected at cycle {late['expected']}, got {late['got']}"
        )
    print(f"{'counter':<18} {'RTL':>14} {'simulator':>14}")
    for name, sim_value in verdict["sim_counters"].items():
        rtl_value = verdict["rtl_counters"][name]
        flag = "" if rtl_value == sim_value else "  <- differs"
        print(f"{name:<18} {rtl_value:>14,} {sim_value:>14,}{flag}")
    ok = _ok(verdict)
    print("verify: PASS" if ok else "verify: FAIL")
    return 0 if ok else 1


def _run_cocotb(args: argparse.Namespace, cfg) -> int:
    """``--waves``: the one GEMM on the cocotb testbench, which can dump waveforms."""
    import shutil

    from ..cosim.runner import build, run_cases
    from ..encode import blocks
    from ..outputs import probe_dir, replacing

    case = _gemm_case(args, cfg)
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
    probe_dir(waves, f"--waves {args.waves}")  # before the build, not after the run
    max_blocks = 1 << max(blocks(case.W.shape[1], cfg.block) - 1, 0).bit_length()
    print(f"building {args.sim} model for cocotb (waves) ...", file=sys.stderr)
    built = build(cfg, args.sim, _cache_dir(), max_blocks=max_blocks, waves=True)
    (verdict,) = run_cases(built, [case], waves=True, seed=args.seed, idle=args.idle,
                           stall=args.stall)  # fmt: skip
    for pattern in ("*.fst", "*.vcd"):
        for f in built.directory.glob(pattern):
            with replacing(waves / f.name, what="waves") as (temp,):
                shutil.copyfile(f, temp)
            print(f"waves: {waves / f.name}")
    return _print_one(verdict)
