"""Synthetic signal windows with known answers (planted covariate shift, sharpened probabilities) for the
monitoring tests and bench."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


__all__ = ["FEATURES", "PANEL_FEATURES", "make_ar1_path", "make_signal_panel", "make_signal_rows"]
