"""`foresight demo`: every capability end to end on the sample source."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from foresight.commands.common import console, fail


def _run(argv: list[str]) -> None:
    """Run one `foresight` command in this process (exceptions and non-zero exits propagate)."""
    from foresight.cli import app

    try:
        app(argv, standalone_mode=False)
    except typer.Exit as exc:
        if exc.exit_code:
            raise


def _backfill_window(n_sessions: int) -> tuple[str, str]:
    """The first and last of the last `n_sessions` stored sessions."""
    from foresight.context import build_context

    with build_context().warehouse.session(read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT date FROM bars ORDER BY date DESC LIMIT ?", [n_sessions]
        ).fetchall()
    return str(rows[-1][0]), str(rows[0][0])


def demo(
    n_symbols: int = typer.Option(50, "--n-symbols", help="sample universe size"),
    n_years: float = typer.Option(10.0, "--years", help="years of sample history"),
    trials: int = typer.Option(6, "--trials", help="Optuna trials for the signal model (small budget)"),
    backfill_sessions: int = typer.Option(250, "--backfill", help="sessions of signals scored for the backtest"),
) -> None:
    """Ingest the sample market, build features, train all three models, score, backtest, monitor."""
    timings: list[tuple[str, float]] = []

    def step(title: str, argv: list[str] | None = None, fn=None) -> None:
        console.rule(f"[bold]{len(timings) + 1}. {title}")
        t0 = time.perf_counter()
        try:
            if argv is not None:
                _run(argv)
            else:
                fn()
        except typer.Exit as exc:
            raise fail(f"demo stopped at step '{title}' (exit code {exc.exit_code}); see the message above") from exc
        timings.append((title, time.perf_counter() - t0))

    step("ingest the sample market", ["ingest", "--source", "sample", "--n-symbols", str(n_symbols),
                                      "--years", str(n_years)])
    step("features and labels", ["features"])
    step("train signals (Optuna, purged walk-forward, promotion gate)",
         ["train", "signals", "--trials", str(trials)])
    step("train regimes", ["train", "regimes"])
    step("train forecasts", ["train", "forecasts"])
    start, end = _backfill_window(backfill_sessions)
    step(f"backfill signals and regimes {start} .. {end}", ["score", "--start", start, "--end", end])
    step("nightly flow (Prefect) for the last session", ["score"])
    step("backtest over the precomputed signals", ["backtest"])
    step("monitoring report", ["monitor"])
    step("status", ["status"])

    t = Table(title="demo: what ran")
    t.add_column("step")
    t.add_column("seconds", justify="right")
    for title, secs in timings:
        t.add_row(title, f"{secs:.1f}")
    t.add_row("[bold]total", f"[bold]{sum(s for _, s in timings):.1f}")
    console.print(t)
    console.print(
        "\n[bold]Next[/]\n"
        "  MLflow UI (runs, registry, champion):  .venv/bin/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db\n"
        "  Prefect UI and schedules that fire (keep both running; docs/runbooks/schedules.md):\n"
        "    shell 1:  .venv/bin/prefect server start --host 127.0.0.1 --port 4200\n"
        "    shell 2:  PREFECT_API_URL=http://127.0.0.1:4200/api .venv/bin/foresight serve --source sample\n"
        "    check:    PREFECT_API_URL=http://127.0.0.1:4200/api .venv/bin/prefect flow-run ls --flow-name nightly "
        "--state Scheduled\n"
        "  Runbooks (failed night, data gap, rate limit, MongoDB, ALERT, rollback): docs/runbooks/README.md\n"
        "  Read API (OpenAPI at /docs):           .venv/bin/foresight api --port 8000\n"
        "  Drift reports (Evidently UI):          .venv/bin/evidently ui --workspace .foresight/evidently\n"
        "  The tables:                            .venv/bin/foresight status --json"
    )
