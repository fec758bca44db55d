"""`foresight monitor`: drift and calibration reports by hand."""

from __future__ import annotations

import datetime as dt
import json

import typer

from foresight.commands.common import console, fail


def monitor(
    date: str | None = typer.Option(None, "--date", help="monitoring date YYYY-MM-DD (default: latest scored date)"),
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON"),
) -> None:
    """Evidently drift + calibration reports for the scored models and forecast coverage; exit 4 on ALERT."""
    from rich.table import Table

    from foresight.context import build_context
    from monitoring.service import run_monitor

    try:
        day = dt.date.fromisoformat(date) if date else None
    except ValueError as exc:
        raise fail(f"--date must be YYYY-MM-DD, got {date!r}", 2) from exc
    ctx = build_context()
    with console.status("monitoring: building Evidently reports"):
        result = run_monitor(ctx, day)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        if not result.runs:
            console.print("nothing to monitor yet: no signals and no forecast evaluations in the warehouse")
            return
        t = Table(title=f"monitoring {result.date}: {result.status}")
        for col in ("model", "version", "status", "findings", "report"):
            t.add_column(col)
        colour = {"OK": "green", "WARN": "yellow", "ALERT": "bold red"}
        for r in result.runs:
            t.add_row(r.model, r.version, f"[{colour[r.status]}]{r.status}[/]", "\n".join(r.reasons) or "-",
                      r.report_path or r.json_path or "-")
        console.print(t)
        console.print(
            f"history: evidently ui --workspace {ctx.settings.home / ctx.settings.monitoring.workspace_dirname}"
        )
    if result.status == "ALERT":
        raise typer.Exit(4)
