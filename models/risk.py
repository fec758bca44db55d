"""Risk: drawdown (one definition), VaR backtests (Kupiec POF, Christoffersen independence / conditional
coverage, Basel zone) and the realised drawdown's rank among simulated ones. Pure."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

BASEL_WINDOW = 250


def _xlogy(x: float, y: float) -> float:
    """x * log(y) with the convention 0 * log(0) = 0 (a likelihood term with no observations)."""
    return 0.0 if x == 0 else x * math.log(y)


@dataclass(frozen=True)
class TestResult:
    """A likelihood-ratio statistic and its chi-square p-value."""

    statistic: float
    p_value: float
    df: int


def kupiec_pof(n: int, exceptions: int, p: float) -> TestResult:
    """Kupiec (1995) proportion-of-failures test: are `exceptions` in `n` days consistent with rate `p`?

    LR_uc = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x] ~ chi2(1).
    """
    if n <= 0:
        return TestResult(float("nan"), float("nan"), 1)
    x = int(exceptions)
    if not 0 <= x <= n:
        raise ValueError(f"exceptions must lie in [0, n]: {x} of {n}")
    phat = x / n
    log_null = _xlogy(n - x, 1 - p) + _xlogy(x, p)
    log_alt = _xlogy(n - x, 1 - phat) + _xlogy(x, phat)
    lr = max(-2.0 * (log_null - log_alt), 0.0)
    return TestResult(lr, float(stats.chi2.sf(lr, 1)), 1)


def transition_counts(hits: np.ndarray) -> tuple[int, int, int, int]:
    """(n00, n01, n10, n11): counts of consecutive (yesterday, today) exception pairs."""
    h = np.asarray(hits, dtype=bool).astype(int)
    if len(h) < 2:
        return 0, 0, 0, 0
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum((prev == 0) & (cur == 0)))
    n01 = int(np.sum((prev == 0) & (cur == 1)))
    n10 = int(np.sum((prev == 1) & (cur == 0)))
    n11 = int(np.sum((prev == 1) & (cur == 1)))
    return n00, n01, n10, n11


def christoffersen_independence(hits: np.ndarray) -> TestResult:
    """Christoffersen (1998) independence test: does today's exception depend on yesterday's?

    First-order Markov alternative (pi01, pi11) vs the independent null (pi), ~ chi2(1).
    """
    n00, n01, n10, n11 = transition_counts(hits)
    total = n00 + n01 + n10 + n11
    if total == 0:
        return TestResult(float("nan"), float("nan"), 1)
    pi = (n01 + n11) / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    log_null = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    log_alt = _xlogy(n00, 1 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1 - pi11) + _xlogy(n11, pi11)
    lr = max(-2.0 * (log_null - log_alt), 0.0)
    return TestResult(lr, float(stats.chi2.sf(lr, 1)), 1)


def christoffersen_conditional_coverage(hits: np.ndarray, p: float) -> TestResult:
    """LR_cc = LR_uc + LR_ind ~ chi2(2): right rate and no clustering, jointly."""
    h = np.asarray(hits, dtype=bool)
    uc = kupiec_pof(len(h), int(h.sum()), p)
    ind = christoffersen_independence(h)
    lr = uc.statistic + ind.statistic
    return TestResult(lr, float(stats.chi2.sf(lr, 2)), 2)


def basel_zone(exceptions: int, n: int = BASEL_WINDOW, p: float = 0.01) -> str:
    """Basel traffic light for 99% VaR: green while P(X <= x) < 95%, yellow while < 99.99%, else red.

    With n=250 this gives the familiar table: 0-4 green, 5-9 yellow, 10+ red.
    """
    cum = float(stats.binom.cdf(int(exceptions), int(n), p))
    if cum < 0.95:
        return "green"
    if cum < 0.9999:
        return "yellow"
    return "red"


def compute_drawdown_paths(paths: np.ndarray) -> np.ndarray:
    """Drawdown (1 - equity / running peak, a positive fraction) of each row of a (paths x sessions) array
    of simple returns, on the compounded equity that starts at 1 before the first session; NaN returns
    count as 0 (no position). Shape (paths, sessions + 1)."""
    p = np.nan_to_num(np.atleast_2d(np.asarray(paths, dtype=float)))
    equity = np.concatenate([np.ones((p.shape[0], 1)), np.cumprod(1.0 + p, axis=1)], axis=1)
    return 1.0 - equity / np.maximum.accumulate(equity, axis=1)


def max_drawdowns(paths: np.ndarray) -> np.ndarray:
    """Max drawdown of each row of a (paths x sessions) array of simple returns."""
    return compute_drawdown_paths(paths).max(axis=1)


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough loss of the equity path built from simple `returns` (0.2 = -20%)."""
    r = np.asarray(returns, dtype=float)
    return float(max_drawdowns(r[None, :])[0]) if r.size else 0.0


def compute_drawdown(returns: np.ndarray) -> tuple[float, int]:
    """Maximum drawdown of the compounded equity (a positive fraction) and the longest underwater
    spell in sessions (from a peak until the equity is back at it, or until the end)."""
    r = np.asarray(returns, dtype=float)
    if r.size == 0:
        return 0.0, 0
    dd = compute_drawdown_paths(r[None, :])[0]
    longest = run = 0
    for under in dd > 1e-12:
        run = run + 1 if under else 0
        longest = max(longest, run)
    return float(dd.max()), int(longest)


def drawdown_percentile(realized_mdd: float, simulated_mdd: np.ndarray) -> float:
    """Mid-rank percentile (0-1) of the realised max drawdown among simulated ones (ties count half)."""
    sim = np.asarray(simulated_mdd, dtype=float)
    if sim.size == 0:
        return float("nan")
    below = np.sum(sim < realized_mdd)
    ties = np.sum(sim == realized_mdd)
    return float((below + 0.5 * ties) / sim.size)


@dataclass(frozen=True)
class VarBacktest:
    """One VaR level over one window of realised 1-day P&L."""

    level: float
    n: int
    exceptions: int
    expected: float
    rate: float
    kupiec_stat: float
    kupiec_p: float
    independence_stat: float
    independence_p: float
    cc_stat: float
    cc_p: float

    def to_dict(self) -> dict:
        return asdict(self)


def compute_var_backtest(pnl: np.ndarray, var: np.ndarray, level: float) -> VarBacktest:
    """Backtest VaR at `level` (e.g. 0.99): an exception is a day whose P&L is below -VaR.

    `pnl` and `var` are aligned per day, in the same units (returns or money); VaR is a positive loss.
    """
    pnl = np.asarray(pnl, dtype=float)
    var = np.asarray(var, dtype=float)
    ok = np.isfinite(pnl) & np.isfinite(var)
    hits = pnl[ok] < -var[ok]
    n, x, p = int(hits.size), int(hits.sum()), 1.0 - level
    uc = kupiec_pof(n, x, p)
    ind = christoffersen_independence(hits)
    cc = christoffersen_conditional_coverage(hits, p)
    return VarBacktest(
        level=level, n=n, exceptions=x, expected=n * p, rate=x / n if n else float("nan"),
        kupiec_stat=uc.statistic, kupiec_p=uc.p_value,
        independence_stat=ind.statistic, independence_p=ind.p_value,
        cc_stat=cc.statistic, cc_p=cc.p_value,
    )


def compute_var_report(
    pnl: np.ndarray,
    var95: np.ndarray,
    var99: np.ndarray,
    simulated_mdd: np.ndarray | None = None,
    window: int = BASEL_WINDOW,
) -> dict:
    """Both VaR levels over the whole record, the Basel zone over the last `window` sessions, and the
    realised max drawdown's percentile among `simulated_mdd` (when given). `pnl` in simple returns."""
    pnl = np.asarray(pnl, dtype=float)
    var99 = np.asarray(var99, dtype=float)
    b95 = compute_var_backtest(pnl, var95, 0.95)
    b99 = compute_var_backtest(pnl, var99, 0.99)
    tail = slice(max(len(pnl) - window, 0), len(pnl))
    ok = np.isfinite(pnl[tail]) & np.isfinite(var99[tail])
    x250 = int(np.sum(pnl[tail][ok] < -var99[tail][ok]))
    n250 = int(ok.sum())
    realized = max_drawdown(pnl[np.isfinite(pnl)])
    out = {
        "var95": b95.to_dict(),
        "var99": b99.to_dict(),
        "basel_window": n250,
        "basel_exceptions": x250,
        "basel_zone": basel_zone(x250, n250, 0.01) if n250 else None,
        "basel_full_window": n250 >= window,
        "realized_max_drawdown": realized,
        "max_drawdown_percentile": None,
    }
    if simulated_mdd is not None and len(simulated_mdd):
        out["max_drawdown_percentile"] = drawdown_percentile(realized, simulated_mdd)
        out["simulated_mdd_p50"] = float(np.median(simulated_mdd))
        out["simulated_mdd_p95"] = float(np.quantile(simulated_mdd, 0.95))
    return out


__all__ = [
    "BASEL_WINDOW",
    "TestResult",
    "VarBacktest",
    "basel_zone",
    "christoffersen_conditional_coverage",
    "christoffersen_independence",
    "compute_drawdown",
    "compute_drawdown_paths",
    "compute_var_backtest",
    "compute_var_report",
    "drawdown_percentile",
    "kupiec_pof",
    "max_drawdown",
    "max_drawdowns",
    "transition_counts",
]
