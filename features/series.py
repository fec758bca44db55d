"""Point-in-time daily series the regime and forecast models read from the warehouse: the market return
series, the portfolio's returns, and the filtered regime probabilities as forecast features.

Timing: a value at date t uses bars (or regime rows) with date <= t only.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from models.forecasts import ForecastSettings, compute_portfolio_returns
from models.regimes import compute_market_series


def load_market_series(con, benchmark_symbol: str | None = None, vol_window: int = 21, end=None) -> pd.DataFrame:
    """Market return series (date, ret, rvol) from the warehouse `bars` (dates <= end when given)."""
    sql = "SELECT symbol, date, adj_close FROM bars"
    args: list = []
    clauses = []
    if benchmark_symbol is not None:
        clauses.append("symbol = ?")
        args.append(benchmark_symbol)
    if end is not None:
        clauses.append("date <= ?")
        args.append(pd.Timestamp(end).date())
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    bars = con.execute(sql + " ORDER BY symbol, date", args).df()
    if bars.empty:
        raise ValueError("no bars in the warehouse: run `foresight ingest` first")
    return compute_market_series(bars, benchmark_symbol, vol_window)


def load_portfolio_returns(con, cfg: ForecastSettings, as_of: dt.date | None = None) -> pd.Series:
    """Daily returns of the configured portfolio from `bars` (adj_close), dates <= as_of."""
    symbols = sorted(cfg.weights) if cfg.weights else None
    bars = con.execute(
        """
        SELECT symbol, date, adj_close FROM bars
        WHERE (CAST(? AS VARCHAR[]) IS NULL OR list_contains(CAST(? AS VARCHAR[]), symbol))
          AND (CAST(? AS DATE) IS NULL OR date <= CAST(? AS DATE))
        ORDER BY symbol, date
        """,
        [symbols, symbols, as_of, as_of],
    ).df()
    if bars.empty:
        raise ValueError("no bars for the portfolio: run `foresight ingest` first")
    return compute_portfolio_returns(bars, cfg.weights)


def load_extra_features(con, cfg: ForecastSettings, universe: str | None = None) -> pd.DataFrame | None:
    """Extra point-in-time feature columns by date, or None: today the filtered regime probabilities of
    the most recently scored regime model version (`regime_p_<label>`), when `cfg.regime_features`."""
    if not cfg.regime_features:
        return None
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "regimes" not in names:
        return None
    rows = con.execute(
        """
        WITH latest AS (
            SELECT universe, model_version FROM regimes
            WHERE CAST(? AS VARCHAR) IS NULL OR universe = ?
            ORDER BY scored_at DESC LIMIT 1
        )
        SELECT r.date, CAST(r.probabilities AS VARCHAR) AS probabilities
        FROM regimes r JOIN latest l USING (universe, model_version) ORDER BY r.date
        """,
        [universe, universe],
    ).df()
    if rows.empty:
        return None
    probs = pd.DataFrame([json.loads(p) for p in rows["probabilities"]], index=pd.to_datetime(rows["date"]))
    probs.columns = [f"regime_p_{c}" for c in probs.columns]
    return probs.astype(float)


__all__ = ["load_extra_features", "load_market_series", "load_portfolio_returns"]
