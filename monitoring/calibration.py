"""Calibration tests of a monitoring window: the cross-sectional calibration slope and the ECE consistency
test (the scores themselves are models.metrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.metrics import compute_bin_index, compute_ece, finite_pairs

_EPS = 1e-12


def compute_calibration_slope(prob, label, dates=None, hac_lags: int = 0) -> tuple[float, float]:
    """(slope, standard error) of the cross-sectional calibration slope.

    Within each date, the outcome's deviation from the date's share of positives is regressed on the
    probability's deviation from the date's mean probability (no intercept): 1 when a name's probability
    above its peers means what it says, < 1 when the model is over-confident (sharpened), > 1 when it is
    timid, ~0 when its ranking carries nothing. The market's direction drops out, so the slope of a model
    that ranks names within a date is judged on what it claims. Standard error: per-date scores with
    Newey-West weights over `hac_lags` dates (labels over h sessions overlap h - 1 following dates).
    Without `dates` the whole window is one cross-section and rows are independent.
    """
    y, p, keep = finite_pairs(label, prob)
    group = 0 if dates is None else pd.to_datetime(pd.Series(dates)).to_numpy()[keep]
    frame = pd.DataFrame({"g": group, "p": p, "y": y})
    if len(frame) < 3:
        return float("nan"), float("nan")
    x = frame["p"] - frame.groupby("g")["p"].transform("mean")
    d = frame["y"] - frame.groupby("g")["y"].transform("mean")
    sxx = float((x**2).sum())
    if sxx <= 0:
        return float("nan"), float("nan")
    slope = float((x * d).sum() / sxx)
    resid = x * (d - slope * x)
    if dates is None:
        var = float((resid**2).sum())
    else:
        scores = resid.groupby(frame["g"]).sum().sort_index().to_numpy()
        var = float(np.sum(scores**2))
        for k in range(1, min(hac_lags, len(scores) - 1) + 1):
            var += 2.0 * (1.0 - k / (hac_lags + 1.0)) * float(np.sum(scores[k:] * scores[:-k]))
    return slope, float(np.sqrt(max(var, 0.0)) / sxx)


def compute_ece_consistency_pvalue(
    prob,
    label,
    n_bins: int,
    n_resamples: int = 500,
    seed: int = 0,
    *,
    date_index=None,
    shocks: np.ndarray | None = None,
) -> float:
    """P-value of the observed ECE under calibration (Broecker & Smith consistency resampling).

    Outcomes are redrawn as Bernoulli(p) for the same probabilities; the share of redraws whose ECE is at
    least the observed one is the p-value. It accounts for the upward bias of ECE on small windows, so a
    small window of a well-calibrated model does not look miscalibrated.

    With `shocks` ((paths, dates) market-wide shocks, see `monitoring.dependence.compute_shock_paths`) and
    `date_index` (each row's date position 0..dates-1 in the window), redraw r uses Bernoulli(p + shock)
    with the shocks of path r: the null is then "calibrated on average, with the market's own stretches of
    mostly rising or mostly falling sessions", not "every row independent". A model that ranks names within
    a date is calibrated only in that sense.
    """
    y, p, keep = finite_pairs(label, prob)
    if p.size == 0:
        return float("nan")
    observed = compute_ece(y, p, n_bins)
    rng = np.random.default_rng(seed)
    idx = compute_bin_index(p, n_bins)
    onehot = np.zeros((p.size, n_bins))
    onehot[np.arange(p.size), idx] = 1.0
    day = None
    if shocks is not None and date_index is not None and len(shocks):
        day = np.asarray(date_index, dtype=int)[keep]
    exceed = 0
    for start in range(0, n_resamples, 100):
        r = min(100, n_resamples - start)
        truth = np.broadcast_to(p, (r, p.size))
        if day is not None:
            paths = shocks[(start + np.arange(r)) % len(shocks)]
            truth = np.clip(truth + paths[:, day], 0.0, 1.0)
        draws = (rng.random((r, p.size)) < truth).astype(float)
        null = np.abs((draws - p) @ onehot).sum(axis=1) / p.size
        exceed += int(np.sum(null >= observed - 1e-12))
    return float((1 + exceed) / (n_resamples + 1))


__all__ = ["compute_calibration_slope", "compute_ece_consistency_pvalue"]
