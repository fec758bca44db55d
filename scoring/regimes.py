"""Causal regime scoring: the hand-written forward filter, hysteresis, the volatility baseline, Sharpe."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

_LOG_2PI = float(np.log(2.0 * np.pi))


def compute_filtered_probabilities(
    returns: np.ndarray, means, vols, transmat, startprob, initial: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Forward (Hamilton) filter: P(s_t = i | r_1..r_t) for every t, and each day's predictive log-density.

    Uses returns with date <= t only: row t is computed from row t-1 and r_t, so cutting the data at t
    leaves rows <= t unchanged. A missing return (NaN) carries the prediction forward. Smoothed
    probabilities (which use r_{t+1..T}) are never computed here. `initial`: the filtered probabilities
    of the day before the first return (continuing a filter after a parameter change); the first
    prediction is then initial @ transmat instead of `startprob`."""
    r = np.asarray(returns, dtype=float)
    mu, sd = np.asarray(means, dtype=float), np.asarray(vols, dtype=float)
    tm, prior = np.asarray(transmat, dtype=float), np.asarray(startprob, dtype=float)
    n, k = len(r), len(mu)
    filt = np.empty((n, k))
    logdens = np.full(n, np.nan)
    prev = prior / prior.sum()
    if initial is not None:
        prev = np.asarray(initial, dtype=float) @ tm
    for t in range(n):
        pred = prev if t == 0 else prev @ tm
        if np.isfinite(r[t]):
            z = (r[t] - mu) / sd
            loglik = -0.5 * (z * z + _LOG_2PI) - np.log(sd)
            m = loglik.max()
            w = pred * np.exp(loglik - m)
            total = w.sum()
            logdens[t] = m + np.log(total)
            post = w / total
        else:
            post = pred
        filt[t] = post
        prev = post
    return filt, logdens


def compute_hysteresis(probs: np.ndarray, enter: float = 0.7, leave: float = 0.3) -> np.ndarray:
    """Sticky state path: switch to state j when P(j) > enter, or to the argmax once P(current) < leave.

    Day 0 starts in the argmax. Causal: the state at t depends on probabilities up to t only."""
    if not 0.0 <= leave <= enter <= 1.0:
        raise ValueError(f"hysteresis needs 0 <= leave ({leave}) <= enter ({enter}) <= 1")
    p = np.asarray(probs)
    out = np.empty(len(p), dtype=int)
    cur = -1
    for t in range(len(p)):
        row = p[t]
        best = int(np.argmax(row))
        entering = best != cur and row[best] > enter
        if cur < 0 or entering or row[cur] < leave:
            cur = best
        out[t] = cur
    return out


def compute_regime_runs(states: np.ndarray) -> np.ndarray:
    """Age of the current state in sessions (1 on the day it is entered)."""
    s = np.asarray(states)
    age = np.ones(len(s), dtype=int)
    for t in range(1, len(s)):
        age[t] = age[t - 1] + 1 if s[t] == s[t - 1] else 1
    return age


def fit_vol_thresholds(rvol_train: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Baseline rule fit: cut the training realised volatility at the quantiles of the state frequencies.

    With fractions (0.7, 0.3), the 30% most volatile days are the high-vol state."""
    x = np.asarray(rvol_train, dtype=float)
    x = x[np.isfinite(x)]
    cum = np.cumsum(np.asarray(fractions, dtype=float))[:-1]
    return np.quantile(x, np.clip(cum, 0.0, 1.0)) if len(cum) else np.array([])


def compute_vol_threshold_states(rvol: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Baseline rule: state = number of thresholds the trailing realised volatility exceeds."""
    x = np.asarray(rvol, dtype=float)
    states = np.searchsorted(np.asarray(thresholds), np.nan_to_num(x, nan=-np.inf), side="right")
    return states.astype(int)


def compute_accuracy(pred_labels, true_labels) -> float:
    """Share of days where the label matches."""
    a, b = np.asarray(pred_labels), np.asarray(true_labels)
    return float(np.mean(a == b)) if len(a) else float("nan")


def compute_switches_per_year(states: np.ndarray, sessions_per_year: float = 252.0) -> float:
    s = np.asarray(states)
    if len(s) < 2:
        return 0.0
    return float(np.sum(s[1:] != s[:-1]) * sessions_per_year / (len(s) - 1))


def compute_param_schedule(params) -> list[tuple[dt.date | None, tuple[np.ndarray, ...]]]:
    """(fit_end, (means, vols, transmat, startprob)) for the walk-forward refits stored in
    params.extra["walk_forward"] (oldest first), then the final parameters. Without a schedule: the final
    parameters alone."""
    entries = []
    for p in params.extra.get("walk_forward", []) or []:
        entries.append((dt.date.fromisoformat(p["train_end"]),
                        (np.asarray(p["means"]), np.asarray(p["vols"]), np.asarray(p["transmat"]),
                         np.asarray(p["startprob"]))))
    end = dt.date.fromisoformat(params.train_end) if params.train_end else None
    entries.append((end, params.arrays()))
    return entries


def compute_scheduled_probabilities(dates, returns: np.ndarray, params) -> tuple[np.ndarray, np.ndarray, list]:
    """Filtered probabilities with the parameters in force each day: the latest refit whose fit ended before
    that day (days before the first refit use the first; they are in-sample). The filter state carries
    across refits. Returns (probs, log-densities, fit_end per day). Causal by construction."""
    schedule = compute_param_schedule(params)
    days = pd.to_datetime(pd.Series(dates)).dt.date.to_list()
    ends = [e for e, _ in schedule]
    # entry j was fitted on sessions <= ends[j]: it is in force on the days after ends[j]
    idx = np.zeros(len(days), dtype=int)
    for j, e in enumerate(ends):
        if e is not None:
            idx[np.asarray([d > e for d in days], dtype=bool)] = j
    r = np.asarray(returns, dtype=float)
    k = len(schedule[0][1][0])
    probs, logdens = np.empty((len(r), k)), np.empty(len(r))
    start, prev = 0, None
    while start < len(r):
        stop = start
        while stop < len(r) and idx[stop] == idx[start]:
            stop += 1
        mu, sd, tm, sp = schedule[idx[start]][1]
        probs[start:stop], logdens[start:stop] = compute_filtered_probabilities(
            r[start:stop], mu, sd, tm, sp, initial=prev)
        prev = probs[stop - 1]
        start = stop
    return probs, logdens, [ends[i] for i in idx]


def compute_regime_frame(
    dates, returns: np.ndarray, params, enter: float = 0.7, leave: float = 0.3
) -> pd.DataFrame:
    """One row per date: filtered probabilities (JSON by label), the argmax (`raw_regime`), the
    hysteresis `regime`, its filtered probability, its age in sessions and `fit_end` (the last session the
    parameters in force were fitted on; a row is out of sample when its date is after it). Pure."""
    probs, logdens, fit_end = compute_scheduled_probabilities(dates, returns, params)
    labels = np.asarray(params.labels, dtype=object)
    sticky = compute_hysteresis(probs, enter, leave)
    raw = probs.argmax(axis=1)
    out = pd.DataFrame({"date": pd.to_datetime(pd.Series(dates)).dt.date.to_numpy()})
    out["regime"] = labels[sticky]
    out["regime_probability"] = probs[np.arange(len(probs)), sticky]
    out["raw_regime"] = labels[raw]
    out["raw_probability"] = probs.max(axis=1)
    out["regime_age"] = compute_regime_runs(sticky)
    out["probabilities"] = [
        json.dumps({str(lab): round(float(v), 10) for lab, v in zip(labels, row, strict=True)}) for row in probs
    ]
    out["log_density"] = logdens
    out["fit_end"] = fit_end
    out["in_sample"] = [bool(e is not None and d <= e) for d, e in zip(out["date"], fit_end, strict=True)]
    return out


def compute_regime_sharpe(returns: pd.Series, regimes: pd.Series, periods: float = 252.0) -> pd.DataFrame:
    """Annualised Sharpe of the market return on the days labelled with each regime (aligned by index).

    The return on day t is attributed to the regime known at the close of t-1 (what a trader could act on)."""
    df = pd.DataFrame({"ret": returns, "regime": regimes.shift(1)}).dropna()
    g = df.groupby("regime")["ret"]
    out = pd.DataFrame({"sessions": g.size(), "mean": g.mean(), "vol": g.std()})
    out["sharpe"] = np.where(out["vol"] > 0, out["mean"] / out["vol"] * np.sqrt(periods), np.nan)
    return out.reset_index()


__all__ = [
    "compute_accuracy",
    "compute_filtered_probabilities",
    "compute_param_schedule",
    "compute_hysteresis",
    "compute_regime_frame",
    "compute_regime_runs",
    "compute_regime_sharpe",
    "compute_scheduled_probabilities",
    "compute_switches_per_year",
    "compute_vol_threshold_states",
    "fit_vol_thresholds",
]
