"""One definition of every score: discrimination, calibration (log-loss, Brier, ECE, reliability), ranking,
per-year signal metrics, and the quantile scores (pinball, PIT). Pure.

Binary scores take `(y, p)`: outcomes first, probabilities second (scikit-learn's order); rows where either
is not finite are left out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

EPS = 1e-7


def compute_auc(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, p))


def compute_auc_se_null(y: np.ndarray) -> float:
    """Standard error of the AUC when there is no signal (Mann-Whitney null): sqrt((n0+n1+1)/(12 n0 n1))."""
    y = np.asarray(y)
    n1 = int((y == 1).sum())
    n0 = int(len(y) - n1)
    if n0 == 0 or n1 == 0:
        return float("nan")
    return math.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))


def compute_auc_se_by_date(dates, y: np.ndarray, p: np.ndarray, n_boot: int = 200, seed: int = 0,
                           block: int = 1) -> float:
    """Standard error of the AUC from a bootstrap over whole dates (or any cluster key), in blocks of
    `block` consecutive dates.

    Labels of one date share the market's move and scores share date-level features, so rows are not
    independent: resampling dates keeps that clustering and gives an honest (larger) SE than the iid one.
    Labels over H sessions also overlap the next H - 1 dates' labels: blocks of that many consecutive dates
    (a moving-block bootstrap in date order) keep that serial dependence too.
    A resample is a multinomial weight per date; the AUC of weighted rows comes from one global sort.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    codes, _ = pd.factorize(pd.Series(np.asarray(dates)), sort=True)
    n_dates = int(codes.max()) + 1 if len(codes) else 0
    if n_dates < 5 or len(np.unique(y)) < 2:
        return float("nan")
    block = int(min(max(1, block), n_dates))
    n_blocks = -(-n_dates // block)
    _, tie = np.unique(p, return_inverse=True)
    rng = np.random.default_rng(seed)
    aucs = np.empty(n_boot)
    for b in range(n_boot):
        starts = rng.integers(0, n_dates - block + 1, n_blocks)
        picked = (starts[:, None] + np.arange(block)[None, :]).ravel()[:n_dates]
        w = np.bincount(picked, minlength=n_dates)[codes].astype(float)
        pos = np.bincount(tie, w * y)
        neg = np.bincount(tie, w * (1 - y))
        below = np.cumsum(neg) - neg
        denom = pos.sum() * neg.sum()
        aucs[b] = np.sum(pos * (below + 0.5 * neg)) / denom if denom > 0 else np.nan
    aucs = aucs[np.isfinite(aucs)]
    return float(np.std(aucs, ddof=1)) if len(aucs) > 2 else float("nan")


def compute_mean_hac(x, lags: int) -> tuple[float, float]:
    """(mean, standard error) of a series in time order, the SE with Newey-West (Bartlett) weights over
    `lags` lags: a daily score of labels spanning H sessions is serially correlated up to H - 1 lags.
    Non-finite values are left out; (nan, nan) with fewer than 3 values."""
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n < 3:
        return float("nan"), float("nan")
    d = v - v.mean()
    var = float(d @ d) / n
    for k in range(1, min(int(lags), n - 1) + 1):
        var += 2.0 * (1.0 - k / (lags + 1.0)) * float(d[k:] @ d[:-k]) / n
    return float(v.mean()), float(np.sqrt(max(var, 0.0) / n))


def compute_log_loss_gain_by_date(dates, y, p, reference, lags: int) -> tuple[float, float]:
    """(mean, HAC standard error) over dates of each date's mean log-loss improvement of `p` over the
    `reference` probabilities (a constant base rate is a no-skill forecaster): positive = `p` is better.
    Dates are the clusters; `lags` covers labels that overlap the following dates."""
    y, p, keep = finite_pairs(y, p)
    ref = np.clip(np.broadcast_to(np.asarray(reference, dtype=float), keep.shape)[keep], EPS, 1 - EPS)
    p = np.clip(p, EPS, 1 - EPS)
    gain = -(y * np.log(ref) + (1 - y) * np.log(1 - ref)) + (y * np.log(p) + (1 - y) * np.log(1 - p))
    by_date = pd.Series(gain).groupby(np.asarray(pd.to_datetime(pd.Series(np.asarray(dates))))[keep]).mean()
    return compute_mean_hac(by_date.sort_index().to_numpy(), lags)


def finite_pairs(y, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, probabilities clipped to [0, 1], mask of the input rows kept): rows where both are finite."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    keep = np.isfinite(p) & np.isfinite(y)
    return y[keep], np.clip(p[keep], 0.0, 1.0), keep


def compute_bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width probability bins on [0, 1]; p = 1 falls in the last bin."""
    return np.minimum((np.asarray(p, dtype=float) * n_bins).astype(int), n_bins - 1)


def compute_log_loss(y, p) -> float:
    """Mean negative log-likelihood of the outcomes (probabilities clipped to [EPS, 1 - EPS])."""
    y, p, _ = finite_pairs(y, p)
    if p.size == 0:
        return float("nan")
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def compute_brier(y, p) -> float:
    """Mean squared difference between probability and outcome."""
    y, p, _ = finite_pairs(y, p)
    return float(np.mean((p - y) ** 2)) if p.size else float("nan")


def compute_ece(y, p, n_bins: int = 15) -> float:
    """Expected calibration error: sum over equal-width bins of |mean(y) - mean(p)| weighted by bin share."""
    y, p, _ = finite_pairs(y, p)
    if p.size == 0:
        return float("nan")
    gap = np.bincount(compute_bin_index(p, n_bins), weights=y - p, minlength=n_bins)
    return float(np.abs(gap).sum() / p.size)


def compute_reliability(y, p, n_bins: int = 15) -> pd.DataFrame:
    """Per non-empty bin: bin bounds, row count, mean probability and observed frequency of the positive
    (the reliability diagram)."""
    y, p, _ = finite_pairs(y, p)
    idx = compute_bin_index(p, n_bins)
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
            "mean_probability": sum_p[nz] / np.maximum(count[nz], 1),
            "observed_frequency": sum_y[nz] / np.maximum(count[nz], 1),
        }
    )


def compute_daily_rank_ic(dates, p: np.ndarray, fwd_return: np.ndarray) -> pd.Series:
    """Spearman correlation of the score with the forward return across symbols, one value per date."""
    frame = pd.DataFrame({"date": np.asarray(dates), "p": np.asarray(p, float), "r": np.asarray(fwd_return, float)})
    frame = frame.dropna()
    frame = frame[frame.groupby("date")["p"].transform("size") >= 3]
    if frame.empty:
        return pd.Series(dtype=float)
    g = frame.groupby("date")
    # Rank within date, then Pearson of the ranks = Spearman (vectorised over dates).
    rp = g["p"].rank()
    rr = g["r"].rank()
    dp = rp - rp.groupby(frame["date"]).transform("mean")
    dr = rr - rr.groupby(frame["date"]).transform("mean")
    num = (dp * dr).groupby(frame["date"]).sum()
    den = np.sqrt((dp**2).groupby(frame["date"]).sum() * (dr**2).groupby(frame["date"]).sum())
    ic = num / den.replace(0, np.nan)
    return ic.dropna()


def compute_top_decile_hit_rate(dates, p: np.ndarray, y: np.ndarray) -> float:
    """Share of positive labels among each date's top-decile scores (at least one name per date)."""
    frame = pd.DataFrame({"date": np.asarray(dates), "p": np.asarray(p, float), "y": np.asarray(y, float)})
    n = frame.groupby("date")["p"].transform("size")
    k = np.maximum(1, np.floor(n / 10)).astype(int)
    rank = frame.groupby("date")["p"].rank(ascending=False, method="first")
    top = frame[rank <= k]
    return float(top["y"].mean()) if len(top) else float("nan")


def compute_signal_metrics(
    dates, y: np.ndarray, p: np.ndarray, fwd_return: np.ndarray | None = None, n_bins: int = 15,
    base_rate: float | None = None,
) -> dict[str, float]:
    """AUC, log-loss, Brier + skill vs the base rate, ECE, daily rank IC mean / IR, top-decile hit rate.

    `base_rate` is the positive rate a no-skill forecaster would quote (the training base rate);
    None uses the evaluated sample's own rate (the most favourable constant for the baseline).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    rate = float(np.mean(y)) if base_rate is None else float(base_rate)
    brier = compute_brier(y, p)
    brier_ref = compute_brier(y, np.full_like(p, rate))
    out = {
        "n": float(len(y)),
        "positive_rate": float(np.mean(y)) if len(y) else float("nan"),
        "auc": compute_auc(y, p),
        "auc_se_null": compute_auc_se_null(y),
        "auc_se_date": compute_auc_se_by_date(dates, y, p),
        "log_loss": compute_log_loss(y, p),
        "log_loss_base_rate": compute_log_loss(y, np.full_like(p, rate)),
        "brier": brier,
        "brier_base_rate": brier_ref,
        "brier_skill": 1.0 - brier / brier_ref if brier_ref > 0 else float("nan"),
        "ece": compute_ece(y, p, n_bins),
        "top_decile_hit_rate": compute_top_decile_hit_rate(dates, p, y),
    }
    if fwd_return is not None:
        ic = compute_daily_rank_ic(dates, p, fwd_return)
        sd = float(ic.std(ddof=1)) if len(ic) > 1 else float("nan")
        out["rank_ic_mean"] = float(ic.mean()) if len(ic) else float("nan")
        out["rank_ic_std"] = sd
        out["rank_ic_ir"] = float(ic.mean() / sd) if sd and sd > 0 else float("nan")
        out["rank_ic_days"] = float(len(ic))
    return out


def compute_metrics_by_year(
    dates, y: np.ndarray, p: np.ndarray, fwd_return: np.ndarray | None = None, n_bins: int = 15,
    base_rate: float | None = None,
) -> dict[int, dict[str, float]]:
    """`compute_signal_metrics` for each calendar year of `dates`."""
    years = pd.to_datetime(pd.Series(np.asarray(dates))).dt.year.to_numpy()
    out = {}
    for year in np.unique(years):
        m = years == year
        out[int(year)] = compute_signal_metrics(
            np.asarray(dates)[m], np.asarray(y)[m], np.asarray(p)[m],
            None if fwd_return is None else np.asarray(fwd_return)[m], n_bins, base_rate,
        )
    return out


# -- quantile forecasts ---------------------------------------------------------------------------------
def pinball_loss(y: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    """Pinball (quantile) loss of quantile forecast `q` at level `tau` for outcome `y`, elementwise."""
    d = np.asarray(y, dtype=float) - np.asarray(q, dtype=float)
    return np.maximum(tau * d, (tau - 1.0) * d)


def mean_pinball(y: np.ndarray, q: np.ndarray, quantiles: tuple[float, ...]) -> float:
    """Mean pinball loss over rows with a finite outcome and forecast, averaged over quantile levels."""
    y = np.asarray(y, dtype=float)
    q = np.asarray(q, dtype=float)
    ok = np.isfinite(y) & np.all(np.isfinite(q), axis=1)
    if not ok.any():
        return float("nan")
    return float(np.mean([pinball_loss(y[ok], q[ok, j], t).mean() for j, t in enumerate(quantiles)]))


def compute_pit(value: np.ndarray, qs: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """Probability integral transform from a few quantiles: the CDF interpolated linearly between the
    given (quantile, level) points and extrapolated with the outer segments' slopes, clipped to [0, 1]."""
    value = np.atleast_1d(np.asarray(value, dtype=float))
    qs = np.atleast_2d(np.asarray(qs, dtype=float))
    lv = np.asarray(levels, dtype=float)
    out = np.full(len(value), np.nan)
    for i, (v, row) in enumerate(zip(value, qs, strict=True)):
        if not (np.isfinite(v) and np.all(np.isfinite(row))):
            continue
        x = np.maximum.accumulate(row)
        if v <= x[0]:
            slope = (lv[1] - lv[0]) / max(x[1] - x[0], 1e-12)
            out[i] = lv[0] - slope * (x[0] - v)
        elif v >= x[-1]:
            slope = (lv[-1] - lv[-2]) / max(x[-1] - x[-2], 1e-12)
            out[i] = lv[-1] + slope * (v - x[-1])
        else:
            out[i] = np.interp(v, x, lv)
    return np.clip(out, 0.0, 1.0)


__all__ = [
    "finite_pairs",
    "EPS",
    "compute_auc",
    "compute_auc_se_by_date",
    "compute_auc_se_null",
    "compute_bin_index",
    "compute_brier",
    "compute_daily_rank_ic",
    "compute_ece",
    "compute_log_loss",
    "compute_log_loss_gain_by_date",
    "compute_mean_hac",
    "compute_metrics_by_year",
    "compute_pit",
    "compute_reliability",
    "compute_signal_metrics",
    "compute_top_decile_hit_rate",
    "mean_pinball",
    "pinball_loss",
]
