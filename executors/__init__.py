"""Executors: where tuning trials and backfill chunks run (in this process by default, or on Dask workers).

A caller hands `run_unordered` a pure function and its argument tuples and writes the results itself, so
the warehouse keeps one writer whichever executor ran the calls."""

from executors.config import ExecutorSettings
from executors.core import DaskExecutor, Executor, InProcessExecutor, close_executors, open_executor

__all__ = ["DaskExecutor", "Executor", "ExecutorSettings", "InProcessExecutor", "close_executors", "open_executor"]
