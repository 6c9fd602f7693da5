"""How fast a sweep runs against the simulator alone, and how close NSGA-II gets to the
exhaustive Pareto front, from one run on this machine.

Why this exists: a design-space sweep is only as fast as its orchestration lets it be.
The ideal is the simulator's own time per point spread over the workers; everything
else (process start-up, pickling, the store's writes, the coordinator) is overhead.
Targets (issue "design-space exploration"): at least 90 % of the ideal rate on 2
cores, at most 5 ms of overhead per point, and NSGA-II reaching at least 0.98 of the
exhaustive front's hypervolume within 1,000 evaluations, above random search with the
same budget (median of 5 seeds).

Part 1 sweeps ``--points`` designs (default 96) of pruned ResNet-50 (80 % of weights pruned,
activations at 0.5, 224x224) in this process, on 1 and 2 local worker processes and
on a 2-worker Dask ``LocalCluster``, each into a fresh store with cold caches. The
ideal rate of a run is ``workers / (the simulator's seconds per point in this
process)``; the overhead is what a worker spends per point beyond its own simulator
time (as it measured inside ``evaluate``), in the steady state.

Part 2 enumerates a grid small enough to sweep whole (ResNet-50 at 64x64, 80 %
sparse; ECP5-85k area as the constraint; clocks as free choices), then runs NSGA-II
and random search against the same store without warm start (their evaluations are
lookups, so only the search itself is timed) and compares hypervolumes in objectives
normalised by the exhaustive feasible set's range, reference 1.1 in each.

Run ``.venv/bin/python bench/sweep_speed.py`` (about 12 minutes on 2 cores, most of it
the exhaustive grid of part 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from accel.sweep.backends import Dask, Inline, LocalPool
from accel.sweep.derive import per_design, priced
from accel.sweep.evaluate import simulator_version
from accel.sweep.pareto import hypervolume, non_dominated
from accel.sweep.run import run_points
from accel.sweep.search import run_search
from accel.sweep.space import load_space
from accel.sweep.store import Store
from accel.sweep.workload import network_workload
from accel.workloads.sparsity import WeightSparsity

SPEED_SPACE = """
[array]
rows = [8, 16, 24, 32]
cols = [8, 16]
queue_depth = [2, 4, 8]
lanes = [1, 2]
[sweep]
balance = ["none", "auto"]
"""

SEARCH_SPACE = """
[array]
rows = { min = 2, max = 32, step = 2 }
cols = [2, 4, 8, 16, 32]
queue_depth = [2, 4, 8]
lanes = [1, 2, 4]
[system]
clock_mhz = [100, 150, 200, 250]
[sweep]
balance = ["none", "sort", "auto"]
fpga = ["ecp5-85k"]
"""


def _space(text: str, directory: Path):
    path = directory / f"space-{abs(hash(text))}.toml"
    path.write_text(text)
    return load_space(path)


def part_speed(points: int, directory: Path) -> None:
    space = _space(SPEED_SPACE, directory)
    designs = [d for d in space.designs() if not isinstance(d, Exception)][:points]
    work = [network_workload("resnet50", WeightSparsity("unstructured", 0.2), 0.5, 1)]
    print(f"Part 1: {len(designs)} designs of ResNet-50 (80 % pruned, act 0.5), "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'backend':<30} {'wall s':>6} {'points/s':>8} {'steady/s':>8} {'sim s/pt':>8} "
          f"{'ideal/s':>7} {'of ideal':>8} {'of alone':>8} {'overhead ms/pt':>14} "
          f"{'start-up s':>10}")  # fmt: skip

    def backends():
        yield "this process (inline)", 1, Inline
        yield "local pool, 1 process", 1, lambda: LocalPool(1)
        yield "local pool, 2 processes", 2, lambda: LocalPool(2)
        yield "Dask LocalCluster, 2 workers", 2, _dask

    alone = None  # the simulator's own seconds per point, in this process: the ideal
    for name, workers, make in backends():
        store_path = directory / f"speed-{name.split()[0]}-{workers}.db"
        t = time.perf_counter()
        backend = make()  # started before the clock: a cluster or pool is set up once
        backend.start()
        startup = time.perf_counter() - t
        marks: list[tuple[float, int, float]] = []

        def mark(summary, total, marks=marks):
            marks.append((time.perf_counter(), summary.evaluated, summary.simulated_seconds))

        with Store(store_path) as store:
            start = time.perf_counter()
            s = run_points(designs, work, store, backend, total=len(designs), progress=mark)
            wall = time.perf_counter() - start
        if isinstance(backend, Dask):
            backend.cluster.close()
        per_point = s.simulated_seconds / s.evaluated
        alone = alone or per_point
        rate = s.evaluated / wall
        # steady state: after the first wave is back, before the last ones drain
        done = [m for m in marks if workers <= m[1] <= len(designs) - 2 * workers]
        (t0, e0, s0), (t1, e1, s1) = done[0], done[-1]
        steady = (e1 - e0) / (t1 - t0)
        own = (s1 - s0) / (e1 - e0)  # the workers' simulator seconds per point, steady
        ideal = workers / own
        overhead = (workers / steady - own) * 1e3
        print(f"{name:<30} {wall:>6.1f} {rate:>8.2f} {steady:>8.2f} {per_point:>8.3f} "
              f"{ideal:>7.2f} {steady / ideal:>8.1%} {steady / (workers / alone):>8.1%} "
              f"{overhead:>14.1f} {startup:>10.1f}")  # fmt: skip
    print("ideal: workers / the simulator's own seconds per point, as the workers measured"
          " it in that run (steady); of alone: against the first line's simulator running "
          "alone (two at once on 2 cores slow each other: compare sim s/pt);"
          " steady: points per second after the first wave returned and before the last "
          "drained; overhead: a worker's seconds per point beyond its own simulator time, "
          "steady; start-up (making the pool or cluster, importing the simulator in every "
          "worker) is once per sweep and not in the wall time\n")  # fmt: skip


def _dask() -> Dask:
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)  # fmt: skip
    backend = Dask(cluster.scheduler_address)
    backend.cluster = cluster
    return backend


def _normalise(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return (points - lo) / np.where(hi > lo, hi - lo, 1.0)


def part_search(seeds: int, budgets: list[int], jobs: int, directory: Path) -> None:
    space = _space(SEARCH_SPACE, directory)
    work = [network_workload("resnet50", WeightSparsity("unstructured", 0.2), 0.5, 1,
                             image=64)]  # fmt: skip
    store_path = directory / "search.db"
    with Store(store_path) as store:
        start = time.perf_counter()
        backend = LocalPool(jobs) if jobs > 1 else Inline()
        s = run_points(space.designs(), work, store, backend, total=space.size)
        print(f"Part 2: exhaustive grid of {space.size:,} designs x {len(space.clocks)} "
              f"clocks = {space.size * len(space.clocks):,} choices (ResNet-50 at 64x64, "
              f"80 % pruned), {s.invalid} invalid; swept in "
              f"{time.perf_counter() - start:.0f} s on {jobs} processes")  # fmt: skip
        rows = list(store.rows(simulator_version()))
        designs = per_design(priced(rows, space.clocks, ["default"], ["ecp5-85k"]),
                             [work[0].name])  # fmt: skip
        feasible = np.array([[d["energy_uj"], d["latency_ms"], d["area"]]
                             for d in designs if d["fits"]])  # fmt: skip
        lo, hi = feasible.min(axis=0), feasible.max(axis=0)
        ref = np.full(3, 1.1)
        best = hypervolume(_normalise(feasible, lo, hi), ref)
        front = int(non_dominated(feasible).sum())
        print(f"  {len(feasible):,} of {len(designs):,} choices fit ECP5-85k; exhaustive "
              f"front {front} points, normalised hypervolume {best:.4f} "
              "(reference 1.1)")  # fmt: skip

        def fraction(history, n: int) -> float:
            pts = np.array([v for v, ok in history[:n] if ok])
            return hypervolume(_normalise(pts, lo, hi), ref) / best if len(pts) else 0.0

        table: dict[str, dict[int, list[float]]] = {"nsga2": {}, "random": {}}
        times: dict[str, list[float]] = {"nsga2": [], "random": []}
        for sampler in table:
            for seed in range(seeds):
                t = time.perf_counter()
                r = run_search(space, work, store, Inline(), trials=max(budgets), seed=seed,
                               warm_start=False, sampler=sampler)  # fmt: skip
                times[sampler].append((time.perf_counter() - t) / r.trials * 1e3)
                assert r.simulated == 0  # every choice is stored: the search alone is timed
                for n in budgets:
                    table[sampler].setdefault(n, []).append(fraction(r.history, n))
        print(f"  hypervolume / exhaustive, median of {seeds} seeds (min..max):")
        print(f"  {'evaluations':>11} " + " ".join(f"{s:>20}" for s in table))
        for n in budgets:
            cells = []
            for sampler in table:
                v = table[sampler][n]
                cells.append(f"{statistics.median(v):.4f} ({min(v):.3f}..{max(v):.3f})")
            print(f"  {n:>11} " + " ".join(f"{c:>20}" for c in cells))
        for sampler, ms in times.items():
            print(f"  {sampler}: {statistics.median(ms):.2f} ms of search per evaluation")
        n = max(budgets)
        ratio = statistics.median(table["nsga2"][n]) / statistics.median(table["random"][n])
        print(f"  at {n} evaluations NSGA-II reaches "
              f"{statistics.median(table['nsga2'][n]):.4f} of the exhaustive hypervolume, "
              f"{ratio:.3f}x random search's")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=96, help="designs in part 1 (default 96)")
    p.add_argument("--seeds", type=int, default=5, help="search seeds in part 2 (default 5)")
    p.add_argument("--jobs", type=int, default=2, help="processes for the exhaustive grid")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-search", action="store_true")
    args = p.parse_args()
    print(f"simulator {simulator_version()}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_speed:
            part_speed(args.points, Path(tmp))
        if not args.skip_search:
            part_search(args.seeds, [250, 500, 1000], args.jobs, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
