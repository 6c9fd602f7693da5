"""``accel curve``: speedup and energy of one network over a sweep of weight densities."""

from __future__ import annotations

import argparse
import re
import sys

from .. import __version__
from ..errors import AccelError
from .common import (
    Progress,
    act_density,
    add_config_flags,
    add_workload_flags,
    check_outputs,
    check_seed,
    emit,
    network_layers,
    ratio,
    resolve_config,
)

_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

NAME = "curve"
HELP = "speedup and energy against weight density"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)
    add_workload_flags(p, curve=True)
    p.add_argument(
        "--densities",
        default="1,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.2,0.1,0.05",
        help="comma-separated weight densities",
    )


def run(args: argparse.Namespace) -> int:
    from ..outputs import TOOL_MARK
    from ..perf.energy import load_energy_table
    from ..perf.footprint import describe_time
    from ..perf.simulate import simulate_network
    from ..workloads.sparsity import WeightSparsity, parse_pattern

    config = resolve_config(args)
    table = load_energy_table(args.energy)
    check_outputs(args, ("curve.png",))
    base = parse_pattern(args.pattern, None)
    if base.pattern == "nm":
        raise AccelError(
            f"--pattern {args.pattern} fixes the density; curve sweeps unstructured or channel"
        )
    densities = []
    for text in args.densities.split(","):
        # float() also takes "1_0" (ten), "nan" and "inf": a density is a plain decimal
        if not _DECIMAL.fullmatch(text.strip()):
            raise AccelError(
                f"--densities {args.densities!r}: {text!r} is not a decimal number "
                "(give numbers separated by commas)"
            )
        dens = float(text)
        if not 0.0 <= dens <= 1.0:
            raise AccelError(f"--densities: each must be in 0..1, not {text.strip()}")
        densities.append(dens)
    act = act_density(args)
    check_seed(args)
    layers = network_layers(args)
    note = describe_time(config.array, layers)
    if note and not args.quiet:
        print(f"accel curve: {note} per density", file=sys.stderr)
    points = []
    progress = Progress(f"curve of {args.network}", not args.quiet, unit="densities")
    for i, dens in enumerate(densities):
        progress(i, len(densities), f"density {dens:g}")
        res = simulate_network(
            config,
            layers,
            WeightSparsity(base.pattern, dens),
            act,
            args.seed,
            table,
            balance=args.balance,
        )
        t = res.totals()
        points.append(
            {
                "weight_density": dens,
                "measured_weight_density": t["weight_density"],
                "speedup": t["speedup"],
                "compute_speedup": t["compute_speedup"],
                "energy_pj": t["energy_pj"]["total"],
                "dense_energy_pj": t["dense_energy_pj"]["total"],
                "energy_saving": t["dense_energy_pj"]["total"] / t["energy_pj"]["total"]
                if t["energy_pj"]["total"]
                else None,
                "utilisation": t["utilisation"],
                "total_cycles": t["total_cycles"],
                "dense_total_cycles": t["dense_total_cycles"],
            }
        )
    progress(len(densities), len(densities), "")
    curve = {
        "tool": TOOL_MARK,
        "version": __version__,
        "config": config.to_dict(),
        "workload": args.network,
        "pattern": base.label,
        "act_density": act,
        "seed": args.seed,
        "points": points,
    }
    lines = [f"{'w.density':>9} {'speedup':>8} {'compute':>8} {'energy x':>8} {'util':>5}"]
    for p in points:
        lines.append(
            f"{p['weight_density']:>9.3f} {p['speedup']:>7.2f}x "
            f"{p['compute_speedup']:>7.2f}x {ratio(p['energy_saving']):>8} "
            f"{p['utilisation']:>5.2f}"
        )
    emit(args, curve, "\n".join(lines))
    if args.plot:
        from ..plots import plot_curve

        path = plot_curve(curve, args.plot, force=args.force)
        if not args.quiet and args.json != "-":
            print(f"wrote {path}")
    return 0
