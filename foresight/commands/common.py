"""Shared CLI plumbing: console, context, clean error exits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=False)
err_console = Console(stderr=True)


def quiet_telemetry() -> None:
    """The machines are offline: keep MLflow, Evidently and Prefect from phoning home."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's ephemeral API gives up after 20 s; on a busy 2-core machine it can take longer to start.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def share_cores() -> None:
    """OpenMP threads (LightGBM, the compiled kernels) sleep while they wait instead of spinning: on a machine
    whose cores are busy with other work, a spinning thread holds a core its partner needs, and a two-thread
    LightGBM fit ran 20x slower than with sleeping waits. Read once, when the OpenMP runtime loads."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an actionable error and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Progress]:
    """A rich progress bar (quiet when stdout is not a terminal)."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=False, disable=not err_console.is_terminal,
    ) as progress:
        progress.add_task(description, total=total)
        yield progress
