"""The coordinator of a sweep: skip what the store holds, keep a bounded number of
points in flight on the backend, and write finished rows in batches.

Rows are written as they come back: every call that finds finished points writes
them as one batch (one transaction), so a run killed at any moment loses only the
points in flight. Ctrl-C (or SIGTERM) stops submitting, cancels what has not started,
writes every row that came back and re-raises: a second run picks up where this one
stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import AccelError
from .backends import Backend
from .evaluate import evaluate, row_key, simulator_version
from .space import Design
from .store import Store
from .workload import Workload

__all__ = ["Summary", "run_points"]


@dataclass
class Summary:
    """What one run did."""

    points: int = 0  # designs asked for
    invalid: int = 0  # combinations the config refuses
    stored: int = 0  # designs whose every row the store already held
    evaluated: int = 0  # designs simulated now
    rows: int = 0  # rows written now
    seconds: float = 0.0
    simulated_seconds: float = 0.0  # the workers' own time in the simulator
    cached_layers: int = 0
    first_invalid: str | None = None
    failed: int = 0  # designs the simulator refused
    first_failed: str | None = None
    rows_out: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.evaluated / self.seconds if self.seconds else 0.0


class _Writer:
    """Rows buffered until the next flush, by this (the only writing) process."""

    def __init__(self, store: Store, keep: bool) -> None:
        self.store, self.keep = store, keep
        self.buffer: list[dict[str, Any]] = []
        self.kept: list[dict[str, Any]] = []

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.buffer.extend(rows)
        if self.keep:
            self.kept.extend(rows)

    def flush(self) -> int:
        written = self.store.add(self.buffer)
        self.buffer = []
        return written


def run_points(
    designs: Iterable[Design | AccelError],
    workloads: list[Workload],
    store: Store,
    backend: Backend,
    *,
    total: int | None = None,
    progress: Callable[[Summary, int], None] | None = None,
    keep_rows: bool = False,
    in_flight: int | None = None,
) -> Summary:
    """Evaluate every design on every workload that the store does not hold yet.

    ``progress(summary, total)`` is told after each design; ``keep_rows`` also returns
    the rows written (the search reads them). At most ``in_flight`` designs (default:
    twice the backend's workers) are submitted and not yet back.
    """
    version = simulator_version()
    held = store.keys()
    summary = Summary()
    writer = _Writer(store, keep_rows)
    limit = in_flight or 2 * backend.workers
    pending: dict[Any, None] = {}
    start = time.perf_counter()

    def collect(block: bool) -> None:
        if not pending or (not block and len(pending) < limit):
            return
        for future in backend.done(pending):
            del pending[future]
            try:
                rows = future.result()
            except AccelError as err:  # this point cannot be simulated (too large, say)
                summary.failed += 1
                summary.first_failed = summary.first_failed or str(err)
                continue
            summary.evaluated += 1
            summary.rows += len(rows)
            summary.simulated_seconds += sum(r["seconds"] for r in rows)
            summary.cached_layers += sum(r["cached_layers"] for r in rows)
            writer.add(rows)
        writer.flush()
        if progress:
            summary.seconds = time.perf_counter() - start
            progress(summary, total or summary.points)

    try:
        for design in _todo(designs, workloads, held, version, summary):
            if design is None:  # held or invalid: nothing to run
                if progress:
                    progress(summary, total or summary.points)
                continue
            d, missing = design
            pending[backend.submit(evaluate, d, missing, version)] = None
            collect(block=False)
        while pending:
            collect(block=True)
    except BaseException:
        backend.close(cancel=True)
        writer.flush()
        raise
    writer.flush()
    backend.close()
    summary.seconds = time.perf_counter() - start
    summary.rows_out = writer.kept
    return summary


def _todo(
    designs: Iterable[Design | AccelError],
    workloads: list[Workload],
    held: set[str],
    version: str,
    summary: Summary,
) -> Iterator[tuple[Design, list[Workload]] | None]:
    for design in designs:
        summary.points += 1
        if isinstance(design, AccelError):
            summary.invalid += 1
            summary.first_invalid = summary.first_invalid or design.message
            yield None
            continue
        missing = [w for w in workloads if row_key(design.key, w.key, version) not in held]
        if not missing:
            summary.stored += 1
            yield None
            continue
        yield design, missing
