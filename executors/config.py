"""Settings of the executor seam: where tuning trials and backfill chunks run."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ExecutorSettings(BaseModel):
    """In this process (the default, what `make demo` uses), on a local Dask cluster started for the run, or
    on an existing Dask scheduler. `scheduler_address` wins over `local_workers`."""

    model_config = ConfigDict(frozen=True)

    scheduler_address: str | None = None
    """An existing Dask scheduler, e.g. `tcp://10.0.0.5:8786`; its workers must import this code."""
    local_workers: int = Field(0, ge=0)
    """> 0: start a local Dask cluster with this many worker processes (one thread each) on first use."""
    threads_per_worker: int = Field(1, ge=1)
    """Threads of each local worker; boosters use `signals.n_jobs` threads inside each task."""
    chunk_retries: int = Field(2, ge=0)
    """Re-runs of a backfill chunk that raised (a chunk on a worker that died is re-run by Dask anyway)."""
    allowed_failures: int = Field(3, ge=0)
    """Worker deaths one task may see before it is given up (Dask's `allowed-failures`, local clusters)."""

    @property
    def distributed(self) -> bool:
        return self.scheduler_address is not None or self.local_workers > 0


__all__ = ["ExecutorSettings"]
