"""Backtest use case: read `signals`, `bars` (and `regimes`) from DuckDB, compute, store, draw."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from backtest.config import BacktestSettings
from backtest.engine import BacktestResult, compute_backtest
from scoring.regimes import load_regime_history
from stores.warehouse import Warehouse, transaction, upsert, utcnow


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def load_backtest_inputs(
    con: duckdb.DuckDBPyConnection, cfg: BacktestSettings
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, str]:
    """Signals of one model version, the bars of its symbols and the regimes (if any) from DuckDB."""
    tables = _tables(con)
    if "signals" not in tables:
        raise LookupError("no `signals` table yet: train a signal model and run `foresight score` first")
    version = cfg.model_version
    if version is None:
        rows = con.execute(
            """
            SELECT model_version FROM signals WHERE model_name = ?
            GROUP BY model_version ORDER BY max(scored_at) DESC, count(*) DESC LIMIT 1
            """,
            [cfg.model_name],
        ).fetchall()
        if not rows:
            raise LookupError(
                f"no signals of model {cfg.model_name!r}: run `foresight score` (after `foresight train signals`)"
            )
        version = str(rows[0][0])
    signals = con.execute(
        "SELECT symbol, date, probability FROM signals WHERE model_name = ? AND model_version = ? ORDER BY date, symbol",
        [cfg.model_name, version],
    ).df()
    if signals.empty:
        raise LookupError(f"no signals of {cfg.model_name} version {version}")
    bars = con.execute(
        """
        SELECT b.symbol, b.date, b.adj_close FROM bars b
        WHERE b.symbol IN (SELECT DISTINCT symbol FROM signals WHERE model_name = ? AND model_version = ?)
          AND b.date >= (SELECT min(date) FROM signals WHERE model_name = ? AND model_version = ?)
        ORDER BY b.symbol, b.date
        """,
        [cfg.model_name, version, cfg.model_name, version],
    ).df()
    regimes = load_backtest_regimes(con) if "regimes" in tables else None
    return signals, bars, regimes, version


def load_backtest_regimes(con: duckdb.DuckDBPyConnection, universe: str | None = None) -> pd.DataFrame | None:
    """One regime per date (date, regime), oldest first, or None when none was scored: the regime of each
    date as scoring.regimes.load_regime_history reads it (the out-of-sample row first). `universe`: the
    settings' universe (None = the one in the table)."""
    if universe is None:
        universe = con.execute("SELECT max(universe) FROM regimes").fetchall()[0][0]
        if universe is None:
            return None
    hist = load_regime_history(con, universe)
    return None if hist.empty else hist[["date", "regime"]]


def save_equity_png(result: BacktestResult, path: Path, title: str = "") -> Path:
    """Equity curves of the strategy (net and gross) and the baseline, with the drawdown below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = result.daily
    eq = (1 + d["net"]).cumprod()
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(d.index, eq, label=f"strategy net ({result.report['cost_bps']:g} bps)")
    ax.plot(d.index, (1 + d["gross"]).cumprod(), label="strategy gross", alpha=0.5)
    ax.plot(d.index, (1 + d["baseline"]).cumprod(), label="baseline: equal-weight buy-and-hold")
    ax.set_ylabel("equity")
    ax.legend(loc="upper left")
    r = result.report
    lo, hi = r["sharpe_delta_ci"]
    ax.set_title(title or f"Sharpe {r['sharpe']:.2f} vs {r['baseline_sharpe']:.2f}; delta CI [{lo:.2f}, {hi:.2f}]")
    ax2.fill_between(d.index, 1 - eq / eq.cummax(), color="tab:red", alpha=0.4)
    ax2.invert_yaxis()
    ax2.set_ylabel("drawdown")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _row(run_id: str, result: BacktestResult, model_name: str, version: str, png: Path | None) -> pd.DataFrame:
    r = result.report
    lo, hi = r["sharpe_delta_ci"]
    return pd.DataFrame(
        [
            {
                "run_id": run_id,
                "created_at": utcnow(),
                "strategy": r["strategy"],
                "params": json.dumps(r["params"]),
                "model_name": model_name,
                "model_version": version,
                "start_date": pd.Timestamp(r["start_date"]).date(),
                "end_date": pd.Timestamp(r["end_date"]).date(),
                "n_symbols": r["n_symbols"],
                "n_sessions": r["n_sessions"],
                "cost_bps": r["cost_bps"],
                "sharpe": r["sharpe"],
                "baseline_sharpe": r["baseline_sharpe"],
                "sharpe_delta": r["sharpe_delta"],
                "sharpe_delta_ci_low": lo,
                "sharpe_delta_ci_high": hi,
                "psr": r["psr"],
                "psr_vs_baseline": r["psr_vs_baseline"],
                "turnover": r["turnover"],
                "break_even_bps": r["break_even_bps"],
                "max_drawdown": r["max_drawdown"],
                "max_drawdown_sessions": r["max_drawdown_sessions"],
                "baseline_max_drawdown": r["baseline_max_drawdown"],
                "sharpe_by_cost": json.dumps(r["sharpe_by_cost"]),
                "per_year": json.dumps(r["per_year"]),
                "per_regime": json.dumps(r["per_regime"]),
                "equity_png": str(png) if png else None,
                "report": json.dumps(r, default=str),
            }
        ]
    )


def run_backtest(
    warehouse: Warehouse, cfg: BacktestSettings, reports_dir: Path | None = None
) -> tuple[str, BacktestResult]:
    """Backtest the stored signals of one model version; stores a `backtest_runs` row and a PNG."""
    warehouse.migrate()
    with warehouse.session() as con:
        signals, bars, regimes, version = load_backtest_inputs(con, cfg)
        result = compute_backtest(signals, bars, cfg, regimes)
        run_id = uuid.uuid4().hex[:12]
        png = None
        if reports_dir is not None:
            png = save_equity_png(result, Path(reports_dir) / "backtest" / f"equity_{run_id}.png")
        result.report.update({"run_id": run_id, "model_name": cfg.model_name, "model_version": version,
                              "equity_png": str(png) if png else None})
        with transaction(con):
            upsert(con, "backtest_runs", _row(run_id, result, cfg.model_name, version, png), ["run_id"])
    return run_id, result


def load_backtest_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[dict[str, Any]]:
    """The latest stored backtest runs, newest first, with their full report."""
    if "backtest_runs" not in _tables(con):
        return []
    rows = con.execute(
        "SELECT run_id, created_at, report FROM backtest_runs ORDER BY created_at DESC LIMIT ?", [limit]
    ).fetchall()
    return [{"run_id": r[0], "created_at": str(r[1]), **json.loads(r[2])} for r in rows]


__all__ = ["load_backtest_inputs", "load_backtest_regimes", "load_backtest_runs", "run_backtest", "save_equity_png"]
