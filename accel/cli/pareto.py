"""``accel pareto``: the Pareto front of a sweep's store (energy, latency, FPGA area)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import AccelError
from .common import check_outputs, emit

NAME = "pareto"
HELP = "the Pareto front of a sweep's store: energy against latency against FPGA area"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        default="sweep.db",
        metavar="FILE",
        help="the store `accel sweep` wrote (default sweep.db)",
    )
    p.add_argument(
        "--workload",
        action="append",
        metavar="NAME",
        help="only these workloads (repeat; default: all of the last sweep, "
        "energy and latency summed over them)",
    )
    p.add_argument(
        "--energy", metavar="TABLE", help="which of the sweep's energy tables (default its first)"
    )
    p.add_argument(
        "--fpga", metavar="TARGET", help="which of the sweep's FPGA targets (default its first)"
    )
    p.add_argument(
        "--area",
        default="share",
        choices=["share", "lut", "dsp", "bram"],
        help="area objective: the scarcest resource's share of the device "
        "(default), or a LUT, DSP or BRAM count",
    )
    p.add_argument(
        "--reference",
        metavar="E,L,A",
        help="hypervolume reference point: energy uJ, latency ms, area "
        "(default 1.1 x the worst of each)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=1.0,
        metavar="F",
        help="leave out designs whose scarcest resource uses more than this share of the "
        "FPGA (default 1.0: those that do not fit)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="also designs that do not fit the FPGA (default: only those that do)",
    )
    p.add_argument(
        "--top",
        type=int,
        default=20,
        metavar="N",
        help="front designs shown in the table (default 20; JSON has all)",
    )
    p.add_argument("--json", metavar="PATH", help="write the front as JSON ('-' for stdout)")
    p.add_argument("--plot", metavar="DIR", help="write pareto.png into DIR")
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite output files even if accel did not write them",
    )
    p.add_argument("--quiet", action="store_true", help="no table")


def _reference(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        raise AccelError(f"--reference needs three numbers E,L,A, not {text!r}")
    return values


def _design(entry: dict[str, Any]) -> str:
    a = entry["array"]
    skip = {(True, True): "w+a", (True, False): "w", (False, True): "a", (False, False): "-"}
    return (
        f"{a['rows']}x{a['cols']} B{a['block']} D{a['queue_depth']} L{a['lanes']} "
        f"skip {skip[(a['skip_weights'], a['skip_acts'])]} {entry['balance']} "
        f"@{entry['clock_mhz']:g}MHz"
    )


def _table(report: dict[str, Any], top: int) -> str:
    head = (
        f"{'design':<44} {'energy uJ':>10} {'latency ms':>10} {'area':>6} "
        f"{'LUT':>7} {'DSP':>4} {'BRAM':>4}"
    )
    lines = [head, "-" * len(head)]
    for e in report["front"][:top]:
        lines.append(
            f"{_design(e):<44} {e['energy_uj']:>10.1f} {e['latency_ms']:>10.3f} "
            f"{e['area']:>6.3g} {e['lut']:>7,} {e['dsp']:>4} {e['bram']:>4}"
        )
    more = len(report["front"]) - top
    if more > 0:
        lines.append(f"... {more} more on the front (--top, --json)")
    lines.append("-" * len(head))
    ref = ", ".join(f"{v:.4g}" for v in report["reference"])
    lines.append(
        f"{len(report['front'])} of {report['considered']:,} designs on the front "
        f"({' + '.join(report['workloads'])}; {report['infeasible']:,} of "
        f"{report['designs']:,} over {report['budget']:g} of {report['fpga']}); hypervolume "
        f"{report['hypervolume']:.4g} against ({ref}) (energy uJ, latency ms, area), "
        f"{report['hypervolume_fraction']:.3f} of that box"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..outputs import TOOL_MARK
    from ..sweep.evaluate import simulator_version
    from ..sweep.front import front_report
    from ..sweep.store import Store

    check_outputs(args, ("pareto.png",))
    if args.top < 0:
        raise AccelError(f"--top must be a non-negative integer, not {args.top}")
    reference = _reference(args.reference)
    if not 0 < args.budget <= 1:  # also false for NaN
        raise AccelError(f"--budget must be a share in (0, 1], not {args.budget}")
    with Store(args.store, create=False) as store:
        meta = store.meta("sweep")
        if meta is None:
            raise AccelError(f"--store {args.store}: holds no sweep yet")
        rows = list(store.rows(simulator_version()))
    if not rows:
        raise AccelError(
            f"--store {args.store}: holds no point of this simulator version "
            f"({simulator_version()}); run the sweep again"
        )
    body = front_report(
        rows,
        meta,
        workloads=args.workload,
        energy=args.energy,
        fpga=args.fpga,
        area=args.area,
        reference=reference,
        feasible_only=not args.all,
        budget=args.budget,
    )
    report = {"tool": TOOL_MARK, "version": __version__, "store": str(args.store), **body}
    emit(args, report, _table(report, args.top))
    if args.plot:
        from ..plots import plot_pareto

        path = plot_pareto(report, args.plot, force=args.force)
        if not args.quiet and args.json != "-":
            print(f"wrote {path}")
    return 0
