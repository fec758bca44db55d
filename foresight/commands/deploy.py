"""`foresight deploy`: serve the Prefect deployments with their cron schedules."""

from __future__ import annotations

import os

import typer

from foresight.commands.common import console


def deploy(
    source: str = typer.Option("sample", "--source", help="nightly ingest source: sample | csv | alphavantage | none"),
    path: str | None = typer.Option(None, "--path", help="csv source: directory or file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the deployments and schedules, serve nothing"),
) -> None:
    """Register `nightly` (weekdays 17:30 New York), `train-signals` (weekly) and `monitor` (daily) with the
    Prefect API and run their schedules while this process lives. With a server (`prefect server start`,
    then PREFECT_API_URL=http://127.0.0.1:4200/api) they show in the Prefect UI with their schedules."""
    from rich.table import Table

    from flows.deploy import SCHEDULES, TIMEZONE, serve_deployments

    t = Table(title=f"Prefect deployments (cron in {TIMEZONE})")
    for col in ("flow", "deployment", "cron", "when"):
        t.add_column(col)
    for s in SCHEDULES:
        t.add_row(s.flow, s.name, s.cron, s.description)
    console.print(t)
    console.print(f"nightly ingests from: {source}" + (f" ({path})" if path else ""))
    if dry_run:
        return
    console.print("serving; Ctrl-C to stop")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    serve_deployments(nightly_source=source, nightly_path=path)


def serve(
    source: str = typer.Option("sample", "--source", help="nightly ingest source: sample | csv | alphavantage | none"),
    path: str | None = typer.Option(None, "--path", help="csv source: directory or file"),
) -> None:
    """Keep the schedules running: register the deployments with the Prefect API (PREFECT_API_URL) and run
    each scheduled or UI-started flow run in a subprocess until stopped. Run it under a supervisor
    (systemd, tmux, nohup) beside `prefect server start`; docs/runbooks/schedules.md has the commands."""
    deploy(source=source, path=path, dry_run=False)
