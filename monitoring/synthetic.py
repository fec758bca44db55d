"""Synthetic signal windows and regime paths with known answers (planted covariate shift, sharpened
probabilities, a market stuck in one regime, regimes that flicker) for the monitoring tests and bench."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from models.regimes import RegimeParams, compute_regime_frame, compute_stationary
from monitoring.regimes import compute_state_columns

FEATURES = ("f0", "f1", "f2", "f3", "f4", "f5")
_WEIGHTS = (0.5, -0.3)


def make_signal_rows(
    n: int,
    rng: np.random.Generator,
    *,
    features: tuple[str, ...] = FEATURES,
    shift: dict[str, float] | None = None,
    sharpen: float = 1.0,
) -> pd.DataFrame:
    """Rows with standard-normal features, a calibrated `probability` and a Bernoulli `label`.

    The true log-odds is a fixed linear function of the first two features; `probability` is that model's
    output.
    `shift` adds a constant (in standard deviations) to the named features: covariate shift.
    `sharpen` multiplies the log-odds of `probability` (not of the label): > 1 makes the model
    over-confident, i.e. miscalibrated while its ranking is unchanged.
    """
    x = pd.DataFrame(rng.normal(size=(n, len(features))), columns=list(features))
    for col, delta in (shift or {}).items():
        x[col] = x[col] + delta
    z = 0.05 + sum(w * x[c].to_numpy() for w, c in zip(_WEIGHTS, features, strict=False))
    x["label"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    x["probability"] = 1.0 / (1.0 + np.exp(-sharpen * z))
    return x


PANEL_FEATURES = {"idio_a": (0.0, 0.0), "idio_b": (0.0, 0.0), "market_fast": (0.5, 0.5),
                  "market_slow": (0.6, 0.97), "market_only": (0.95, 0.98), "mixed": (0.3, 0.9)}
"""Panel features: name -> (share of variance common to all symbols of a date, day-to-day autocorrelation of
that common part). The slow ones behave like 30-60 session rolling statistics."""


def make_ar1_path(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary AR(1) path with unit variance."""
    out = np.empty(n)
    out[0] = rng.normal()
    e = rng.normal(size=n) * np.sqrt(1.0 - phi**2)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + e[t]
    return out


def make_signal_panel(
    n_dates: int,
    n_symbols: int,
    rng: np.random.Generator,
    *,
    features: dict[str, tuple[float, float]] | None = None,
    shock_sd: float = 0.12,
    shock_phi: float = 0.9,
    sharpen: float = 1.0,
    shift: dict[str, float] | None = None,
    start: str = "2015-01-02",
) -> pd.DataFrame:
    """A dates x symbols panel (`date`, `symbol`, features, `probability`, `label`) with market structure.

    Each feature is sqrt(c) * (a common AR(1) path of the date) + sqrt(1 - c) * (a symbol's own noise), unit
    variance (see PANEL_FEATURES). The model is cross-sectional: its log-odds is a fixed function of the two
    idiosyncratic features, and each date adds a market-wide shock (sd `shock_sd`, AR(1) `shock_phi`) to every
    symbol's probability of a positive label, which the model does not forecast: `probability` is calibrated
    on average over dates, not date by date. `sharpen` and `shift` as in `make_signal_rows`.
    """
    spec = dict(features or PANEL_FEATURES)
    n = n_dates * n_symbols
    dates = pd.bdate_range(start, periods=n_dates)
    frame = pd.DataFrame({"date": np.repeat(dates, n_symbols),
                          "symbol": np.tile([f"S{i:03d}" for i in range(n_symbols)], n_dates)})
    for name, (common, phi) in spec.items():
        path = np.repeat(make_ar1_path(n_dates, phi, rng), n_symbols)
        frame[name] = np.sqrt(common) * path + np.sqrt(1.0 - common) * rng.normal(size=n)
    for col, delta in (shift or {}).items():
        frame[col] = frame[col] + delta
    idio = [c for c, (common, _) in spec.items() if common == 0.0][:2]
    z = sum(w * frame[c].to_numpy() for w, c in zip(_WEIGHTS, idio, strict=False))
    truth = 1.0 / (1.0 + np.exp(-z))
    shock = np.repeat(shock_sd * make_ar1_path(n_dates, shock_phi, rng), n_symbols)
    frame["label"] = (rng.random(n) < np.clip(truth + shock, 0.0, 1.0)).astype(int)
    frame["probability"] = 1.0 / (1.0 + np.exp(-sharpen * z))
    return frame


REGIME_STATES = {"calm_bull": (0.0008, 0.007, 77.0), "neutral": (0.0002, 0.012, 42.0),
                 "high_vol_bear": (-0.001, 0.025, 27.0)}
"""State -> (daily mean return, daily volatility, expected duration in sessions): what the regime model finds on
the sample market (bench/results/regimes.json)."""


def make_regime_params(states: dict[str, tuple[float, float, float]] | None = None) -> RegimeParams:
    """Known regime parameters: each state leaves after its expected duration on average, to the other states
    alike."""
    spec = dict(states or REGIME_STATES)
    k = len(spec)
    leave = np.array([1.0 / d for _, _, d in spec.values()])
    tm = np.where(np.eye(k, dtype=bool), 1.0 - leave[:, None], (leave / max(k - 1, 1))[:, None])
    return RegimeParams(
        means=tuple(m for m, _, _ in spec.values()), vols=tuple(v for _, v, _ in spec.values()),
        transmat=tuple(tuple(float(x) for x in row) for row in tm),
        startprob=tuple(float(x) for x in compute_stationary(tm)), labels=tuple(spec),
    )


def make_regime_returns(
    n: int, rng: np.random.Generator, params: RegimeParams, *, durations: dict[str, float] | None = None,
    start_state: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(true states, daily returns) of `n` sessions of a Markov chain with `params`' means and vols; with
    `durations` (state -> expected duration) the chain moves at those speeds instead of `params`' ones."""
    tm = np.asarray(params.transmat, dtype=float)
    if durations:
        spec = {lab: (m, v, durations.get(lab, 1.0 / (1.0 - tm[i, i])))
                for i, (lab, m, v) in enumerate(zip(params.labels, params.means, params.vols, strict=True))}
        tm = np.asarray(make_regime_params(spec).transmat)
    k = len(params.labels)
    states = np.empty(n, dtype=int)
    states[0] = rng.choice(k, p=np.asarray(params.startprob)) if start_state is None else start_state
    draws = rng.random(n)
    cum = np.cumsum(tm, axis=1)
    for t in range(1, n):
        states[t] = min(int(np.searchsorted(cum[states[t - 1]], draws[t], side="right")), k - 1)
    returns = np.asarray(params.means)[states] + np.asarray(params.vols)[states] * rng.normal(size=n)
    return states, returns


def make_regime_rows(returns: np.ndarray, params: RegimeParams, start: str = "2010-01-04") -> pd.DataFrame:
    """The regime model's output on `returns` (what the mirror holds): `date`, `regime` (hysteresis label) and
    one `p_<state>` column of filtered probability per state, one row per session."""
    frame = compute_regime_frame(pd.bdate_range(start, periods=len(returns)), np.asarray(returns), params)
    probs = compute_state_columns([json.loads(p) for p in frame["probabilities"]])
    return pd.concat([frame[["date", "regime"]].reset_index(drop=True), probs], axis=1)


__all__ = [
    "FEATURES",
    "PANEL_FEATURES",
    "REGIME_STATES",
    "make_ar1_path",
    "make_regime_params",
    "make_regime_returns",
    "make_regime_rows",
    "make_signal_panel",
    "make_signal_rows",
]
