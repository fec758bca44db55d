"""Calibration scores of binary probabilities: ECE, Brier, log-loss, reliability curve, consistency test."""

from __future__ import annotations

import numpy as np
import pandas as pd

_EPS = 1e-12


def _clean_with_mask(prob, label) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities clipped to [0, 1], labels, mask of the input rows kept): rows where both are finite."""
    p = np.asarray(prob, dtype=float)
    y = np.asarray(label, dtype=float)
    keep = np.isfinite(p) & np.isfinite(y)
    return np.clip(p[keep], 0.0, 1.0), y[keep], keep


def _clean(prob, label) -> tuple[np.ndarray, np.ndarray]:
    p, y, _ = _clean_with_mask(prob, label)
    return p, y


def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    # Equal-width bins on [0, 1]; p = 1 falls in the last bin.
    return np.minimum((p * n_bins).astype(int), n_bins - 1)


def compute_ece(prob, label, n_bins: int = 10) -> float:
    """Expected calibration error: sum over equal-width bins of |mean(y) - mean(p)| weighted by bin share."""
    p, y = _clean(prob, label)
    if p.size == 0:
        return float("nan")
    idx = _bin_index(p, n_bins)
    gap = np.bincount(idx, weights=y - p, minlength=n_bins)
    return float(np.abs(gap).sum() / p.size)


def compute_brier(prob, label) -> float:
    """Mean squared difference between probability and outcome."""
    p, y = _clean(prob, label)
    return float(np.mean((p - y) ** 2)) if p.size else float("nan")


def compute_log_loss(prob, label) -> float:
    """Mean negative log-likelihood of the outcomes (probabilities clipped away from 0 and 1)."""
    p, y = _clean(prob, label)
    if p.size == 0:
        return float("nan")
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def compute_reliability_curve(prob, label, n_bins: int = 10) -> pd.DataFrame:
    """Per non-empty bin: bin bounds, row count, mean probability and observed frequency of the positive."""
    p, y = _clean(prob, label)
    idx = _bin_index(p, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    nz = count > 0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1][nz],
            "bin_upper": edges[1:][nz],
            "count": count[nz].astype(int),
            "mean_probability": sum_p[nz] / count[nz],
            "observed_frequency": sum_y[nz] / count[nz],
        }
    )


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
    p, y, keep = _clean_with_mask(prob, label)
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
    n_bins: int = 10,
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
    p, y, keep = _clean_with_mask(prob, label)
    if p.size == 0:
        return float("nan")
    observed = compute_ece(p, y, n_bins)
    rng = np.random.default_rng(seed)
    idx = _bin_index(p, n_bins)
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


__all__ = [
    "compute_brier",
    "compute_calibration_slope",
    "compute_ece",
    "compute_ece_consistency_pvalue",
    "compute_log_loss",
    "compute_reliability_curve",
]
