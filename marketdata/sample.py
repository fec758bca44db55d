"""The `sample` source: a seeded synthetic market on the NYSE calendar with known ground truth.

Structure (all known, kept in `sample_truth`):
- a market factor whose mean and volatility switch between 2-3 persistent regimes (Markov chain);
- per-symbol beta to the market and idiosyncratic volatility;
- a planted short-term reversal: each day's idiosyncratic return carries -kappa x the mean of the
  previous ten idiosyncratic returns, so past returns (visible to features at t) carry information
  about returns after t. kappa = `signal_strength`; 0 (the `random_walk` variant) leaves nothing to find;
- consistent OHLC (low <= open, close <= high), a VWAP inside the range, volume that rises with |return|.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketdata.calendar import sessions
from marketdata.config import SampleSettings
from models.regimes import compute_stationary

REGIME_SPECS: dict[int, list[tuple[str, float, float]]] = {
    # name, daily mean, daily vol of the market factor
    1: [("neutral", 0.0, 0.010)],
    2: [("calm_bull", 0.0006, 0.008), ("high_vol_bear", -0.0010, 0.020)],
    3: [("calm_bull", 0.0008, 0.007), ("neutral", 0.0, 0.012), ("high_vol_bear", -0.0015, 0.025)],
}
TRANSITIONS: dict[int, np.ndarray] = {
    1: np.array([[1.0]]),
    2: np.array([[0.99, 0.01], [0.03, 0.97]]),
    3: np.array([[0.985, 0.012, 0.003], [0.02, 0.97, 0.01], [0.01, 0.04, 0.95]]),
}
REVERSAL_WINDOW = 10


@dataclass(frozen=True)
class SampleMarket:
    """Generated bars (canonical columns) and the per-date ground truth."""

    bars: pd.DataFrame
    truth: pd.DataFrame


def compute_regime_switching_returns(
    means, vols, transmat, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian regime-switching path started from the stationary distribution: (returns, states).

    The known-answer generator of the regime tests and benchmark.
    """
    rng = np.random.default_rng(seed)
    tm = np.asarray(transmat, dtype=float)
    k = len(means)
    states = np.empty(n, dtype=int)
    states[0] = rng.choice(k, p=compute_stationary(tm))
    u = rng.random(n)
    for t in range(1, n):
        states[t] = min(np.searchsorted(np.cumsum(tm[states[t - 1]]), u[t]), k - 1)
    return np.asarray(means)[states] + np.asarray(vols)[states] * rng.standard_normal(n), states


def compute_garch_t5_returns(n: int, seed: int) -> pd.Series:
    """GARCH(1,1) daily returns (omega 2e-6, alpha 0.08, beta 0.90) with unit-variance Student-t(5) shocks,
    on business days from 2000-01-03: the known-answer series of the forecast calibration checks."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-6, 0.08, 0.90
    shocks = rng.standard_t(5, n) / np.sqrt(5 / 3)
    var = omega / (1 - alpha - beta)
    r = np.empty(n)
    for t in range(n):
        r[t] = np.sqrt(var) * shocks[t]
        var = omega + alpha * r[t] ** 2 + beta * var
    return pd.Series(r, index=pd.bdate_range("2000-01-03", periods=n))


def random_walk_settings(base: SampleSettings) -> SampleSettings:
    """The `random_walk` variant: one regime with zero drift and no planted signal."""
    return base.model_copy(update={"signal_strength": 0.0, "n_regimes": 1})


def symbol_names(n: int) -> list[str]:
    """Deterministic ticker-like names: SYM000, SYM001, ..."""
    return [f"SYM{i:03d}" for i in range(n)]


@dataclass(frozen=True)
class _Paths:
    """The generator's latent paths: regime, market factor and its volatility per date; beta, idiosyncratic
    volatility per symbol; idiosyncratic and total log returns per (date, symbol)."""

    regime: np.ndarray
    market: np.ndarray
    vol: np.ndarray
    beta: np.ndarray
    idio_vol: np.ndarray
    idio: np.ndarray
    log_ret: np.ndarray


def _simulate_paths(cfg: SampleSettings, n_t: int, rng: np.random.Generator) -> _Paths:
    """The planted structure for `n_t` sessions (the first draws of the sample's random stream)."""
    n_s = cfg.n_symbols
    specs = REGIME_SPECS[cfg.n_regimes]
    trans = TRANSITIONS[cfg.n_regimes]
    # Regime path: a Markov chain started from its stationary distribution.
    stat = compute_stationary(trans)
    u = rng.random(n_t)
    regime = np.empty(n_t, dtype=np.int64)
    regime[0] = np.searchsorted(np.cumsum(stat), u[0])
    cum = np.cumsum(trans, axis=1)
    for t in range(1, n_t):
        regime[t] = min(np.searchsorted(cum[regime[t - 1]], u[t]), len(specs) - 1)
    mu = np.array([s[1] for s in specs])[regime]
    vol = np.array([s[2] for s in specs])[regime]
    market = mu + vol * rng.standard_normal(n_t)

    beta = rng.uniform(0.6, 1.4, n_s)
    idio_vol = rng.uniform(0.010, 0.022, n_s)
    z = rng.standard_normal((n_t, n_s))
    kappa = cfg.signal_strength
    idio = np.empty((n_t, n_s))
    # The reversal recursion runs over time, vectorised over symbols.
    window_sum = np.zeros(n_s)
    for t in range(n_t):
        idio[t] = idio_vol * z[t] - kappa * window_sum / REVERSAL_WINDOW
        window_sum += idio[t]
        if t >= REVERSAL_WINDOW:
            window_sum -= idio[t - REVERSAL_WINDOW]
    log_ret = beta[None, :] * market[:, None] + idio
    return _Paths(regime, market, vol, beta, idio_vol, idio, log_ret)


def compute_sample_market(cfg: SampleSettings, calendar: str = "XNYS") -> SampleMarket:
    """Generate the whole market for `cfg` (pure: same settings, same output)."""
    rng = np.random.default_rng(cfg.seed)
    start = pd.Timestamp(cfg.end) - pd.DateOffset(days=int(round(cfg.n_years * 365.25)) - 1)
    days = sessions(start.date(), cfg.end, calendar)
    n_t, n_s = len(days), cfg.n_symbols
    if n_t < 2 * REVERSAL_WINDOW or n_s < 1:
        raise ValueError(f"sample market too small: {n_s} symbols x {n_t} sessions")

    specs = REGIME_SPECS[cfg.n_regimes]
    paths = _simulate_paths(cfg, n_t, rng)
    regime, market, vol, beta, idio_vol = paths.regime, paths.market, paths.vol, paths.beta, paths.idio_vol
    log_ret = paths.log_ret
    kappa = cfg.signal_strength

    start_price = np.exp(rng.normal(np.log(50.0), 0.6, n_s))
    close = start_price[None, :] * np.exp(np.cumsum(log_ret, axis=0))
    prev_close = np.vstack([start_price[None, :], close[:-1]])
    total_vol = np.sqrt((beta[None, :] * vol[:, None]) ** 2 + idio_vol[None, :] ** 2)
    gap = 0.25 * total_vol * rng.standard_normal((n_t, n_s))
    open_ = prev_close * np.exp(gap)
    body_hi = np.maximum(open_, close)
    body_lo = np.minimum(open_, close)
    high = body_hi * np.exp(np.abs(0.4 * total_vol * rng.standard_normal((n_t, n_s))))
    low = body_lo * np.exp(-np.abs(0.4 * total_vol * rng.standard_normal((n_t, n_s))))
    w = rng.uniform(0.2, 0.8, (n_t, n_s))
    vwap = low + w * (high - low)
    base_volume = np.exp(rng.normal(13.0, 0.8, n_s))
    volume = np.round(
        base_volume[None, :]
        * np.exp(0.6 * np.abs(log_ret) / total_vol + 0.25 * rng.standard_normal((n_t, n_s)))
    )

    names = symbol_names(n_s)
    bars = pd.DataFrame(
        {
            "symbol": np.tile(np.array(names, dtype=object), n_t),
            "date": np.repeat(days.values, n_s),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "adj_close": close.ravel(),
            "volume": volume.ravel(),
            "vwap": vwap.ravel(),
        }
    )
    bars["date"] = pd.to_datetime(bars["date"]).dt.date
    bars = bars.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    truth = pd.DataFrame(
        {
            "date": days.date,
            "regime": regime.astype(np.int32),
            "regime_name": [specs[r][0] for r in regime],
            "market_return": market,
            "market_vol": vol,
            "signal_strength": kappa,
            "n_regimes": cfg.n_regimes,
            "seed": cfg.seed,
        }
    )
    return SampleMarket(bars=bars, truth=truth)


@dataclass(frozen=True)
class PlantedSkill:
    """The skill of the oracle that knows the planted structure (the regime of each day, every beta and
    volatility, the reversal coefficient and the past idiosyncratic returns) on the sample's label: the most a
    model trained on the sample can legitimately show, up to sampling error."""

    auc: float
    """Pooled AUC of the oracle's P(forward return > 0) over every (date, symbol) row."""
    rank_ic_mean: float
    """Mean over dates of the cross-sectional Spearman correlation of that probability with the return."""
    rows: int


def _impulse_response(kappa: float, n: int) -> np.ndarray:
    """psi_j: the effect of today's idiosyncratic shock on the return j sessions later (psi_0 = 1)."""
    psi = np.zeros(n)
    psi[0] = 1.0
    for j in range(1, n):
        psi[j] = -kappa / REVERSAL_WINDOW * psi[max(0, j - REVERSAL_WINDOW):j].sum()
    return psi


def compute_planted_skill(
    cfg: SampleSettings, horizon: int, entry_lag: int, *, n_symbols: int = 100, n_sessions: int = 2520,
    seed: int = 20_251,
) -> PlantedSkill:
    """The oracle's holdout-free skill on a fresh draw of the sample's structure (`cfg`'s regimes and
    `signal_strength`, `n_symbols` x `n_sessions`, its own `seed`), for the label of `horizon` sessions
    entered `entry_lag` sessions after the feature date.

    The oracle's forecast of the forward log return is exact in the mean: the reversal recursion run forward
    with no new shocks, plus beta times the regime means expected from today's regime through the transition
    matrix; its spread comes from the future shocks (the recursion's impulse response and the expected
    regime volatilities). Its probability Phi(mean / spread) ranks rows as well as anything can on this data.
    """
    from scipy.stats import norm

    from models.metrics import compute_auc, compute_daily_rank_ic

    sim = cfg.model_copy(update={"n_symbols": int(n_symbols), "seed": int(seed)})
    paths = _simulate_paths(sim, int(n_sessions), np.random.default_rng(sim.seed))
    specs = REGIME_SPECS[sim.n_regimes]
    means = np.array([s[1] for s in specs])
    variances = np.array([s[2] for s in specs]) ** 2
    trans = TRANSITIONS[sim.n_regimes]
    kappa, w = sim.signal_strength, REVERSAL_WINDOW
    steps = range(entry_lag + 1, entry_lag + horizon + 1)
    n_t = len(paths.market)
    # Idiosyncratic mean: the recursion continued from the last `w` returns with zero future shocks.
    idio = paths.idio
    hist = [np.vstack([np.zeros((w - 1 - j, idio.shape[1])), idio[: n_t - (w - 1 - j)]]) for j in range(w)]
    fwd_idio = np.zeros_like(idio)
    for k in range(1, entry_lag + horizon + 1):
        nxt = -kappa / w * np.sum(hist[-w:], axis=0)
        hist.append(nxt)
        if k in steps:
            fwd_idio += nxt
    psi = _impulse_response(kappa, entry_lag + horizon + 1)
    loading = [psi[[k - m for k in steps if k >= m]].sum() for m in range(1, entry_lag + horizon + 1)]
    idio_var = paths.idio_vol[None, :] ** 2 * float(np.sum(np.square(loading)))
    # Market: expected regime means and variances over the label's sessions, from today's regime.
    power = np.eye(len(means))
    m_mean, m_var = np.zeros(len(means)), np.zeros(len(means))
    for k in range(1, entry_lag + horizon + 1):
        power = power @ trans
        if k in steps:
            m_mean += power @ means
            m_var += power @ variances
    mean = paths.beta[None, :] * m_mean[paths.regime][:, None] + fwd_idio
    spread = np.sqrt(paths.beta[None, :] ** 2 * m_var[paths.regime][:, None] + idio_var)
    prob = norm.cdf(mean / spread)
    cum = np.vstack([np.zeros(idio.shape[1]), np.cumsum(paths.log_ret, axis=0)])
    t = np.arange(w, n_t - entry_lag - horizon)
    realised = cum[t + entry_lag + horizon + 1] - cum[t + entry_lag + 1]
    p = prob[t]
    dates = np.repeat(t, idio.shape[1])
    auc = compute_auc((realised > 0).ravel().astype(float), p.ravel())
    ic = compute_daily_rank_ic(dates, p.ravel(), realised.ravel())
    return PlantedSkill(auc=float(auc), rank_ic_mean=float(ic.mean()), rows=int(p.size))


def iter_symbol_chunks(market: SampleMarket, chunk: int = 50) -> Iterator[pd.DataFrame]:
    """The market's bars in chunks of `chunk` symbols (one ingest transaction each)."""
    symbols = market.bars["symbol"].unique()
    grouped = market.bars.groupby("symbol", sort=False).indices
    for i in range(0, len(symbols), chunk):
        idx = np.concatenate([grouped[s] for s in symbols[i : i + chunk]])
        yield market.bars.iloc[idx]


__all__ = [
    "PlantedSkill",
    "REGIME_SPECS",
    "TRANSITIONS",
    "SampleMarket",
    "compute_garch_t5_returns",
    "compute_planted_skill",
    "compute_regime_switching_returns",
    "compute_sample_market",
    "iter_symbol_chunks",
    "random_walk_settings",
    "symbol_names",
]
