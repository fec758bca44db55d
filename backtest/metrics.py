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





def compute_stationary_bootstrap_indices(n: int, reps: int, block: float, rng: np.random.Generator) -> np.ndarray:
    """(reps, n) indices of Politis & Romano's stationary bootstrap: each position starts a new block (at a
    uniform random row) with probability 1 / `block`, else continues the previous one, wrapping at the end.
    The same scheme as arch.bootstrap.StationaryBootstrap, drawn for all replications at once: arch draws
    one replication per Python call, too slow for a coverage simulation of 10^5 intervals."""
    pos = np.arange(n)
    start = rng.integers(0, n, (reps, n))
    new = rng.random((reps, n)) < 1.0 / max(float(block), 1.0)
    new[:, 0] = True
    began = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    return (np.take_along_axis(start, began, axis=1) + (pos - began)) % n


def _sharpe_rows(x: np.ndarray, annualization: int) -> np.ndarray:
    """Annualised Sharpe ratio of each row (NaN where the row's std is ~0)."""
    sd = x.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 1e-15, x.mean(axis=1) / sd * np.sqrt(annualization), np.nan)


def compute_sharpe_delta_ci(
    strategy: np.ndarray,
    baseline: np.ndarray,
    reps: int = 500,
    block: int = 10,
    confidence: float = 0.95,
    annualization: int = 252,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of Sharpe(strategy) - Sharpe(baseline) from a stationary (Politis-Romano) bootstrap
    of the paired daily returns (mean block `block` sessions): both series are resampled with the same
    indices, so their cross-correlation and serial dependence are kept. Its coverage is checked by
    simulation against paired autocorrelated streams with a known Sharpe difference."""
    s = np.asarray(strategy, dtype=float)
    b = np.asarray(baseline, dtype=float)
    ok = np.isfinite(s) & np.isfinite(b)
    s, b = s[ok], b[ok]
    if len(s) < 10:
        return float("nan"), float("nan")
    idx = compute_stationary_bootstrap_indices(len(s), reps, block, np.random.default_rng(seed))
    draws = _sharpe_rows(s[idx], annualization) - _sharpe_rows(b[idx], annualization)
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
    "compute_stationary_bootstrap_indices",
    "compute_psr",
    "compute_sharpe",
    "compute_sharpe_delta_ci",
]
