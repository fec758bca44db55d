"""Where the parallel work runs: `InProcessExecutor` (each call here, in order) or `DaskExecutor` (calls as
Dask tasks on worker processes). Tuning trials and backfill chunks are written once against this seam.

The callers keep the one-writer rule themselves: a call returns plain results (rows, a trial number) and
the calling process writes them, so DuckDB is only ever opened by the driver."""

from __future__ import annotations

import atexit
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from executors.config import ExecutorSettings


class Executor(Protocol):
    """What tuning and backfills need from an executor."""

    distributed: bool
    """True when calls run in other processes (their arguments and results travel pickled)."""

    @property
    def workers(self) -> int:
        """How many calls can run at the same time."""
        ...

    @property
    def threads(self) -> int:
        """Threads one call may use (the `n_jobs` of its boosters); 0 = every core of the machine."""
        ...

    def share(self, value: Any) -> Any:
        """`value` made available to every call once (a large frame, a model); pass the result as an argument."""
        ...

    def run_unordered(self, fn: Callable[..., Any], calls: Iterable[tuple], *, name: str, retries: int = 0,
                      window: int | None = None) -> Iterator[tuple[int, Any]]:
        """(index, fn(*args)) for each args tuple of `calls`, in completion order. `calls` is read lazily:
        at most `window` calls are in flight, so a caller can load the next chunk only when it is needed."""
        ...


class InProcessExecutor:
    """Each call in this process, one after another: today's behaviour and the default."""

    distributed = False

    @property
    def workers(self) -> int:
        return 1

    @property
    def threads(self) -> int:
        return 0

    def share(self, value: Any) -> Any:
        return value

    def run_unordered(self, fn: Callable[..., Any], calls: Iterable[tuple], *, name: str = "task",
                      retries: int = 0, window: int | None = None) -> Iterator[tuple[int, Any]]:
        # No retries here: in one process an exception is the code's or the data's, and a re-run repeats it.
        for i, args in enumerate(calls):
            yield i, fn(*args)


class DaskExecutor:
    """Calls as `dask.distributed` tasks. A task whose worker dies is re-run elsewhere by the scheduler (up to
    `allowed-failures` deaths); a task that raises is re-run `retries` times; then its error is raised here."""

    distributed = True

    def __init__(self, client, cluster=None):
        self.client = client
        self.cluster = cluster

    @property
    def workers(self) -> int:
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))

    @property
    def threads(self) -> int:
        # A call gets its worker's threads, no more: workers sharing a machine must not oversubscribe it.
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return max(1, min((int(w.get("nthreads", 1)) for w in info.values()), default=1))

    def share(self, value: Any) -> Any:
        # One copy on every worker, sent once; tasks that take the future as an argument get the value.
        [future] = self.client.scatter([value], broadcast=True, hash=False)
        return future

    def run_unordered(self, fn: Callable[..., Any], calls: Iterable[tuple], *, name: str = "task",
                      retries: int = 0, window: int | None = None) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        token = uuid.uuid4().hex[:8]
        todo = iter(enumerate(calls))
        in_flight: dict[str, tuple[int, Any]] = {}
        done = as_completed()

        def submit_next() -> bool:
            try:
                i, args = next(todo)
            except StopIteration:
                return False
            future = self.client.submit(fn, *args, key=f"{name}-{token}-{i}", retries=retries, pure=False)
            in_flight[future.key] = (i, future)
            done.add(future)
            return True

        for _ in range(window or 2 * self.workers):
            if not submit_next():
                break
        try:
            for future in done:
                i, _ = in_flight.pop(future.key)
                result = future.result()  # the task's own exception (after retries), or KilledWorker
                future.release()
                submit_next()
                yield i, result
        finally:
            if in_flight:
                self.client.cancel([f for _, f in in_flight.values()])

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> process id (what a fault test kills)."""
        import os

        return self.client.run(lambda: os.getpid())

    def close(self) -> None:
        self.client.close(timeout=10)
        if self.cluster is not None:
            self.cluster.close(timeout=10)


_OPEN: dict[tuple, DaskExecutor] = {}


def open_executor(settings: ExecutorSettings) -> Executor:
    """The executor `settings` ask for. Dask ones are opened once per process and reused (a local cluster
    costs seconds to start); they close when the process exits."""
    if not settings.distributed:
        return InProcessExecutor()
    key = (settings.scheduler_address, settings.local_workers, settings.threads_per_worker)
    found = _OPEN.get(key)
    if found is not None and found.client.status == "running":
        return found
    _OPEN[key] = executor = _start_dask(settings)
    atexit.register(executor.close)
    return executor


def close_executors() -> None:
    """Close every Dask executor this process opened (clients, and the local clusters it started)."""
    while _OPEN:
        _, executor = _OPEN.popitem()
        executor.close()


def _start_dask(settings: ExecutorSettings) -> DaskExecutor:
    import logging

    import dask
    from distributed import Client, LocalCluster

    if settings.scheduler_address:
        return DaskExecutor(Client(settings.scheduler_address, timeout="30s"))
    # The scheduler of a local cluster lives in this process and reads `allowed-failures` when it starts.
    with dask.config.set({"distributed.scheduler.allowed-failures": settings.allowed_failures}):
        cluster = LocalCluster(n_workers=settings.local_workers, threads_per_worker=settings.threads_per_worker,
                               processes=True, host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR)
    return DaskExecutor(Client(cluster), cluster)


__all__ = ["DaskExecutor", "Executor", "InProcessExecutor", "close_executors", "open_executor"]
