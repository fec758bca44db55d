"""`foresight demo`: every capability end to end on the sample source."""

from __future__ import annotations

import typer

from foresight.commands.common import console


def demo(
    n_symbols: int = typer.Option(50, "--n-symbols", help="sample universe size"),
    n_years: float = typer.Option(10.0, "--years", help="years of sample history"),
) -> None:
    """Ingest the sample market, then run each pipeline step that exists, and print the status."""
    from foresight.commands.data import ingest, status

    console.rule("[bold]1. ingest the sample market")
    ingest(source=__import__("foresight.commands.data", fromlist=["SourceName"]).SourceName.sample, path=None, symbols=None, n_symbols=n_symbols, n_years=n_years, variant="default")
    # Later steps (features, train, score, backtest, ...) join here as they land.
    console.rule("[bold]status")
    status(as_json=False)
