"""Multi-objective search of a space too large to enumerate: Optuna's NSGA-II over the
space's axes (the clock too: it costs no simulation), minimising energy per run,
latency and FPGA area, with the area budget as a constraint.

Every simulated point goes into the same store as a sweep's, through the same
coordinator rules (only this process writes, rows as they come back); a point the store
already holds is not simulated again, and with ``warm_start`` every stored design of
the space is told to the study before it asks for anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AccelError
from .backends import Backend
from .derive import per_design, priced
from .evaluate import evaluate, simulator_version
from .space import Design, Space
from .store import Store
from .workload import Workload

__all__ = ["SearchResult", "run_search"]

CLOCK = "system.clock_mhz"


@dataclass
class SearchResult:
    trials: int = 0  # evaluations asked for and told
    warm: int = 0  # stored designs told before the first ask
    simulated: int = 0  # designs simulated now
    infeasible: int = 0  # over the area budget
    invalid: int = 0  # combinations the config refuses
    seconds: float = 0.0
    points: list[tuple[float, float, float]] = field(default_factory=list)  # feasible, in order
    history: list[tuple[tuple[float, float, float], bool]] = field(default_factory=list)
    """Every told trial in order: its objectives and whether it was within the budget."""


def _distributions(space: Space) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution

    axes = {**space.axes, CLOCK: space.clocks}
    return {name: CategoricalDistribution(values) for name, values in axes.items()}


def run_search(
    space: Space,
    workloads: list[Workload],
    store: Store,
    backend: Backend,
    *,
    trials: int,
    budget: float = 1.0,
    seed: int = 0,
    population: int = 50,
    warm_start: bool = True,
    sampler: str = "nsga2",
    progress: Callable[[SearchResult, int], None] | None = None,
) -> SearchResult:
    """Ask, evaluate and tell ``trials`` points (``sampler``: ``nsga2`` or ``random``,
    the baseline); a design over ``budget`` (its scarcest resource's share of the first
    FPGA target) is infeasible."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "nsga2":
        chosen = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    elif sampler == "random":
        chosen = optuna.samplers.RandomSampler(seed=seed)
    else:
        raise AccelError(f"sampler must be nsga2 or random, not {sampler!r}")
    study = optuna.create_study(directions=["minimize"] * 3, sampler=chosen)
    dists = _distributions(space)
    version = simulator_version()
    names = [w.name for w in workloads]
    energy, target = space.energy[0], space.fpga[0]
    rows: dict[str, dict[str, dict]] = {}  # design key -> workload key -> row
    for row in store.rows(version):
        rows.setdefault(row["design_key"], {})[row["workload_key"]] = row
    result = SearchResult()
    start = time.perf_counter()

    def objectives(design: Design, clock: float) -> tuple[tuple[float, float, float], float]:
        held = rows[design.key]
        mine = [held[w.key] for w in workloads]
        (d,) = per_design(priced(mine, [clock], [energy], [target]), names)
        return (d["energy_uj"], d["latency_ms"], d["area"]), d["area"] - budget

    def told(values: tuple[float, float, float], excess: float) -> None:
        result.history.append((values, excess <= 0))
        if excess > 0:
            result.infeasible += 1
        else:
            result.points.append(values)

    if warm_start:
        # as NSGA-II's first generation (a GA sampler reads its generation from this key)
        attrs = {chosen._get_generation_key(): 0} if sampler == "nsga2" else {}
        result.warm = _warm(study, space, dists, rows, workloads, objectives, attrs)

    pending: dict[Any, tuple[Design, list[tuple[Any, float]]]] = {}  # future -> waiting
    running: dict[str, Any] = {}  # design key -> its future: a design is simulated once
    limit = 2 * backend.workers
    asked = 0

    def tell(trial: Any, design: Design, clock: float) -> None:
        values, excess = objectives(design, clock)
        trial.set_constraint("area", excess)
        study.tell(trial, values)
        told(values, excess)
        result.trials += 1

    try:
        while asked < trials or pending:
            while asked < trials and len(pending) < limit:
                trial = study.ask(dists)
                asked += 1
                choice = dict(trial.params)
                clock = choice.pop(CLOCK)
                try:
                    design = space.design(choice)
                except AccelError:
                    result.invalid += 1
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                if design.key in running:
                    pending[running[design.key]][1].append((trial, clock))
                    continue
                missing = [w for w in workloads
                           if w.key not in rows.get(design.key, {})]  # fmt: skip
                if not missing:
                    tell(trial, design, clock)
                    continue
                future = backend.submit(evaluate, design, missing, version)
                pending[future] = (design, [(trial, clock)])
                running[design.key] = future
            for future in backend.done(pending) if pending else ():
                design, waiting = pending.pop(future)
                del running[design.key]
                try:
                    new = future.result()
                except AccelError:
                    result.invalid += len(waiting)
                    for trial, _ in waiting:
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                store.add(new)
                result.simulated += 1
                for row in new:
                    rows.setdefault(design.key, {})[row["workload_key"]] = row
                for trial, clock in waiting:
                    tell(trial, design, clock)
            if progress:
                result.seconds = time.perf_counter() - start
                progress(result, trials)
    except BaseException:
        backend.close(cancel=True)
        raise
    backend.close()
    result.seconds = time.perf_counter() - start
    return result


def _warm(study, space: Space, dists, rows, workloads, objectives, attrs) -> int:
    """Tell the study every stored design that lies in the space, at each clock."""
    import optuna

    told = 0
    for held in rows.values():
        if any(w.key not in held for w in workloads):
            continue
        params = next(iter(held.values()))["params"]
        choice = {}
        for axis in space.axes:
            table, key = axis.split(".", 1)
            value = params["balance"] if table == "sweep" else params[table][key]
            if value not in space.axes[axis]:
                break
            choice[axis] = value
        else:
            design = space.design(choice)
            if design.params() != params:
                continue  # a key the space does not list has another value
            for clock in space.clocks:
                values, excess = objectives(design, clock)
                study.add_trial(optuna.trial.create_trial(
                    params={**choice, CLOCK: clock}, distributions=dists, values=values,
                    constraints={"area": excess}, system_attrs=dict(attrs)))  # fmt: skip
                told += 1
    return told
