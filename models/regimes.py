"""The regime model: Gaussian HMM / Markov-switching fits, BIC choice, state ordering and label matching,
the walk-forward schedule, the causal (Hamilton) forward filter, hysteresis and the regime frame.

What the registered pyfunc predicts and what the nightly scorer writes are both `compute_regime_frame`.
Pure: arrays and frames in and out, no I/O."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

LABELS: dict[int, tuple[str, ...]] = {
    2: ("calm_bull", "high_vol_bear"),
    3: ("calm_bull", "neutral", "high_vol_bear"),
}
# Daily returns are ~1e-2; both libraries are better conditioned on percent returns.
_SCALE = 100.0
_LOG_2PI = float(np.log(2.0 * np.pi))


def compute_stationary(transmat: np.ndarray) -> np.ndarray:
    """Stationary distribution of a transition matrix (its Perron eigenvector, summing to 1)."""
    evals, evecs = np.linalg.eig(np.asarray(transmat, dtype=float).T)
    v = np.abs(np.real(evecs[:, np.argmin(np.abs(evals - 1.0))]))
    return v / v.sum()


@dataclass(frozen=True)
class RegimeParams:
    """A fitted Gaussian regime model in daily-return units; state i is called labels[i]."""

    means: tuple[float, ...]
    vols: tuple[float, ...]
    transmat: tuple[tuple[float, ...], ...]
    startprob: tuple[float, ...]
    labels: tuple[str, ...]
    model_kind: str = "hmm"
    loglik: float = float("nan")
    n_obs: int = 0
    train_start: str | None = None
    train_end: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.means)

    @property
    def n_params(self) -> int:
        # means + variances + free transition probabilities (the start distribution is the stationary one)
        return 2 * self.k + self.k * (self.k - 1)

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + self.n_params * math.log(max(self.n_obs, 1))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.asarray(self.means), np.asarray(self.vols), np.asarray(self.transmat),
                np.asarray(self.startprob))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RegimeParams:
        raw = json.loads(text)
        raw["means"] = tuple(raw["means"])
        raw["vols"] = tuple(raw["vols"])
        raw["transmat"] = tuple(tuple(r) for r in raw["transmat"])
        raw["startprob"] = tuple(raw["startprob"])
        raw["labels"] = tuple(raw["labels"])
        return cls(**raw)


def compute_expected_durations(params: RegimeParams) -> dict[str, float]:
    """Expected sessions spent in each state per visit: 1 / (1 - p_ii)."""
    p = np.diag(np.asarray(params.transmat))
    return {lab: float(1.0 / max(1.0 - pii, 1e-12)) for lab, pii in zip(params.labels, p, strict=True)}


def _ordered(means, vols, transmat, kind: str, loglik: float, n_obs: int) -> RegimeParams:
    """Order states by volatility, then mean (higher mean first on ties), and give the default labels."""
    means, vols, transmat = np.asarray(means), np.asarray(vols), np.asarray(transmat)
    order = np.lexsort((-means, vols))
    tm = transmat[np.ix_(order, order)]
    tm = tm / tm.sum(axis=1, keepdims=True)
    k = len(means)
    return RegimeParams(
        means=tuple(float(x) for x in means[order]),
        vols=tuple(float(x) for x in vols[order]),
        transmat=tuple(tuple(float(x) for x in row) for row in tm),
        startprob=tuple(float(x) for x in compute_stationary(tm)),
        labels=LABELS.get(k, tuple(f"state_{i}" for i in range(k))),
        model_kind=kind,
        loglik=float(loglik),
        n_obs=int(n_obs),
    )


def fit_gaussian_hmm(returns: np.ndarray, k: int, n_starts: int = 5, seed: int = 11) -> RegimeParams:
    """hmmlearn GaussianHMM with `n_starts` seeded starts; the best log-likelihood is kept."""
    from hmmlearn.hmm import GaussianHMM

    x = (np.asarray(returns, dtype=float) * _SCALE)[:, None]
    best = None
    for i in range(n_starts):
        rng = np.random.default_rng(seed + 1000 * i)
        model = GaussianHMM(n_components=k, covariance_type="diag", n_iter=200, tol=1e-4,
                            random_state=seed + 1000 * i, init_params="")
        # Seeded start: persistent states (p_ii = 0.97) with random volatility ratios around the sample's.
        # Regimes are persistent; k-means starts are slower and often settle in flip-flopping optima.
        ratios = np.sort(rng.uniform(0.3, 2.5, k))
        sd = float(x.std()) * ratios / np.sqrt(np.mean(ratios**2))
        trans = np.full((k, k), 0.03 / max(k - 1, 1))
        np.fill_diagonal(trans, 0.97 if k > 1 else 1.0)
        model.startprob_ = np.full(k, 1.0 / k)
        model.transmat_ = trans
        model.means_ = (float(x.mean()) + rng.normal(0.0, 0.05, k))[:, None]
        model.covars_ = (sd**2)[:, None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x)
            ll = model.score(x)
        if not np.isfinite(ll):
            continue
        if best is None or ll > best[0]:
            best = (ll, model)
    if best is None:
        raise RuntimeError(f"GaussianHMM with {k} states did not converge in {n_starts} starts")
    ll, model = best
    means = model.means_[:, 0] / _SCALE
    vols = np.sqrt(model.covars_[:, 0, 0]) / _SCALE
    # density of r = y / scale is scale * density of y: add the Jacobian n*log(scale)
    return _ordered(means, vols, model.transmat_, "hmm", ll + len(x) * math.log(_SCALE), len(x))


def fit_markov_switching(returns: np.ndarray, k: int, start: RegimeParams | None = None) -> RegimeParams:
    """statsmodels MarkovRegression (switching mean and variance), started from `start` when given."""
    import statsmodels.api as sm

    x = np.asarray(returns, dtype=float) * _SCALE
    model = sm.tsa.MarkovRegression(x, k_regimes=k, trend="c", switching_variance=True)
    start_params = None
    if start is not None and start.k == k:
        mu, sd, tm, _ = start.arrays()
        # statsmodels' layout: p[i->j] for j < k-1 stored column-major as p[j|i], then consts, then sigma2
        trans = [tm[i, j] for j in range(k - 1) for i in range(k)]
        start_params = np.r_[trans, mu * _SCALE, (sd * _SCALE) ** 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(start_params=start_params, disp=False)
    p = np.asarray(res.params)
    ntr = k * (k - 1)
    trans_free = p[:ntr]
    means = p[ntr:ntr + k] / _SCALE
    vols = np.sqrt(p[ntr + k:ntr + 2 * k]) / _SCALE
    # regime_transition[j, i] = P(s_t = j | s_{t-1} = i)
    rt = np.asarray(model.regime_transition_matrix(p))[:, :, 0]
    del trans_free
    return _ordered(means, vols, rt.T, "markov", float(res.llf) + len(x) * math.log(_SCALE), len(x))


def fit_regime_model(
    returns: np.ndarray,
    n_states: int | None = None,
    candidate_states: tuple[int, ...] = (2, 3),
    models: tuple[str, ...] = ("hmm", "markov"),
    n_starts: int = 5,
    seed: int = 11,
) -> tuple[RegimeParams, list[RegimeParams]]:
    """Choose the state count by BIC over seeded HMM fits, then refine that count with the Markov-switching
    fit (started from the HMM solution); the best likelihood wins.

    Both families are the same Gaussian switching model with the same parameter count, so the BIC choice
    does not depend on the family; the slow Markov fit runs once. Returns the chosen parameters and every
    candidate (for logging)."""
    returns = np.asarray(returns, dtype=float)
    returns = returns[np.isfinite(returns)]
    unknown = set(models) - {"hmm", "markov"}
    if unknown or not models:
        raise ValueError(f"unknown model families {sorted(unknown) or models}: use hmm and/or markov")
    ks = (n_states,) if n_states else tuple(candidate_states)
    hmms = {k: fit_gaussian_hmm(returns, k, n_starts=n_starts, seed=seed) for k in ks}
    k_best = min(hmms.values(), key=lambda p: p.bic).k
    candidates: list[RegimeParams] = list(hmms.values()) if "hmm" in models else []
    finalists = [hmms[k_best]] if "hmm" in models else []
    if "markov" in models:
        # a degenerate start raises: the HMM fit remains
        with contextlib.suppress(np.linalg.LinAlgError, ValueError):
            ms = fit_markov_switching(returns, k_best, start=hmms[k_best])
            candidates.append(ms)
            finalists.append(ms)
    if not finalists:
        raise RuntimeError(f"no regime model could be fitted with {k_best} states")
    return max(finalists, key=lambda p: p.loglik), candidates


def compute_state_matching(previous: RegimeParams, new: RegimeParams) -> np.ndarray:
    """Hungarian matching on (mean, log-vol): returns perm with new state perm[i] ~ previous state i.

    Means are measured in units of the previous model's average volatility so both coordinates are
    of the same order."""
    if previous.k != new.k:
        raise ValueError(f"cannot match {new.k} states to {previous.k}")
    pm, pv, _, _ = previous.arrays()
    nm, nv, _, _ = new.arrays()
    scale = float(np.mean(pv))
    cost = ((pm[:, None] - nm[None, :]) / scale) ** 2 + (np.log(pv)[:, None] - np.log(nv)[None, :]) ** 2
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(previous.k, dtype=int)
    perm[rows] = cols
    return perm


def match_to_previous(previous: RegimeParams | None, new: RegimeParams) -> RegimeParams:
    """Reorder `new` so its state i carries previous.labels[i] (a label keeps its meaning after a refit).

    With no previous model, or a different number of states, the volatility ordering stands."""
    if previous is None or previous.k != new.k:
        return new
    perm = compute_state_matching(previous, new)
    mu, sd, tm, sp = new.arrays()
    return RegimeParams(
        means=tuple(float(x) for x in mu[perm]),
        vols=tuple(float(x) for x in sd[perm]),
        transmat=tuple(tuple(float(x) for x in row) for row in tm[np.ix_(perm, perm)]),
        startprob=tuple(float(x) for x in sp[perm]),
        labels=previous.labels,
        model_kind=new.model_kind,
        loglik=new.loglik,
        n_obs=new.n_obs,
        train_start=new.train_start,
        train_end=new.train_end,
        extra={**new.extra, "matched_permutation": [int(x) for x in perm]},
    )


def fit_walk_forward(returns: np.ndarray, dates, anchor: RegimeParams, min_sessions: int = 504,
                     every: int = 252, n_starts: int = 3, seed: int = 11) -> list[RegimeParams]:
    """Expanding-window refits (HMM, anchor.k states) on sessions [0, e) for e = min_sessions,
    min_sessions + every, ... < len(returns), each matched to `anchor`'s labels (Hungarian). The refit
    at e is in force from session e on, so history can be scored with parameters that never saw it."""
    r = np.asarray(returns, dtype=float)
    days = [str(pd.Timestamp(d).date()) for d in dates]
    out = []
    for e in range(min_sessions, len(r), every):
        p, _ = fit_regime_model(r[:e], n_states=anchor.k, models=("hmm",), n_starts=n_starts, seed=seed)
        p = match_to_previous(anchor, p)
        out.append(replace(p, train_start=days[0], train_end=days[e - 1], extra={}))
    return out


def compute_market_series(bars: pd.DataFrame, benchmark_symbol: str | None = None,
                          vol_window: int = 21) -> pd.DataFrame:
    """Daily market return and trailing realised volatility from bars (symbol, date, adj_close).

    The return at t uses closes at t and the symbol's previous session; the equal-weight mean covers the
    symbols trading on both days. `rvol` at t is the std of the returns in the `vol_window` sessions
    ending at t (dates <= t only)."""
    df = bars[["symbol", "date", "adj_close"]].copy()
    if benchmark_symbol is not None:
        df = df[df["symbol"] == benchmark_symbol]
        if df.empty:
            raise ValueError(f"benchmark symbol {benchmark_symbol!r} has no bars")
    df["date"] = pd.to_datetime(df["date"])
    df = df.sort_values(["symbol", "date"])
    df["ret"] = df.groupby("symbol")["adj_close"].pct_change()
    out = df.dropna(subset=["ret"]).groupby("date")["ret"].mean().rename("ret").to_frame()
    out["rvol"] = out["ret"].rolling(vol_window, min_periods=max(5, vol_window // 2)).std()
    out.index.name = "date"
    return out.reset_index()


# -- causal scoring ------------------------------------------------------------------------------------
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


def compute_vol_rule_log_density(returns: np.ndarray, rvol: np.ndarray, split: int,
                                  fractions: np.ndarray) -> np.ndarray:
    """Each day's predictive log-density under the volatility rule, the baseline regime model: the state of
    day t is the threshold state of the realised volatility up to t - 1 (thresholds from the rows before
    `split`, cut at the cumulative `fractions`), and r_t ~ N(mean, std) of the returns of that state before
    `split`. Causal: day t uses returns up to t - 1 and the training rows only. NaN where undefined."""
    r = np.asarray(returns, dtype=float)
    prev = np.concatenate([[np.nan], np.asarray(rvol, dtype=float)[:-1]])
    states = compute_vol_threshold_states(prev, fit_vol_thresholds(prev[:split], fractions))
    train = np.isfinite(r[:split]) & np.isfinite(prev[:split])
    out = np.full(len(r), np.nan)
    for s in np.unique(states):
        rows = train & (states[:split] == s)
        if rows.sum() < 3:
            continue
        mu, sd = float(np.mean(r[:split][rows])), float(np.std(r[:split][rows], ddof=1))
        at = (states == s) & np.isfinite(prev)
        z = (r[at] - mu) / sd
        out[at] = -0.5 * (z * z + _LOG_2PI) - np.log(sd)
    return out


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


DEFAULT_ENTER, DEFAULT_LEAVE = 0.7, 0.3


def compute_thresholds(params: RegimeParams, enter: float | None = None,
                       leave: float | None = None) -> tuple[float, float]:
    """Hysteresis thresholds: the ones given, else the model's own (`params.extra`, set at training), else
    the defaults. Part of the model: the nightly scorer and the pyfunc both use the model's."""
    extra = params.extra or {}
    return (float(extra.get("enter_threshold", DEFAULT_ENTER)) if enter is None else float(enter),
            float(extra.get("leave_threshold", DEFAULT_LEAVE)) if leave is None else float(leave))


def compute_regime_frame(
    dates, returns: np.ndarray, params: RegimeParams, enter: float | None = None, leave: float | None = None
) -> pd.DataFrame:
    """One row per date: filtered probabilities (JSON by label), the argmax (`raw_regime`), the
    hysteresis `regime`, its filtered probability, its age in sessions, `fit_end` (the last session the
    parameters in force were fitted on; a row is out of sample when its date is after it) and the
    hysteresis thresholds used (`compute_thresholds`). Pure; rows <= t depend on returns <= t only."""
    enter, leave = compute_thresholds(params, enter, leave)
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
    out["enter_threshold"] = enter
    out["leave_threshold"] = leave
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
    "DEFAULT_ENTER",
    "DEFAULT_LEAVE",
    "LABELS",
    "RegimeParams",
    "compute_accuracy",
    "compute_expected_durations",
    "compute_filtered_probabilities",
    "compute_hysteresis",
    "compute_market_series",
    "compute_param_schedule",
    "compute_regime_frame",
    "compute_thresholds",
    "compute_regime_runs",
    "compute_regime_sharpe",
    "compute_scheduled_probabilities",
    "compute_state_matching",
    "compute_stationary",
    "compute_switches_per_year",
    "compute_vol_rule_log_density",
    "compute_vol_threshold_states",
    "fit_gaussian_hmm",
    "fit_markov_switching",
    "fit_regime_model",
    "fit_vol_thresholds",
    "fit_walk_forward",
    "match_to_previous",
]
