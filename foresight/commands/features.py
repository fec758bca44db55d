"""`foresight features`: update (or rebuild) the feature sets and labels in the warehouse."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from foresight.commands.common import console, fail, progress_bar
from foresight.context import build_context


def features(
    full: bool = typer.Option(False, "--full", help="rebuild every set and the labels from scratch"),
    as_json: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
) -> None:
    """Compute point-in-time features (Alpha158 + market context) and labels; incremental unless --full."""
    from features import run_features

    ctx = build_context()
    s = ctx.settings
    if not ctx.warehouse.path.exists():
        raise fail(f"no warehouse at {ctx.warehouse.path}: run `foresight ingest` first", 2)
    ctx.warehouse.migrate()
    with ctx.warehouse.session() as con:
        n_bars = con.execute("SELECT count(*) FROM bars").fetchall()[0][0]
    if not n_bars:
        raise fail("the bars table is empty: run `foresight ingest` first", 2)
    with progress_bar("features " + ("full rebuild" if full else "incremental"), None):
        summary = run_features(ctx.warehouse, s.features, full=full)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2, default=str))
        return
    t = Table(title=f"features run {summary.run_id} ({summary.mode}) in {summary.seconds:.2f} s")
    for col in ("set", "mode", "symbols", "rows", "from", "seconds"):
        t.add_column(col)
    for name, info in summary.sets.items():
        t.add_row(name, info["mode"], f"{info['symbols']:,}", f"{info['rows']:,}", str(info.get("target_from") or "-"),
                  f"{info['seconds']:.2f}")
    t.add_row("labels", summary.label_mode, "", f"{summary.label_rows:,}", "", "")
    console.print(t)
    if summary.corrections:
        console.print(summary.corrections)
    for line in summary.unavailable_lines:
        console.print(f"[yellow]unavailable[/] {line}")
