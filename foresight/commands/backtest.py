"""`foresight backtest`: strategies over the stored signals vs an equal-weight buy-and-hold baseline."""

from __future__ import annotations

import typer

from foresight.commands.common import console, fail


def backtest(
    strategy: str = typer.Option("topk", "--strategy", help="topk | threshold"),
    top_k: int = typer.Option(5, "--top-k", help="topk: number of names held"),
    threshold: float = typer.Option(0.5, "--threshold", help="threshold: long when probability exceeds it"),
    cost_bps: float = typer.Option(5.0, "--cost-bps", help="transaction cost per side in basis points"),
    model_version: str | None = typer.Option(None, "--model-version", help="default: the latest scored version"),
    reps: int = typer.Option(500, "--bootstrap-reps", help="bootstrap replications for the Sharpe-delta CI"),
) -> None:
    """Backtest the precomputed signals (reads `signals` and `bars` only); stores the report in
    `backtest_runs`, draws the equity curve PNG and publishes a fresh API snapshot."""
    from backtest.config import BacktestSettings
    from foresight.context import build_context
    from foresight.services import ServiceFactory
    from stores.snapshots import WarehouseReader, publish_warehouse_snapshot, snapshot_dir

    if strategy not in ("topk", "threshold"):
        raise fail(f"unknown strategy {strategy!r}: use topk or threshold", 2)
    ctx = build_context()
    base = getattr(ctx.settings, "backtest", None) or BacktestSettings()
    cfg = base.model_copy(update={"strategy": strategy, "top_k": top_k, "threshold": threshold,
                                  "cost_bps": cost_bps, "model_version": model_version, "bootstrap_reps": reps})
    if not ctx.settings.duckdb_path.exists():
        raise fail(f"no warehouse at {ctx.settings.duckdb_path}: run `foresight demo` or ingest + score first", 2)
    try:
        with console.status("backtesting"):
            service = ServiceFactory.default(WarehouseReader(ctx.warehouse), ctx.settings).get("BacktestService")
            run_id, result = service.run(cfg)
    except (LookupError, ValueError) as exc:
        raise fail(str(exc)) from exc
    publish_warehouse_snapshot(ctx.warehouse, snapshot_dir(ctx.settings.home))
    print_report(result.report)


def print_report(r: dict) -> None:
    from rich.table import Table

    lo, hi = r["sharpe_delta_ci"]
    t = Table(title=f"backtest {r.get('run_id', '')}: {r['strategy']} on {r.get('model_name')} "
                    f"v{r.get('model_version')}, {r['start_date']} .. {r['end_date']}, {r['n_symbols']} symbols")
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows = [
        ("Sharpe (net of costs)", f"{r['sharpe']:.2f}"),
        ("baseline Sharpe (EW buy-and-hold)", f"{r['baseline_sharpe']:.2f}"),
        ("Sharpe delta", f"{r['sharpe_delta']:+.2f}  [{lo:+.2f}, {hi:+.2f}] {r['confidence']:.0%} CI"),
        ("probabilistic Sharpe ratio (SR>0)", f"{r['psr']:.3f}"),
        ("PSR vs baseline Sharpe", f"{r['psr_vs_baseline']:.3f}"),
        ("turnover per session / per year", f"{r['turnover']:.2f} / {r['turnover_annual']:.0f}"),
        ("break-even cost vs baseline (bps/side)", f"{r['break_even_bps']:.1f}"),
        ("break-even cost to Sharpe 0 (bps/side)", f"{r['break_even_zero_bps']:.1f}"),
        ("max drawdown (sessions underwater)", f"{r['max_drawdown']:.1%} ({r['max_drawdown_sessions']})"),
        ("baseline max drawdown", f"{r['baseline_max_drawdown']:.1%} ({r['baseline_max_drawdown_sessions']})"),
    ]
    rows += [(f"Sharpe at {k} bps", f"{v['sharpe']:.2f} (delta {v['sharpe_delta']:+.2f})")
             for k, v in r["sharpe_by_cost"].items()]
    rows += [(f"delta {year}", f"{v['sharpe_delta']:+.2f} ({v['n_sessions']} sessions)")
             for year, v in r["per_year"].items()]
    rows += [(f"delta in regime {reg}", f"{v['sharpe_delta']:+.2f} ({v['n_sessions']} sessions)")
             for reg, v in r["per_regime"].items()]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if r.get("equity_png"):
        console.print(f"equity curve: {r['equity_png']}")
