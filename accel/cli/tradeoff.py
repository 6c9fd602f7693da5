"""``accel tradeoff``: LeNet-5 on MNIST pruned several ways, accuracy against simulated speed
and energy."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import __version__
from ..errors import AccelError
from ..limits import MAX_EPOCHS
from .common import (
    add_config_flags,
    add_output_flags,
    check_outputs,
    check_seed,
    emit,
    ratio,
    resolve_config,
)

NAME = "tradeoff"
HELP = (
    "train LeNet-5 on MNIST, prune it several ways, and measure accuracy "
    "against simulated speed and energy"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)
    p.add_argument("--seed", type=int, default=0, help="seed of split, training and pruning")
    p.add_argument(
        "--epochs",
        type=int,
        default=2,
        metavar="E",
        help=f"fine-tuning epochs per method, 0..{MAX_EPOCHS} (default 2)",
    )
    p.add_argument(
        "--images",
        type=int,
        default=256,
        metavar="N",
        help="test images whose int8 operands are simulated (default 256)",
    )
    add_output_flags(p, "write tradeoff.png into DIR")


def _tradeoff_table(report: dict[str, Any]) -> str:
    head = (
        f"{'method':<14} {'float acc':>9} {'int8 acc':>8} {'w.sparsity':>10} {'a.sparsity':>10} "
        f"{'speedup':>8} {'energy x':>8} {'cycles':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in report["methods"]:
        lines.append(
            f"{r['method']:<14} {r['float_accuracy']:>9.1%} {r['int8_accuracy']:>8.1%} "
            f"{r['weight_sparsity']:>10.3f} {r['act_sparsity']:>10.3f} "
            f"{ratio(r['speedup']):>8} {ratio(r['energy_saving']):>8} {r['total_cycles']:>10,}"
        )
    cfg = report["config"]["array"]
    lines.append("-" * len(head))
    lines.append(
        f"LeNet-5 on MNIST, {report['split']['test']} held-out test images (accuracy, "
        f"activation sparsity), {report['simulated_images']} of them simulated on "
        f"{cfg['rows']}x{cfg['cols']} block {cfg['block']}; speedup and energy against the "
        f"dense baseline of the same array; seed {report['seed']}; dense model "
        f"{report['dense_model']['source']}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import time

    from ..outputs import TOOL_MARK
    from ..perf.energy import load_energy_table

    config = resolve_config(args)
    table = load_energy_table(args.energy)
    check_seed(args)
    if not 0 <= args.epochs <= MAX_EPOCHS:
        raise AccelError(f"--epochs must be an integer in 0..{MAX_EPOCHS}, not {args.epochs}")
    from ..train.dense import Recipe
    from ..train.tradeoff import Settings, run_tradeoff

    recipe = Recipe(seed=args.seed)
    if not 1 <= args.images <= recipe.n_test:
        raise AccelError(
            f"--images must be in 1..{recipe.n_test} (the test split), not {args.images}"
        )
    check_outputs(args, ("tradeoff.png",))
    settings = Settings(seed=args.seed, epochs=args.epochs, images=args.images, recipe=recipe)
    start = time.perf_counter()

    def progress(done: int, total: int, what: str) -> None:
        if not args.quiet:
            step = f"{done}/{total} {what}" if what else f"{done}/{total} done"
            elapsed = time.perf_counter() - start
            print(f"tradeoff: [{elapsed:6.1f} s] {step}", file=sys.stderr, flush=True)

    body = run_tradeoff(config, settings, table=table, progress=progress)
    report = {"tool": TOOL_MARK, "version": __version__, "config": config.to_dict(), **body}
    emit(args, report, _tradeoff_table(report))
    if args.plot:
        from ..plots import plot_tradeoff

        path = plot_tradeoff(report, args.plot, force=args.force)
        if not args.quiet and args.json != "-":
            print(f"wrote {path}")
    return 0
