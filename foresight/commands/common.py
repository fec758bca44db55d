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


# Prefect's own loggers (client, server, runner) stay at WARNING; the run loggers, which carry each step's
# summary to the flow run page, log at INFO. MLflow's store messages ("Creating initial MLflow database
# tables") are not for a person at a terminal.
LOGGING_DEFAULTS = {
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}


def quiet_logging() -> None:
    """Logging levels for a `foresight` process (set before Prefect or MLflow is imported; the
    environment wins, so an operator can still ask for DEBUG)."""
    for name, value in LOGGING_DEFAULTS.items():
        os.environ.setdefault(name, value)


def share_cores() -> None:
    """OpenMP threads (LightGBM, the compiled kernels) sleep while they wait instead of spinning: on a machine
    whose cores are busy with other work, a spinning thread holds a core its partner needs, and a two-thread
    LightGBM fit ran 20x slower than with sleeping waits. Read once, when the OpenMP runtime loads."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an actionable error on one line (never wrapped) and return the Exit to raise. Code 2 is a
    user error (something to run or fix first), 1 a failure of the run itself."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


def require_bars(ctx, next_step: str = "`foresight ingest`") -> None:
    """Exit 2 with what to run when the warehouse is missing or holds no bars."""
    if not ctx.settings.duckdb_path.exists():
        raise fail(f"no warehouse at {ctx.settings.duckdb_path}: run {next_step} first (or `make demo`)", 2)
    ctx.warehouse.migrate()
    with ctx.warehouse.session(read_only=True) as con:
        n = con.execute("SELECT count(*) FROM bars").fetchall()[0][0]
    if not n:
        raise fail(f"the warehouse {ctx.settings.duckdb_path} holds no bars: run {next_step} first", 2)


def require_champion(ctx, model_name: str, train_command: str) -> str:
    """The champion version of `model_name`; exit 2 naming the training command when there is none."""
    from registry.core import alias_version

    version = alias_version(ctx.mlflow, model_name)
    if version is None:
        raise fail(f"no champion of {model_name} in the MLflow registry at {ctx.settings.mlflow.tracking_uri}: "
                   f"run `{train_command}` first", 2)
    return version


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Progress]:
    """A rich progress bar (quiet when stdout is not a terminal)."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=False, disable=not err_console.is_terminal,
    ) as progress:
        progress.add_task(description, total=total)
        yield progress
