"""``accel search``: NSGA-II over a design space too large to enumerate, under an FPGA
area budget, every point mirrored into the sweep's store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AccelError
from .sweep import Bar, add_run_flags, add_workloads, remember_space, workloads

NAME = "search"
HELP = "multi-objective search of a design space (NSGA-II) under an FPGA area budget"
DESCRIPTION = """\
Search a design space with Optuna's NSGA-II for designs that minimise energy per run,
latency and FPGA area, with the area budget as a constraint. SPACE.toml is the file
`accel sweep` takes (its lists are the choices; clock_mhz is one more choice, free of
simulation). Every evaluated point goes into the store; points it holds are not
simulated again, and stored designs of the space start the search (--no-warm-start:
not). `accel pareto --store FILE` shows the front.

  accel search --space space.toml --network resnet50 --weight-density 0.2 \\
      --trials 1000 --budget 0.8 -j 2
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", required=True, metavar="SPACE.toml", help="the design space")
    add_workloads(p)
    add_run_flags(p, "the results store, SQLite (default sweep.db; made if missing)")
    p.add_argument(
        "--trials", type=int, default=1000, metavar="N", help="evaluations (default 1000)"
    )
    p.add_argument(
        "--budget",
        type=float,
        default=1.0,
        metavar="F",
        help="largest share of the FPGA (the space's first [sweep] fpga target) "
        "any of LUT, FF, DSP, BRAM may use (default 1.0)",
    )
    p.add_argument(
        "--population",
        type=int,
        default=50,
        metavar="N",
        help="NSGA-II population size (default 50)",
    )
    p.add_argument(
        "--sampler",
        default="nsga2",
        choices=["nsga2", "random"],
        help="nsga2 (default) or random, the baseline",
    )
    p.add_argument(
        "--search-seed", type=int, default=0, metavar="S", help="seed of the sampler (default 0)"
    )
    p.add_argument(
        "--no-warm-start", action="store_true", help="do not start from the designs the store holds"
    )


def run(args: argparse.Namespace) -> int:
    from ..sweep.backends import make_backend
    from ..sweep.search import run_search
    from ..sweep.space import load_space
    from ..sweep.store import Store

    if not 1 <= args.trials <= 1_000_000:
        raise AccelError(f"--trials must be an integer in 1..1000000, not {args.trials}")
    if not 0 < args.budget <= 1:  # also false for NaN
        raise AccelError(f"--budget must be a share in (0, 1], not {args.budget}")
    if not 2 <= args.population <= 10_000:
        raise AccelError(f"--population must be an integer in 2..10000, not {args.population}")
    if args.search_seed < 0:
        raise AccelError(f"--search-seed must be a non-negative integer, not {args.search_seed}")
    space = load_space(args.space, max_points=None)
    loads = workloads(args)
    with Store(args.store) as store:
        remember_space(store, args.space, space, loads)
        backend = make_backend(args.jobs, args.scheduler)
        if not args.quiet:
            print(
                f"accel search: {args.sampler} over {space.size * len(space.clocks):,} "
                f"choices, {args.trials:,} trials on {backend.name}",
                file=sys.stderr,
            )
        bar = Bar(f"search {Path(args.space).name}", not args.quiet)
        result = run_search(
            space,
            loads,
            store,
            backend,
            trials=args.trials,
            budget=args.budget,
            seed=args.search_seed,
            population=args.population,
            warm_start=not args.no_warm_start,
            sampler=args.sampler,
            progress=lambda r, total: bar(r.trials + r.invalid, total, r.simulated),
        )
        held = len(store)
    if not args.quiet:
        print(
            f"{result.trials:,} trials ({result.warm:,} stored designs told first; "
            f"{result.simulated:,} simulated, {result.invalid:,} invalid, "
            f"{result.infeasible:,} over the budget of {args.budget:g} x {space.fpga[0]}) "
            f"in {result.seconds:.1f} s. {args.store} holds {held:,} rows; "
            f"`accel pareto --store {args.store}` shows the front."
        )
    return 0
