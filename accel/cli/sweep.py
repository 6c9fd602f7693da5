"""``accel sweep``: every point of a design space on one or more workloads, into a
resumable store; ``--export`` writes the store as a CSV or Parquet table."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import AccelError
from .common import act_density, check_seed, flag_of, network_params

NAME = "sweep"
HELP = "simulate every point of a design space (resumable store, local pool or Dask)"
DESCRIPTION = """\
Simulate every point of a design space on one or more workloads.

SPACE.toml has [array] and [system] tables with the keys of a config file, each a
value, a list or a range { min = 4, max = 64, step = 4 } (scale = "log2": powers of
two), and a [sweep] table: balance (passes), energy (tables) and fpga (area targets).
clock_mhz, the energy table and the FPGA target price points after simulation: they
add no simulation. Results go to an SQLite store (--store, default sweep.db); a run
stopped at any moment (Ctrl-C, kill -9) and started again simulates only what the
store lacks.

  accel sweep --space space.toml --network resnet50 --network mobilenet_v2 \\
      --weight-density 0.2 --act-density 0.5 -j 2
  accel sweep --store sweep.db --export results.csv
  accel pareto --store sweep.db --plot out
"""


def add_workloads(p: argparse.ArgumentParser) -> None:
    """The workload flags of a sweep or a search (several of each allowed)."""
    p.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="NAME",
        help="built-in network (repeat for several): resnet50, mobilenet_v2, vgg16, bert_base",
    )
    p.add_argument(
        "--onnx",
        action="append",
        default=[],
        metavar="MODEL.onnx",
        help="an ONNX model with its own weights (repeat for several)",
    )
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="DATA.npy|DATA.npz",
        help="real activations of the --onnx models: one per model, in order (an .npz: "
        "one array per graph input name)",
    )
    p.add_argument("--batch", type=int, help="batch size (networks)")
    p.add_argument("--image", type=int, help="input image side (CNNs; default 224)")
    p.add_argument("--seq-len", type=int, help="sequence length (bert_base; default 128)")
    p.add_argument(
        "--weight-density",
        type=float,
        metavar="D",
        help="fraction of weights kept (networks; default 1.0)",
    )
    p.add_argument(
        "--pattern",
        default="unstructured",
        metavar="P",
        help="weight pattern: unstructured, N:M or channel",
    )
    p.add_argument(
        "--act-density",
        type=float,
        metavar="D",
        help="fraction of nonzero activations (default 1.0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sparsity generators")


def add_run_flags(p: argparse.ArgumentParser, store_help: str) -> None:
    p.add_argument("--store", default="sweep.db", metavar="FILE", help=store_help)
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="local worker processes (default: the CPU count)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this Dask distributed cluster (tcp://host:8786) instead",
    )
    p.add_argument("--quiet", action="store_true", help="no progress, no summary")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", metavar="SPACE.toml", help="the design space")
    add_workloads(p)
    add_run_flags(p, "the results store, SQLite (default sweep.db; made if missing)")
    p.add_argument(
        "--export",
        metavar="FILE.csv|FILE.parquet",
        help="write the store as a table (after the sweep, if --space is given)",
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite an --export file accel did not write"
    )


def workloads(args: argparse.Namespace) -> list:
    """The workloads the flags name, each checked now (not in a worker)."""
    from ..sweep.workload import network_workload, onnx_workload
    from ..workloads.sparsity import parse_pattern

    check_seed(args)
    if not args.network and not args.onnx:
        raise AccelError("give at least one workload: --network NAME or --onnx MODEL.onnx")
    if args.input and len(args.input) != len(args.onnx):
        raise AccelError(
            f"--input is given {len(args.input)} times for {len(args.onnx)} "
            "--onnx models; give one per model, in the same order"
        )
    act = act_density(args)
    out = []
    if args.network:
        weights = parse_pattern(args.pattern, args.weight_density)
        params = network_params(args)
        for name in args.network:
            try:
                out.append(network_workload(name, weights, act, args.seed, **params))
            except AccelError as err:
                raise AccelError(f"--network {name}: {err}") from None
    if args.onnx:
        if args.weight_density is not None or args.pattern != "unstructured":
            raise AccelError(
                "--weight-density and --pattern apply to --network only (an "
                "--onnx model is simulated with its own weights)"
            )
        if args.input and args.act_density is not None:
            raise AccelError("--act-density does not apply with --input (activations are real)")
        inputs = args.input or [None] * len(args.onnx)
        for path, data in zip(args.onnx, inputs, strict=True):
            from ..inputs import input_file

            input_file(path, "--onnx")
            if data is not None:
                input_file(data, "--input")
            out.append(onnx_workload(path, data, act, args.seed))
    names = [w.name for w in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise AccelError(f"workload {twice[0]} is named twice")
    return out


class Bar:
    """Points done, points simulated per second and the time left: one line redrawn on
    a terminal, otherwise a plain line every ``PLAIN_EVERY`` seconds."""

    PLAIN_EVERY = 10.0

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.start = time.monotonic()
        self.finished = False

    def __call__(self, done: int, total: int, simulated: int) -> None:
        final = done >= total
        if not self.enabled or self.finished:
            return
        self.finished = final
        now = time.monotonic()
        if not final and now - self.last < (0.1 if self.tty else self.PLAIN_EVERY):
            return
        self.last = now
        elapsed = now - self.start
        rate = simulated / elapsed if elapsed > 0 else 0.0
        todo = total - done
        left = f"{todo / rate:,.0f} s left" if rate > 0 and todo else ""
        frac = done / total if total else 1.0
        text = (
            f"{self.label} [{'#' * int(30 * frac):<30}] {done:,}/{total:,} "
            f"{rate:.1f} points/s {left}"
        )
        if self.tty:
            sys.stderr.write(f"\r{text:<96}" + ("\n" if final else ""))
        else:
            sys.stderr.write(text.rstrip() + "\n")
        sys.stderr.flush()


def remember_space(store: Any, path: str, space: Any, loads: list) -> None:
    """What ``accel pareto`` prices the stored points with: the space's clocks, energy
    tables and FPGA targets, and the workloads' names."""
    store.set_meta(
        "sweep",
        {
            "space": str(path),
            "clocks": space.clocks,
            "energy": space.energy,
            "fpga": space.fpga,
            "workloads": [w.name for w in loads],
        },
    )


def _summary_line(s: Any, store: str, held: int) -> str:
    parts = [f"{s.points:,} points"]
    if s.invalid:
        parts.append(f"{s.invalid:,} invalid and skipped (first: {s.first_invalid})")
    if s.failed:
        parts.append(f"{s.failed:,} refused by the simulator (first: {s.first_failed})")
    if s.stored:
        parts.append(f"{s.stored:,} already stored")
    rate = f"{s.rate:.2f} points/s" if s.evaluated else "nothing to simulate"
    parts.append(
        f"{s.evaluated:,} simulated in {s.seconds:.1f} s ({rate}, "
        f"{s.cached_layers:,} layers from the cache)"
    )
    return "; ".join(parts) + f". {store} holds {held:,} rows."


def run(args: argparse.Namespace) -> int:
    from ..outputs import check_writable
    from ..sweep.space import load_space
    from ..sweep.store import Store

    if args.space is None and args.export is None:
        raise AccelError("give --space SPACE.toml to sweep, or --export FILE to write the store")
    if args.export is not None:
        import os

        if os.path.realpath(args.export) == os.path.realpath(args.store):
            raise AccelError(f"--export {args.export}: is the --store itself; choose another path")
        check_writable(args.export, args.force, "--export")
    if args.space is None:
        for flag in ("network", "onnx", "input"):
            if getattr(args, flag):
                raise AccelError(f"{flag_of(flag)} needs --space SPACE.toml")
        return _export(args, Store(args.store, create=False))
    space = load_space(args.space)
    loads = workloads(args)
    from ..sweep.backends import make_backend
    from ..sweep.run import run_points

    with Store(args.store) as store:
        remember_space(store, args.space, space, loads)
        backend = make_backend(args.jobs, args.scheduler)
        bar = Bar(f"sweep {Path(args.space).name}", not args.quiet)

        def progress(s: Any, total: int) -> None:
            bar(s.stored + s.invalid + s.failed + s.evaluated, total, s.evaluated)

        if not args.quiet:
            print(
                f"accel sweep: {space.size:,} points x {len(loads)} workloads on {backend.name}",
                file=sys.stderr,
            )
        summary = run_points(
            space.designs(), loads, store, backend, total=space.size, progress=progress
        )
        if not args.quiet:
            print(_summary_line(summary, args.store, len(store)))
        if args.export is not None:
            return _export(args, store)
    return 0


def _export(args: argparse.Namespace, store: Any) -> int:
    from ..sweep.evaluate import simulator_version
    from ..sweep.export import export

    with store:
        meta = store.meta("sweep")
        if meta is None:
            raise AccelError(f"--store {args.store}: holds no sweep yet")
        rows = list(store.rows(simulator_version()))
        n = export(rows, meta, args.export)
    if not args.quiet:
        print(f"wrote {args.export} ({n:,} lines)")
    return 0
