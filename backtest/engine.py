"""Pure backtest over precomputed signals: target weights, lagged execution, costs, baseline, report.

Timing: a signal dated d uses bars with date <= d. Its trade executes at the close of the session
`execution_lag` sessions after d, so the position first earns the return of the session after that
(with the default lag of 1: signal at d, trade at close of d+1, return of d+2). Costs are charged per
side on traded notional (|change of weight|) in the session that the new position first earns.
The baseline buys the same universe equal-weighted at the first execution close and holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtest.config import BacktestSettings
from backtest.metrics import (
    compute_break_even_bps,
    compute_psr,
    compute_sharpe,
    compute_sharpe_delta_ci,
)
from models.risk import compute_drawdown


@dataclass
class BacktestResult:
    """Daily series (date index: gross, turnover, net, baseline) and the JSON-ready report."""

    daily: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


def compute_target_weights(prob: pd.DataFrame, cfg: BacktestSettings) -> pd.DataFrame:
    """Wide probabilities (dates x symbols) -> target weights, each row summing to 1 or 0 (cash)."""
    if cfg.strategy == "threshold":
        chosen = prob.gt(cfg.threshold)
    elif cfg.strategy == "topk":
        # Rank within the date; ties broken by column order so weights stay deterministic.
        ranks = prob.rank(axis=1, ascending=False, method="first")
        chosen = ranks.le(cfg.top_k) & prob.notna()
    else:  # pragma: no cover - guarded by the Literal type
        raise ValueError(f"unknown strategy {cfg.strategy!r}")
    counts = chosen.sum(axis=1)
    weights = chosen.astype(float).div(counts.where(counts > 0), axis=0).fillna(0.0)
    return weights


def _wide_prices(prices: pd.DataFrame, symbols: list[str]) -> pd.DataFrame:
    px = prices[prices["symbol"].isin(symbols)].pivot(index="date", columns="symbol", values="adj_close")
    px.index = pd.to_datetime(px.index)
    return px.sort_index().reindex(columns=symbols)


def compute_backtest(
    signals: pd.DataFrame,
    prices: pd.DataFrame,
    cfg: BacktestSettings,
    regimes: pd.DataFrame | None = None,
) -> BacktestResult:
    """Run the strategy of `cfg` on `signals` (symbol, date, probability) against `prices`
    (symbol, date, adj_close); `regimes` (date, regime) adds per-regime Sharpe deltas."""
    if signals.empty:
        raise ValueError("no signals to backtest: score some dates first (`foresight score`)")
    symbols = sorted(signals["symbol"].unique())
    px = _wide_prices(prices, symbols)
    if px.empty:
        raise ValueError("no bars for the signals' symbols")
    sig = signals.assign(date=pd.to_datetime(signals["date"]))
    prob = sig.pivot_table(index="date", columns="symbol", values="probability", aggfunc="last")
    prob = prob.reindex(columns=symbols)
    first_sig, last_sig = prob.index.min(), prob.index.max()
    dates = px.index
    # Rows of the session grid from the first signal on; dates without signals hold the last target.
    prob = prob.reindex(dates)
    in_range = (dates >= first_sig) & (dates <= last_sig)
    target = compute_target_weights(prob, cfg)
    has_signal = prob.notna().any(axis=1)
    target.loc[~has_signal.to_numpy()] = np.nan
    target = target.ffill().fillna(0.0)

    shift = cfg.execution_lag + 1
    held = target.shift(shift).fillna(0.0)
    rets = px.ffill().pct_change(fill_method=None).fillna(0.0)
    gross = (held * rets).sum(axis=1)
    turnover = held.diff().abs().sum(axis=1)
    turnover.iloc[0] = held.iloc[0].abs().sum()

    pos = np.flatnonzero(in_range)
    start_i = pos[0] + shift
    end_i = min(pos[-1] + shift, len(dates) - 1)
    if start_i > end_i:
        raise ValueError(
            f"signals end at {last_sig.date()} but bars stop before the first holding session: "
            "the backtest needs bars at least execution_lag + 1 sessions after the first signal"
        )
    window = slice(start_i, end_i + 1)
    entry_px = px.ffill().iloc[start_i - 1]
    valid = entry_px.notna()
    value = (px.ffill().loc[:, valid].iloc[start_i - 1 : end_i + 1] / entry_px[valid]).mean(axis=1)
    base_gross = value.pct_change().iloc[1:]
    base_turn = pd.Series(0.0, index=base_gross.index)
    base_turn.iloc[0] = 1.0

    daily = pd.DataFrame(
        {
            "gross": gross.iloc[window],
            "turnover": turnover.iloc[window],
            "baseline_gross": base_gross,
            "baseline_turnover": base_turn,
        }
    )
    c = cfg.cost_bps / 1e4
    daily["net"] = daily["gross"] - c * daily["turnover"]
    daily["baseline"] = daily["baseline_gross"] - c * daily["baseline_turnover"]
    daily.index.name = "date"
    report = compute_report(daily, cfg, regimes)
    report.update(
        {
            "strategy": cfg.strategy,
            "params": cfg.model_dump(mode="json"),
            "start_date": str(daily.index[0].date()),
            "end_date": str(daily.index[-1].date()),
            "first_signal": str(first_sig.date()),
            "last_signal": str(last_sig.date()),
            "n_symbols": len(symbols),
            "n_sessions": len(daily),
        }
    )
    return BacktestResult(daily=daily, report=report)


def _sharpe_delta(net: pd.Series, base: pd.Series, ann: int) -> float:
    return compute_sharpe(net, ann) - compute_sharpe(base, ann)


def compute_report(daily: pd.DataFrame, cfg: BacktestSettings, regimes: pd.DataFrame | None) -> dict[str, Any]:
    """Every statistic of the report from the daily frame (net/baseline at cfg.cost_bps)."""
    ann = cfg.annualization
    net, base = daily["net"], daily["baseline"]
    sr, sr_b = compute_sharpe(net, ann), compute_sharpe(base, ann)
    lo, hi = compute_sharpe_delta_ci(
        net.to_numpy(), base.to_numpy(), cfg.bootstrap_reps, cfg.bootstrap_block, cfg.confidence, ann, cfg.seed
    )
    dd, dd_len = compute_drawdown(net)
    bdd, bdd_len = compute_drawdown(base)
    by_cost = {}
    for bps in cfg.cost_grid_bps:
        s = compute_sharpe(daily["gross"] - bps / 1e4 * daily["turnover"], ann)
        b = compute_sharpe(daily["baseline_gross"] - bps / 1e4 * daily["baseline_turnover"], ann)
        by_cost[f"{bps:g}"] = {"sharpe": s, "baseline_sharpe": b, "sharpe_delta": s - b}
    base_per_period = base.mean() / base.std(ddof=1) if base.std(ddof=1) > 0 else float("nan")
    per_year = {}
    for year, g in daily.groupby(daily.index.year):
        per_year[str(year)] = {
            "sharpe": compute_sharpe(g["net"], ann),
            "baseline_sharpe": compute_sharpe(g["baseline"], ann),
            "sharpe_delta": _sharpe_delta(g["net"], g["baseline"], ann),
            "n_sessions": len(g),
        }
    per_regime: dict[str, Any] = {}
    if regimes is not None and not regimes.empty:
        # The regime known before a session's return: the filtered label of the previous session.
        lab = regimes.assign(date=pd.to_datetime(regimes["date"])).drop_duplicates("date", keep="last")
        lab = lab.set_index("date")["regime"].sort_index()
        codes, names = pd.factorize(lab)
        coded = pd.Series(codes, index=lab.index, dtype=float)
        prev = coded.reindex(coded.index.union(daily.index)).ffill().shift(1).reindex(daily.index)
        for code, g in daily.groupby(prev):
            per_regime[str(names[int(code)])] = {
                "sharpe": compute_sharpe(g["net"], ann),
                "baseline_sharpe": compute_sharpe(g["baseline"], ann),
                "sharpe_delta": _sharpe_delta(g["net"], g["baseline"], ann),
                "n_sessions": len(g),
            }
    return {
        "cost_bps": cfg.cost_bps,
        "sharpe": sr,
        "baseline_sharpe": sr_b,
        "sharpe_delta": sr - sr_b,
        "sharpe_delta_ci": [lo, hi],
        "confidence": cfg.confidence,
        "psr": compute_psr(net, 0.0),
        "psr_vs_baseline": compute_psr(net, base_per_period),
        "turnover": float(daily["turnover"].mean()),
        "turnover_annual": float(daily["turnover"].mean() * ann),
        "sharpe_by_cost": by_cost,
        "break_even_bps": compute_break_even_bps(daily["gross"], daily["turnover"], sr_b, ann),
        "break_even_zero_bps": compute_break_even_bps(daily["gross"], daily["turnover"], 0.0, ann),
        "total_return": float(np.prod(1 + net.to_numpy()) - 1),
        "baseline_total_return": float(np.prod(1 + base.to_numpy()) - 1),
        "max_drawdown": dd,
        "max_drawdown_sessions": dd_len,
        "baseline_max_drawdown": bdd,
        "baseline_max_drawdown_sessions": bdd_len,
        "per_year": per_year,
        "per_regime": per_regime,
    }


__all__ = ["BacktestResult", "compute_backtest", "compute_report", "compute_target_weights"]
