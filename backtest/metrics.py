"""Performance statistics of daily return series: Sharpe, PSR, drawdown, bootstrap CI of a Sharpe delta."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats


def compute_sharpe(returns: np.ndarray | pd.Series, annualization: int = 252) -> float:
    """Annualised Sharpe ratio (risk-free 0): mean / std * sqrt(annualization); NaN when undefined."""
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return float("nan")
    sd = r.std(ddof=1)
    if not sd > 1e-15:
        return float("nan")
    return float(r.mean() / sd * np.sqrt(annualization))


def compute_psr(returns: np.ndarray | pd.Series, benchmark_sr: float = 0.0) -> float:
    """Probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012): P(true SR > benchmark_sr).

    Both Sharpe ratios are per period (not annualised); skewness and (non-excess) kurtosis of the
    sample widen the standard error: sqrt((1 - g3*SR + (g4 - 1)/4 * SR^2) / (n - 1)).
    """
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    n = len(r)
    if n < 3 or not r.std(ddof=1) > 1e-15:
        return float("nan")
    sr = r.mean() / r.std(ddof=1)
    g3 = stats.skew(r)
    g4 = stats.kurtosis(r, fisher=False)
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    if var <= 0:
        return float("nan")
    return float(stats.norm.cdf((sr - benchmark_sr) * np.sqrt(n - 1) / np.sqrt(var)))





def compute_sharpe_delta_ci(
    strategy: np.ndarray,
    baseline: np.ndarray,
    reps: int = 500,
    block: int = 10,
    confidence: float = 0.95,
    annualization: int = 252,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of Sharpe(strategy) - Sharpe(baseline) from a stationary (Politis-Romano)
    bootstrap of the paired daily returns, so cross-correlation and serial dependence are kept."""
    from arch.bootstrap import StationaryBootstrap

    s = np.asarray(strategy, dtype=float)
    b = np.asarray(baseline, dtype=float)
    ok = np.isfinite(s) & np.isfinite(b)
    s, b = s[ok], b[ok]
    if len(s) < 10:
        return float("nan"), float("nan")

    def delta(x: np.ndarray, y: np.ndarray) -> float:
        return compute_sharpe(x, annualization) - compute_sharpe(y, annualization)

    bs = StationaryBootstrap(block, s, b, seed=np.random.default_rng(seed))
    draws = bs.apply(delta, reps).ravel()
    draws = draws[np.isfinite(draws)]
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def compute_break_even_bps(
    gross: np.ndarray,
    turnover: np.ndarray,
    target_sharpe: float,
    annualization: int = 252,
    max_bps: float = 10_000.0,
) -> float:
    """The cost per side (bps) at which the strategy's net Sharpe falls to `target_sharpe`
    (0 when it is already below at zero cost, NaN when it never falls that far within max_bps)."""
    g = np.asarray(gross, dtype=float)
    t = np.asarray(turnover, dtype=float)

    def gap(bps: float) -> float:
        return compute_sharpe(g - bps / 1e4 * t, annualization) - target_sharpe

    at0 = gap(0.0)
    if not np.isfinite(at0) or not np.isfinite(target_sharpe):
        return float("nan")
    if at0 <= 0:
        return 0.0
    if gap(max_bps) > 0:
        return float("nan")
    return float(optimize.brentq(gap, 0.0, max_bps, xtol=1e-4))


__all__ = [
    "compute_break_even_bps",
    "compute_psr",
    "compute_sharpe",
    "compute_sharpe_delta_ci",
]
