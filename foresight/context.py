"""Composition root helpers: build Settings once and the adapters they configure."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from executors import Executor, open_executor
from foresight.settings import Settings
from registry.core import MLflowTarget
from stores.warehouse import Warehouse


@dataclass
class AppContext:
    """Everything a command needs, built from one Settings."""

    settings: Settings

    @cached_property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings.duckdb_path)

    @cached_property
    def mlflow(self) -> MLflowTarget:
        m = self.settings.mlflow
        return MLflowTarget(m.tracking_uri, m.artifact_root, m.experiment_prefix)

    @cached_property
    def executor(self) -> Executor:
        """Where tuning trials and backfill chunks run (in this process unless settings name Dask)."""
        return open_executor(self.settings.executor)

    def __getstate__(self) -> dict:
        # The executor is a live connection of this process (Prefect pickles task inputs to hash them): a
        # copied context opens its own when it needs one.
        return {k: v for k, v in self.__dict__.items() if k != "executor"}


def build_context(**overrides) -> AppContext:
    return AppContext(settings=Settings(**overrides))
