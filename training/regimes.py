"""Regime models: Gaussian HMM and Markov-switching fits, BIC choice, state ordering, label matching."""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from marketdata.sample import compute_stationary

LABELS: dict[int, tuple[str, ...]] = {
    2: ("calm_bull", "high_vol_bear"),
    3: ("calm_bull", "neutral", "high_vol_bear"),
}
# Daily returns are ~1e-2; both libraries are better conditioned on percent returns.
_SCALE = 100.0


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


__all__ = [
    "LABELS",
    "RegimeParams",
    "compute_expected_durations",
    "compute_market_series",
    "compute_state_matching",
    "compute_stationary",
    "fit_gaussian_hmm",
    "fit_markov_switching",
    "fit_regime_model",
    "fit_walk_forward",
    "match_to_previous",
]
