"""``accel synth``: the array's Verilog through Yosys and nextpnr, for an FPGA target.

Exit codes: 0 when the design fits (and, when placed and routed, meets the frequency), 1
when it does not fit or misses the frequency (the report says by how much), 2 for bad
input or a tool failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import AccelError
from .common import add_config_flags, flag_of, resolve_config

NAME = "synth"
HELP = "synthesize, place and route the array for an FPGA: LUT, FF, DSP, BRAM, Fmax"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..fpga.targets import TARGETS

    add_config_flags(p)
    p.add_argument(
        "--max-blocks",
        type=int,
        default=64,
        metavar="N",
        help="weight memory depth per row, as for accel rtl (default 64)",
    )
    p.add_argument(
        "--target",
        default="ecp5-85k",
        choices=list(TARGETS),
        metavar="NAME",
        help=f"FPGA: {', '.join(TARGETS)} (default ecp5-85k)",
    )
    p.add_argument("--speed", type=int, help="speed grade (ECP5: 6, 7 or 8; default 6)")
    p.add_argument(
        "--freq",
        type=float,
        default=125.0,
        metavar="MHZ",
        help="clock the placer and router aim for (default 125)",
    )
    p.add_argument("--seed", type=int, default=1, help="placer seed (default 1)")
    p.add_argument("--threads", type=int, default=1, help="nextpnr threads (default 1)")
    p.add_argument("--no-pnr", action="store_true", help="synthesis only: cell counts, no Fmax")
    p.add_argument("--no-cache", action="store_true", help="run the tools even if cached")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="keep the sources, netlist, logs and reports here (default: a folder in the cache)",
    )
    p.add_argument("--json", metavar="FILE", help="write the report as JSON ('-' for stdout)")
    p.add_argument(
        "--force",
        action="store_true",
        help="use --out and --json even if accel did not write what is there",
    )
    p.add_argument("--quiet", action="store_true", help="no table, no progress")
    p.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="do not build the dense reference array of the same size beside the design "
        "(it gives the speedup at equal area; cached after its first run)",
    )
    p.add_argument(
        "--network",
        metavar="NAME",
        help="a built-in network for the speedup at equal area (resnet50, mobilenet_v2, "
        "vgg16, bert_base); without it the report gives the break-even cycle ratio",
    )
    p.add_argument(
        "--weight-density", type=float, default=0.1, metavar="D",
        help="--network's weight density, unstructured (default 0.1)",
    )  # fmt: skip
    p.add_argument(
        "--act-density", type=float, default=0.5, metavar="D",
        help="--network's activation density (default 0.5)",
    )  # fmt: skip


def _made_by_synth(marker: Path) -> bool:
    """True if ``marker`` is a report of ``accel synth`` (not of another subcommand)."""
    from ..outputs import TOOL_MARK

    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("tool") == TOOL_MARK and "flow_version" in data


def _check_out_dir(path: Path, force: bool) -> None:
    """The folder must be new, empty or one that accel synth made (it holds its report)."""
    from ..fpga.flow import MARKER

    if path.exists() and not path.is_dir():
        raise AccelError(f"--out {path}: exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not force and not _made_by_synth(path / MARKER):
        raise AccelError(
            f"--out {path}: folder is not empty and was not written by accel synth; "
            "choose another folder or pass --force"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AccelError(f"--out {path}: cannot create the folder: {err.strerror}") from None


def _title(cfg, target, opts) -> str:
    if cfg.dataflow == "dense":
        speed = f", speed {opts.speed}" if opts.speed is not None else ""
        return (
            f"accel synth: {cfg.rows}x{cfg.cols} dense reference array (block {cfg.block}) "
            f"on {target.name} ({target.device}){speed}, target {opts.freq_mhz:g} MHz"
        )
    mode = (
        "dense"
        if cfg.dense
        else (
            "sparse"
            if cfg.skip_weights and cfg.skip_acts
            else "weights skipped"
            if cfg.skip_weights
            else "activations skipped"
        )
    )
    speed = f", speed {opts.speed}" if opts.speed is not None else ""
    return (
        f"accel synth: {cfg.rows}x{cfg.cols} array (block {cfg.block}, depth "
        f"{cfg.queue_depth}, {cfg.lanes} lane{'s' if cfg.lanes > 1 else ''}, {mode}) on "
        f"{target.name} ({target.device}){speed}, target {opts.freq_mhz:g} MHz"
    )


def _reference_summary(ref: dict) -> dict:
    keys = ("config", "fabric", "core", "placed", "fmax", "critical_path", "fits", "met")
    return {k: ref.get(k) for k in keys} | {"workdir": ref["workdir"], "cached": ref["cached"]}


def _equal_area(args: argparse.Namespace, config, result: dict, ref: dict) -> dict:
    """Measured area and clock of the design and its reference; with ``--network``, the
    speedup at equal area on that workload (both simulated)."""
    from ..fpga.equal_area import measured_implementation, speedup_at_equal_area

    design, reference = measured_implementation(result), measured_implementation(ref)
    out = {
        "source": "measured",
        "area_ratio": design.logic_cells / reference.logic_cells,
        "clock_ratio": design.fmax_mhz / reference.fmax_mhz,
        "break_even": (design.logic_cells / reference.logic_cells)
        / (design.fmax_mhz / reference.fmax_mhz),
        "design": design.__dict__ | {"over_budget": design.over_budget},
        "reference": reference.__dict__ | {"over_budget": reference.over_budget},
    }
    if args.network:
        from ..perf.simulate import simulate_network
        from ..workloads.sparsity import WeightSparsity
        from ..workloads.zoo import get_network

        for flag in ("weight_density", "act_density"):
            value = getattr(args, flag)
            if not 0.0 <= value <= 1.0:
                raise AccelError(f"{flag_of(flag)} must be in 0..1, not {value:g}")
        layers = get_network(args.network)
        sim = simulate_network(
            config, layers, WeightSparsity("unstructured", args.weight_density),
            args.act_density, seed=1,
        ).totals()  # fmt: skip
        eq = speedup_at_equal_area(
            cycles=sim["total_cycles"],
            reference_cycles=sim["reference_total_cycles"],
            design=design,
            reference=reference,
        )
        out.update(eq.to_dict(), workload={
            "network": args.network, "weight_density": args.weight_density,
            "act_density": args.act_density, "seed": 1,
        })  # fmt: skip
    return out


def run(args: argparse.Namespace) -> int:
    from ..fpga.flow import MARKER, SynthOptions, synthesize_array
    from ..fpga.summary import format_report
    from ..fpga.targets import get_target
    from ..outputs import check_writable, write_text

    config = resolve_config(args)
    cfg = config.array
    target = get_target(args.target)
    speed = args.speed if args.speed is not None else target.default_speed
    opts = SynthOptions(
        target=target,
        speed=speed,
        freq_mhz=args.freq,
        seed=args.seed,
        threads=args.threads,
        place_and_route=not args.no_pnr,
    )
    if not 1 <= args.max_blocks <= 1 << 16:
        raise AccelError(f"--max-blocks must be in 1..65536, not {args.max_blocks}")
    if args.network is not None:  # refused now, not after an hour of place and route
        from ..workloads.zoo import get_network

        get_network(args.network)
        if not args.reference:
            raise AccelError("--network needs the dense reference: drop --no-reference")
    if args.json is not None and not args.json.strip():
        raise AccelError("--json needs a path, not an empty string")
    if args.out is not None and not args.out.strip():
        raise AccelError("--out needs a folder, not an empty string")
    if args.json and args.json != "-":
        check_writable(args.json, args.force, "--json")
    workdir = Path(args.out) if args.out else None
    if workdir is not None:
        _check_out_dir(workdir, args.force)

    def progress(text: str) -> None:
        if not args.quiet:
            print(f"  {text}", file=sys.stderr, flush=True)

    result = synthesize_array(
        cfg,
        opts,
        max_blocks=args.max_blocks,
        workdir=workdir,
        use_cache=not args.no_cache,
        progress=progress,
    )
    reference = cfg.dense_reference()
    if args.reference and reference != cfg and result.get("fmax"):
        progress(f"the dense reference {cfg.rows}x{cfg.cols} beside it (block {reference.block})")
        ref = synthesize_array(
            reference, opts, max_blocks=args.max_blocks, use_cache=not args.no_cache,
            progress=progress,
        )  # fmt: skip
        result["reference"] = _reference_summary(ref)
        if ref.get("fmax"):
            result["equal_area"] = _equal_area(args, config, result, ref)
    report = json.dumps(result, indent=1) + "\n"
    if workdir is not None:
        write_text(workdir / MARKER, report)
    table = format_report(result, _title(cfg, target, opts))
    if args.json == "-":
        sys.stdout.write(report)
        if not args.quiet:
            print(table, file=sys.stderr)
    else:
        if not args.quiet:
            print(table)
            where = result["workdir"]
            print(
                f"tool files in {where} (the cached run's)"
                if result["cached"]
                else f"files in {where}"
            )
        if args.json:
            write_text(Path(args.json), report)
            if not args.quiet:
                print(f"wrote {args.json}")
    return 1 if not result["fits"] or result["met"] is False else 0
