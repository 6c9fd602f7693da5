"""Where points are evaluated: in this process, a local process pool, or an existing
Dask distributed cluster. Each backend only submits a call and says which calls are
done; the coordinator (``run``) bounds how many are in flight and alone writes the
store. No scheduler of our own: ``concurrent.futures`` or Dask's."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal
from collections.abc import Callable, Collection
from typing import Any

from ..errors import AccelError

__all__ = ["Backend", "Inline", "LocalPool", "Dask", "make_backend"]


class Backend:
    """``submit(fn, *args)`` -> a future; ``done(futures)`` blocks until one is done."""

    workers: int = 1
    name: str = ""

    def submit(self, fn: Callable, *args: Any) -> Any:
        raise NotImplementedError

    def done(self, futures: Collection[Any]) -> set[Any]:
        raise NotImplementedError

    def start(self) -> None:
        """Have every worker import the simulator now (a benchmark times it apart)."""
        _import_simulator()

    def close(self, cancel: bool = False) -> None:
        pass


def _import_simulator(hold: float = 0.0) -> None:
    import time

    from . import evaluate  # noqa: F401 - numpy and the simulator, imported once per worker

    time.sleep(hold)


class _Finished:
    """A call already made (the inline backend's future)."""

    def __init__(self, fn: Callable, args: tuple) -> None:
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)


class Inline(Backend):
    """One worker: this process, each call made when its result is asked for."""

    name = "this process"

    def submit(self, fn: Callable, *args: Any) -> _Finished:
        return _Finished(fn, args)

    def done(self, futures: Collection[Any]) -> set[Any]:
        return {next(iter(futures))}


def _ignore_sigint() -> None:
    """Ctrl-C reaches the whole process group: the coordinator stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalPool(Backend):
    def __init__(self, jobs: int) -> None:
        self.workers, self.name = jobs, f"{jobs} local processes"
        # spawn: a worker never inherits the coordinator's threads, locks or store handle
        self.pool = cf.ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint
        )

    def start(self) -> None:
        # each call holds its worker a moment, so that every process is started
        cf.wait([self.pool.submit(_import_simulator, 0.5) for _ in range(self.workers)])

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        return self.pool.submit(fn, *args)

    def done(self, futures: Collection[Any]) -> set[Any]:
        finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return set(finished)

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)


class Dask(Backend):
    """An existing cluster (``tcp://host:8786``) or a ``distributed.Client`` given."""

    def __init__(self, address: Any) -> None:
        try:
            from distributed import Client
        except ImportError as err:
            raise AccelError(f"--scheduler needs Dask distributed: {err}") from None
        if isinstance(address, Client):
            self.client, self.owned = address, False
        else:
            try:
                self.client, self.owned = Client(address, timeout="10s"), True
            except (OSError, TimeoutError, ValueError) as err:
                raise AccelError(f"--scheduler {address}: cannot connect ({err})") from None
        threads = self.client.nthreads()
        if not threads:
            raise AccelError(f"--scheduler {address}: the cluster has no worker")
        self.workers = sum(threads.values())
        self.name = f"Dask at {self.client.scheduler.address} ({self.workers} threads)"
        self.futures: set[Any] = set()

    def start(self) -> None:
        self.client.run(_import_simulator)

    def submit(self, fn: Callable, *args: Any) -> Any:
        future = self.client.submit(fn, *args, pure=False)
        self.futures.add(future)
        return future

    def done(self, futures: Collection[Any]) -> set[Any]:
        from distributed import wait

        finished = set(wait(list(futures), return_when="FIRST_COMPLETED").done)
        self.futures -= finished
        return finished

    def close(self, cancel: bool = False) -> None:
        if cancel and self.futures:
            self.client.cancel(list(self.futures))
        if self.owned:
            self.client.close()


def make_backend(jobs: int | None, scheduler: Any = None) -> Backend:
    """``scheduler``: a Dask address (or client); else ``jobs`` local processes."""
    if scheduler is not None:
        if jobs is not None:
            raise AccelError("-j applies to the local pool; a Dask cluster has its workers")
        return Dask(scheduler)
    import os

    if jobs is None:
        jobs = os.cpu_count() or 1
    if not 1 <= jobs <= 256:
        raise AccelError(f"-j must be an integer in 1..256, not {jobs}")
    return Inline() if jobs == 1 else LocalPool(jobs)
