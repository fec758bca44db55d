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


__all__ = ["FEATURES", "make_signal_rows"]
