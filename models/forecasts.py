"""Probabilistic portfolio-equity forecasts: candidates, rolling causal conformal calibration, holdout choice.

Timing, everywhere in this module: an origin `t` sees portfolio returns of sessions <= t only; the target
of origin t is the log equity change over the H sessions (t, t+H]; a conformity score of origin s is
usable at origin t only once it has matured, i.e. s + H <= t.

Candidates (all give quantiles of the H-session log return, turned into equity as start * exp(q)):
- `lightgbm_cqr`: one LightGBM quantile model per quantile on portfolio features, fitted on the return
  standardised by the EWMA volatility, then made valid by rolling causal conformalized quantile
  regression (CQR) over the most recent matured scores, per quantile (asymmetric, so each tail is
  calibrated on its own);
- `bootstrap`: a stationary block bootstrap (arch) of the trailing portfolio returns;
- `gaussian`: zero-mean normal with the trailing volatility times sqrt(H).
Quantiles of every candidate are rearranged row-wise (sorted), so they never cross.

The conformal step is hand-written rather than taken from mapie: mapie's ConformalizedQuantileRegressor
conformalizes once on a fixed calibration set, while here every origin needs its own correction from
the scores that have matured by then (a sliding, lagged window), which would mean re-conformalizing a
mapie estimator thousands of times for the same few lines of order statistics.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats

from models.metrics import mean_pinball
from models.risk import compute_var_report, max_drawdowns


@dataclass(frozen=True)
class Candidate:
    """One forecast candidate: a learned model or a baseline it must beat on the holdout."""

    name: str
    learned: bool
    description: str


# The candidates, in one table: training compares them on the holdout and scoring publishes the champion.
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("lightgbm_cqr", True, "LightGBM quantile boosters on the EWMA-standardised return, made valid by "
              "rolling causal conformalized quantile regression"),
    Candidate("bootstrap", False, "stationary block bootstrap of the trailing portfolio returns"),
    Candidate("gaussian", False, "zero-mean normal with the trailing volatility times sqrt(H)"),
)
METHODS = tuple(c.name for c in CANDIDATES)
LEARNED = next(c.name for c in CANDIDATES if c.learned)
BASELINES = tuple(c.name for c in CANDIDATES if not c.learned)
EWMA_LAMBDA = 0.94


# -- portfolio ------------------------------------------------------------------------------------------

class ForecastSettings(BaseModel):
    """Portfolio forecast: portfolio, horizons, quantiles, candidates, conformal calibration, VaR."""

    model_config = ConfigDict(frozen=True)

    portfolio: str = "equal_weight"
    weights: dict[str, float] | None = None
    """None = equal weight over the universe (every symbol in `bars`), rebalanced daily."""
    horizons: tuple[int, ...] = (5, 21, 63)
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    seed: int = 5
    var_horizon: int = 1
    """The 1-day model behind the VaR backtest (stored as horizon_days=1 with p01 and p99)."""
    var_quantiles: tuple[float, ...] = (0.01, 0.05, 0.5, 0.95, 0.99)
    vol_window: int = 63
    """Trailing sessions of the Gaussian baseline's volatility (and the sigma of the width ratio)."""
    bootstrap_window: int = 504
    bootstrap_min_obs: int = 126
    bootstrap_block: float = 10.0
    """Mean block length (sessions) of the stationary bootstrap."""
    bootstrap_reps: int = 500
    bootstrap_refit_every: int = 5
    """On the holdout the bootstrap is redrawn every this many sessions (scoring draws every day)."""
    conformal_window: int = 250
    """Most recent matured conformity scores used by the rolling conformal calibration."""
    conformal_blocks: int = 50
    """The window of horizon H is max(conformal_window, conformal_blocks x H) matured scores: overlapping
    H-session outcomes are dependent, and 250 origins hold only ~12 independent 21-session outcomes (on
    GARCH-t5 returns that under-covers: 0.86 at H=21, 0.76 at H=63; 0.90 with ~50 blocks)."""
    conformal_min_scores: int = 50
    holdout_fraction: float = 0.3
    calibration_sessions: int = 250
    """Sessions between the training segment and the holdout that warm up the conformal window."""
    min_train_rows: int = 120
    lgbm_rounds: int = 100
    lgbm_learning_rate: float = 0.03
    lgbm_num_leaves: int = 7
    lgbm_min_data_in_leaf: int = 200
    """Strong shrinkage (chosen on the sample market with seed 8, not the default seed 7): the target is
    already volatility-standardised, so the trees only need to learn small departures from constant."""
    n_jobs: int = 1
    promotion_margin: float = 0.0
    """A new version takes `champion` when its mean holdout pinball skill vs the Gaussian baseline is at
    least the current champion's minus this margin; otherwise it is `challenger`."""
    backfill_sessions: int = 250
    """Default length of `foresight train forecasts --backfill` (enough for the 250-session Basel zone)."""
    var_window: int = 250
    mdd_paths: int = 1000
    regime_features: bool = False
    """Join the filtered regime probabilities of DuckDB `regimes` (latest model version) as features
    `regime_p_<label>`; off by default so forecasts never depend on the regime model being there."""


def compute_portfolio_returns(bars: pd.DataFrame, weights: dict[str, float] | None = None) -> pd.Series:
    """Daily simple returns of a daily-rebalanced portfolio from long `bars` (symbol, date, adj_close).

    `weights` None = equal weight over every symbol. On a date where some symbols have no return, the
    weights of those present are renormalised (a symbol listed later joins when it has two prices).
    """
    wide = bars.pivot_table(index="date", columns="symbol", values="adj_close", aggfunc="last").sort_index()
    wide.index = pd.to_datetime(wide.index)
    rets = wide.pct_change(fill_method=None)
    if weights is None:
        w = pd.Series(1.0, index=rets.columns)
    else:
        missing = sorted(set(weights) - set(rets.columns))
        if missing:
            raise ValueError(f"portfolio symbols not in bars: {missing[:5]}")
        w = pd.Series(weights, dtype=float)
        rets = rets[w.index]
    present = rets.notna()
    wsum = present.mul(w, axis=1).sum(axis=1)
    port = rets.fillna(0.0).mul(w, axis=1).sum(axis=1) / wsum.replace(0.0, np.nan)
    return port.iloc[1:].dropna().rename("return")


def compute_equity(returns: pd.Series, start: float = 100.0) -> pd.Series:
    """Equity index: `start` on the session before the first return, compounded daily."""
    eq = start * np.cumprod(1.0 + returns.to_numpy())
    return pd.Series(eq, index=returns.index, name="equity")


# -- features and targets -------------------------------------------------------------------------------
def compute_forecast_features(returns: pd.Series, extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Portfolio features per date from returns of sessions <= date (realised vol, momentum, drawdown...).

    `extra` (indexed by date, e.g. regime probabilities) is left-joined as more columns; it must itself
    be point-in-time (values known at the close of its date).
    """
    lr = np.log1p(returns.astype(float))
    out = pd.DataFrame(index=returns.index)
    for w in (5, 21, 63, 126):
        out[f"vol_{w}"] = lr.rolling(w, min_periods=max(w // 2, 3)).std()
    out["vol_ewma"] = np.sqrt((lr**2).ewm(alpha=1 - EWMA_LAMBDA, adjust=True, min_periods=10).mean())
    for w in (5, 21, 63, 126):
        out[f"mom_{w}"] = lr.rolling(w, min_periods=max(w // 2, 3)).sum()
    log_eq = lr.cumsum()
    out["drawdown_252"] = log_eq - log_eq.rolling(252, min_periods=21).max()
    out["vol_ratio_5_63"] = out["vol_5"] / out["vol_63"]
    out["vol_ratio_21_126"] = out["vol_21"] / out["vol_126"]
    out["ret_1"] = lr
    out["abs_ret_1_z"] = lr.abs() / out["vol_63"]
    out["skew_63"] = lr.rolling(63, min_periods=42).skew()
    if extra is not None and not extra.empty:
        ext = extra.copy()
        ext.index = pd.to_datetime(ext.index)
        clash = set(ext.columns) & set(out.columns)
        if clash:
            raise ValueError(f"extra feature columns clash with portfolio features: {sorted(clash)}")
        out = out.join(ext, how="left")
    return out


def compute_log_targets(returns: pd.Series, horizon: int) -> pd.Series:
    """log(E[t+H] / E[t]) at origin t; NaN for the last H origins (not matured)."""
    lr = np.log1p(returns.astype(float)).to_numpy()
    csum = np.concatenate([[0.0], np.cumsum(lr)])
    n = len(lr)
    y = np.full(n, np.nan)
    if n > horizon:
        y[: n - horizon] = csum[1 + horizon : n + 1] - csum[1 : n + 1 - horizon]
    return pd.Series(y, index=returns.index, name=f"y_{horizon}")


# -- quantile helpers -----------------------------------------------------------------------------------
def rearrange_quantiles(q: np.ndarray) -> np.ndarray:
    """Row-wise monotone rearrangement (Chernozhukov et al. 2010): sort each row's quantiles.

    Rows are origins, columns are increasing quantile levels; NaN rows stay NaN.
    """
    arr = np.asarray(q, dtype=float)
    return np.sort(arr, axis=-1)











# -- baselines ------------------------------------------------------------------------------------------
def compute_gaussian_quantiles(
    returns: pd.Series, horizon: int, quantiles: tuple[float, ...], window: int
) -> np.ndarray:
    """Zero-mean normal quantiles of the H-session log return: z_tau * sigma_trailing * sqrt(H)."""
    lr = np.log1p(returns.astype(float))
    sigma = lr.rolling(window, min_periods=max(window // 2, 10)).std().to_numpy()
    z = stats.norm.ppf(np.asarray(quantiles))
    return sigma[:, None] * np.sqrt(horizon) * z[None, :]


def compute_bootstrap_quantiles(
    returns: pd.Series,
    horizons: tuple[int, ...],
    quantiles: tuple[float, ...],
    positions: np.ndarray,
    cfg: ForecastSettings,
    refit_every: int = 1,
) -> dict[int, np.ndarray]:
    """Stationary block bootstrap (arch) of the trailing log returns: quantiles of the H-session sum.

    At each origin in `positions` the last `bootstrap_window` returns (sessions <= origin) are resampled
    with mean block `bootstrap_block`; each draw's first H returns are summed. The draw is seeded by
    (seed, origin date) so a re-run, a backfill and the nightly score give the same numbers. With
    `refit_every` > 1 a draw is reused for the following origins (cheaper holdout evaluation).
    Returns {H: array (len(positions), len(quantiles))}, NaN where history is too short.
    """
    from arch.bootstrap import StationaryBootstrap

    lr = np.log1p(returns.astype(float)).to_numpy()
    dates = returns.index
    positions = np.asarray(positions, dtype=int)
    hmax = max(horizons)
    out = {h: np.full((len(positions), len(quantiles)), np.nan) for h in horizons}
    last: dict[int, np.ndarray] | None = None
    last_pos = -(10**9)
    for k, t in enumerate(positions):
        if last is not None and t - last_pos < refit_every and t >= last_pos:
            for h in horizons:
                out[h][k] = last[h]
            continue
        lo = max(0, t - cfg.bootstrap_window + 1)
        window = lr[lo : t + 1]
        if len(window) < max(cfg.bootstrap_min_obs, hmax):
            last = None
            continue
        rng = np.random.default_rng([cfg.seed, pd.Timestamp(dates[t]).toordinal()])
        bs = StationaryBootstrap(cfg.bootstrap_block, window, seed=rng)
        idx = np.stack([bs.update_indices()[:hmax] for _ in range(cfg.bootstrap_reps)])
        csum = np.cumsum(window[idx], axis=1)
        last = {h: np.quantile(csum[:, h - 1], quantiles) for h in horizons}
        last_pos = t
        for h in horizons:
            out[h][k] = last[h]
    return out


# -- learned model --------------------------------------------------------------------------------------
def _lgbm_params(cfg: ForecastSettings, tau: float) -> dict:
    return {
        "objective": "quantile",
        "alpha": tau,
        "learning_rate": cfg.lgbm_learning_rate,
        "num_leaves": cfg.lgbm_num_leaves,
        "min_data_in_leaf": cfg.lgbm_min_data_in_leaf,
        "feature_fraction": 0.9,
        "verbose": -1,
        "num_threads": cfg.n_jobs,
        "deterministic": True,
        "force_row_wise": True,
        "seed": cfg.seed,
    }


def compute_candidate_quantiles(
    returns: pd.Series, h: int, qs: tuple[float, ...], positions: np.ndarray, cfg: ForecastSettings,
    learned: np.ndarray, bootstrap: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every candidate's H-session log-return quantiles at `positions` (rows) and levels `qs` (columns),
    each row sorted so quantiles never cross. `learned`: the conformalized boosters' quantiles at every
    origin; `bootstrap`: the bootstrap's quantiles at `positions`; the Gaussian baseline is computed here."""
    gauss = rearrange_quantiles(compute_gaussian_quantiles(returns, h, qs, cfg.vol_window))
    return {LEARNED: learned[positions], "bootstrap": rearrange_quantiles(bootstrap), "gaussian": gauss[positions]}


def fit_quantile_boosters(
    x: pd.DataFrame, z: np.ndarray, quantiles: tuple[float, ...], cfg: ForecastSettings
) -> dict[float, str]:
    """One LightGBM quantile model per level on the vol-standardised target; returns model strings."""
    import lightgbm as lgb

    out: dict[float, str] = {}
    for tau in quantiles:
        ds = lgb.Dataset(x.to_numpy(dtype=float), label=z, feature_name=list(x.columns), free_raw_data=True)
        booster = lgb.train(_lgbm_params(cfg, tau), ds, num_boost_round=cfg.lgbm_rounds)
        out[float(tau)] = booster.model_to_string()
    return out


def predict_quantile_boosters(boosters: dict[float, str], x: pd.DataFrame) -> np.ndarray:
    """Raw (uncalibrated, standardised) quantile predictions, columns in increasing level order."""
    import lightgbm as lgb

    cols = []
    for tau in sorted(boosters):
        b = lgb.Booster(model_str=boosters[tau])
        cols.append(b.predict(x.to_numpy(dtype=float), num_threads=1))
    return np.column_stack(cols)


def compute_rolling_conformal(
    raw: np.ndarray,
    target: np.ndarray,
    horizon: int,
    quantiles: tuple[float, ...],
    window: int,
    min_scores: int,
    start: int = 0,
) -> np.ndarray:
    """Rolling causal CQR: at row t each quantile q_tau is shifted by the tau-quantile of the residuals
    y_s - q_tau(x_s) of the last `window` rows s with s + H <= t (matured) and finite target.

    Rows are consecutive origins. The order statistic is the conservative finite-sample one (rank
    ceil((n+1) tau) for upper levels, floor((n+1) tau) for lower levels), so each tail's miss rate is
    at most its nominal level under exchangeability of the scores. Rows < `start` or with fewer than
    `min_scores` matured scores are NaN. Output is rearranged (never crossing).
    """
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(target, dtype=float)
    n, k = raw.shape
    resid = y[:, None] - raw
    valid = np.isfinite(y) & np.all(np.isfinite(raw), axis=1)
    valid_idx = np.flatnonzero(valid)
    out = np.full_like(raw, np.nan)
    for t in range(max(start, 0), n):
        if not np.all(np.isfinite(raw[t])):
            continue
        hi = np.searchsorted(valid_idx, t - horizon, side="right")
        lo = max(0, hi - window)
        m = hi - lo
        if m < min_scores:
            continue
        r = resid[valid_idx[lo:hi]]
        for j, tau in enumerate(quantiles):
            col = np.sort(r[:, j])
            if tau > 0.5:
                rank = min(int(np.ceil((m + 1) * tau)), m)
            elif tau < 0.5:
                rank = max(int(np.floor((m + 1) * tau)), 1)
            else:
                rank = int(np.ceil(m / 2))
            out[t, j] = raw[t, j] + col[rank - 1]
    return rearrange_quantiles(out)


# -- training -------------------------------------------------------------------------------------------
@dataclass
class HorizonModel:
    """What scoring needs for one horizon: the champion, the boosters and the holdout record."""

    horizon: int
    quantiles: tuple[float, ...]
    champion: str
    boosters: dict[float, str]
    holdout_pinball: dict[str, float]
    holdout_coverage: dict[str, float]
    holdout_tails: dict[str, tuple[float, float]]
    holdout_n: int
    skill: dict[str, float]
    note: str
    train_end: dt.date | None = None
    """Last origin the production boosters were fitted on (their scores up to it are in-sample)."""


@dataclass
class ForecastBundle:
    """A trained forecast model: per-horizon champions, LightGBM model strings, settings, timing."""

    portfolio: str
    weights: dict[str, float] | None
    settings: dict
    feature_columns: list[str]
    horizons: dict[int, HorizonModel]
    train_end: dt.date
    """Last origin used to fit the production boosters; conformal scores after it are out of sample."""
    data_end: dt.date
    notes: list[str] = field(default_factory=list)

    @property
    def cfg(self) -> ForecastSettings:
        return ForecastSettings(**self.settings)


@dataclass
class TrainResult:
    """The bundle plus holdout frames (per horizon: date, y, start sigma, each method's quantiles)."""

    bundle: ForecastBundle
    holdout: dict[int, pd.DataFrame]
    metrics: dict[str, float]
    var_report: dict | None = None


def _standardiser(features: pd.DataFrame, horizon: int) -> np.ndarray:
    return features["vol_ewma"].to_numpy() * np.sqrt(horizon)


def conformal_window(cfg: ForecastSettings, horizon: int) -> int:
    """Scores used at horizon H: max(conformal_window, conformal_blocks x H) (see ForecastSettings)."""
    return max(cfg.conformal_window, cfg.conformal_blocks * horizon)


def _horizon_quantiles(cfg: ForecastSettings, horizon: int) -> tuple[float, ...]:
    return tuple(cfg.var_quantiles) if horizon == cfg.var_horizon else tuple(cfg.quantiles)


def _coverage(y: np.ndarray, q: np.ndarray, quantiles: tuple[float, ...]) -> tuple[float, float, float]:
    """(band coverage between the outer 5% and 95% levels, lower-tail rate, upper-tail rate)."""
    lo_j = quantiles.index(0.05) if 0.05 in quantiles else 0
    hi_j = quantiles.index(0.95) if 0.95 in quantiles else len(quantiles) - 1
    ok = np.isfinite(y) & np.all(np.isfinite(q), axis=1)
    if not ok.any():
        return float("nan"), float("nan"), float("nan")
    below = y[ok] < q[ok, lo_j]
    above = y[ok] > q[ok, hi_j]
    return float(np.mean(~below & ~above)), float(np.mean(below)), float(np.mean(above))


def train_forecast_models(
    returns: pd.Series, cfg: ForecastSettings, extra: pd.DataFrame | None = None, portfolio: str | None = None
) -> TrainResult:
    """Fit and compare the candidates per horizon (plus the 1-day VaR horizon) on a causal holdout.

    Layout over origins with matured targets: [train | purge H | calibration warm-up | holdout]. The
    boosters evaluated on the holdout see only the train segment; conformal scores come from the
    warm-up and then from matured holdout origins (window `conformal_window(cfg, H)`). The production
    boosters are refitted on every origin up to `conformal_window + H` sessions before the data end;
    scoring calibrates them with scores of later origins only (out of sample). Champion per horizon = lowest mean pinball loss on the holdout.
    """
    returns = returns.sort_index().astype(float)
    features = compute_forecast_features(returns, extra)
    feat_cols = list(features.columns)
    n = len(returns)
    horizons = tuple(sorted({*cfg.horizons, cfg.var_horizon}))
    usable = features["vol_63"].notna().to_numpy() & features["vol_ewma"].notna().to_numpy()
    first = int(np.argmax(usable)) if usable.any() else n
    models: dict[int, HorizonModel] = {}
    holdout_frames: dict[int, pd.DataFrame] = {}
    notes: list[str] = []
    prod_train_end_pos = n - 1
    for h in horizons:
        qs = _horizon_quantiles(cfg, h)
        y = compute_log_targets(returns, h).to_numpy()
        scale = _standardiser(features, h)
        z = y / scale
        matured = np.flatnonzero(np.isfinite(z) & (np.arange(n) >= first))
        if len(matured) < cfg.min_train_rows + cfg.calibration_sessions + h + 50:
            raise ValueError(
                f"horizon {h}: {len(matured)} usable origins; need at least "
                f"{cfg.min_train_rows + cfg.calibration_sessions + h + 50} (more history or smaller settings)"
            )
        hold_start = matured[int(len(matured) * (1 - cfg.holdout_fraction))]
        cal_start = hold_start - cfg.calibration_sessions
        train_end = cal_start - h  # purge: train labels end before the warm-up's first origin
        train_rows = matured[matured < train_end]
        if len(train_rows) < cfg.min_train_rows:
            raise ValueError(f"horizon {h}: {len(train_rows)} training origins < {cfg.min_train_rows}")
        x_all = features[feat_cols]
        boosters = fit_quantile_boosters(x_all.iloc[train_rows], z[train_rows], qs, cfg)
        raw = predict_quantile_boosters(boosters, x_all)
        cal = compute_rolling_conformal(
            raw, np.where(np.arange(n) >= cal_start, z, np.nan), h, qs,
            conformal_window(cfg, h), cfg.conformal_min_scores, start=hold_start,
        )
        hold_pos = np.arange(hold_start, n)
        boot = compute_bootstrap_quantiles(returns, (h,), qs, hold_pos, cfg, cfg.bootstrap_refit_every)[h]
        cand = compute_candidate_quantiles(returns, h, qs, hold_pos, cfg, cal * scale[:, None], boot)
        y_hold = y[hold_pos]
        common = np.isfinite(y_hold)
        for q in cand.values():
            common &= np.all(np.isfinite(q), axis=1)
        pin = {m: mean_pinball(y_hold[common], q[common], qs) for m, q in cand.items()}
        cov = {m: _coverage(y_hold[common], q[common], qs) for m, q in cand.items()}
        champion = min(pin, key=lambda m: pin[m])
        beats = all(pin[LEARNED] < pin[b] for b in BASELINES)
        if beats:
            note = f"H={h}: lightgbm_cqr beats both baselines on the holdout (pinball {pin[LEARNED]:.5f})"
        else:
            note = (
                f"H={h}: lightgbm_cqr does not beat both baselines (pinball {pin[LEARNED]:.5f} vs "
                f"bootstrap {pin['bootstrap']:.5f}, gaussian {pin['gaussian']:.5f}); champion is the "
                f"baseline {champion}"
            )
        notes.append(note)
        skill = {
            f"{m}_vs_{b}": 1.0 - pin[m] / pin[b] for m in METHODS for b in BASELINES if m != b and pin[b] > 0
        }
        # Production boosters: every origin whose label matured before the last conformal window.
        prod_end = matured[-1] - cfg.conformal_window - h
        prod_rows = matured[matured <= prod_end]
        if len(prod_rows) < cfg.min_train_rows:
            prod_rows = train_rows
        prod_train_end_pos = min(prod_train_end_pos, int(prod_rows[-1]))
        prod_boosters = fit_quantile_boosters(x_all.iloc[prod_rows], z[prod_rows], qs, cfg)
        models[h] = HorizonModel(
            horizon=h, quantiles=qs, champion=champion, boosters=prod_boosters,
            holdout_pinball=pin, holdout_coverage={m: c[0] for m, c in cov.items()},
            holdout_tails={m: (c[1], c[2]) for m, c in cov.items()}, holdout_n=int(common.sum()),
            skill=skill, note=note, train_end=returns.index[int(prod_rows[-1])].date(),
        )
        frame = pd.DataFrame({"date": returns.index[hold_pos], "y": y_hold, "scale": scale[hold_pos],
                              "sigma": returns.pipe(np.log1p).rolling(cfg.vol_window).std().to_numpy()[hold_pos],
                              "common": common})
        for m, q in cand.items():
            for j, tau in enumerate(qs):
                frame[f"{m}_q{int(round(tau * 100)):02d}"] = q[:, j]
        holdout_frames[h] = frame
    bundle = ForecastBundle(
        portfolio=portfolio or cfg.portfolio, weights=cfg.weights, settings=cfg.model_dump(mode="json"),
        feature_columns=feat_cols, horizons=models,
        train_end=returns.index[prod_train_end_pos].date(), data_end=returns.index[-1].date(), notes=notes,
    )
    metrics = compute_holdout_metrics(models)
    return TrainResult(bundle=bundle, holdout=holdout_frames, metrics=metrics)


def compute_holdout_metrics(models: dict[int, HorizonModel]) -> dict[str, float]:
    """Per-horizon holdout pinball, coverage, tails and skill of every candidate, and the mean skill of the
    champions vs the Gaussian baseline (`mean_champion_skill_vs_gaussian`, what promotion compares)."""
    out: dict[str, float] = {}
    for h, m in models.items():
        for meth, v in m.holdout_pinball.items():
            out[f"h{h}_pinball_{meth}"] = v
        for meth, v in m.holdout_coverage.items():
            out[f"h{h}_coverage_{meth}"] = v
        for meth, (lo, hi) in m.holdout_tails.items():
            out[f"h{h}_lower_tail_{meth}"] = lo
            out[f"h{h}_upper_tail_{meth}"] = hi
        for k, v in m.skill.items():
            out[f"h{h}_skill_{k}"] = v
        champ = m.champion
        out[f"h{h}_champion_is_learned"] = float(champ == LEARNED)
        out[f"h{h}_champion_skill_vs_gaussian"] = (
            0.0 if champ == "gaussian" else m.skill.get(f"{champ}_vs_gaussian", 0.0)
        )
    skills = [v for k, v in out.items() if k.endswith("_champion_skill_vs_gaussian")]
    out["mean_champion_skill_vs_gaussian"] = float(np.mean(skills)) if skills else 0.0
    return out


# -- scoring (pure) -------------------------------------------------------------------------------------
def compute_forecast_quantiles(
    bundle: ForecastBundle,
    returns: pd.Series,
    as_of_dates: list[dt.date] | pd.DatetimeIndex,
    extra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every candidate's quantiles at each as-of date, from returns of sessions <= as-of only.

    Long frame: as_of, horizon_days, method, champion (bool), level -> log-return quantile columns
    `q{level}`, plus sigma_daily and in_sample (the as-of, or its label window, lies in the production
    boosters' training origins). The learned candidate is NaN until `conformal_min_scores` out-of-sample
    scores have matured after the boosters' training end. Dates that are not
    sessions of `returns` are skipped.
    """
    cfg = bundle.cfg
    returns = returns.sort_index().astype(float)
    features = compute_forecast_features(returns, extra)
    missing = [c for c in bundle.feature_columns if c not in features.columns]
    if missing:
        raise ValueError(f"feature columns the model needs are missing: {missing}")
    x_all = features[bundle.feature_columns]
    idx = pd.DatetimeIndex(returns.index)
    wanted = pd.DatetimeIndex(pd.to_datetime(list(as_of_dates)))
    positions = np.array(sorted(set(idx.get_indexer(wanted)) - {-1}), dtype=int)
    if len(positions) == 0:
        return pd.DataFrame()
    sigma = np.log1p(returns).rolling(cfg.vol_window, min_periods=max(cfg.vol_window // 2, 10)).std().to_numpy()
    horizons = tuple(sorted(bundle.horizons))
    boot_all = compute_bootstrap_quantiles(returns, horizons, tuple(sorted(_all_levels(bundle))), positions, cfg)
    all_levels = tuple(sorted(_all_levels(bundle)))
    rows = []
    for h, hm in bundle.horizons.items():
        qs = hm.quantiles
        h_end = hm.train_end or bundle.train_end
        train_end_pos = int(np.searchsorted(idx, pd.Timestamp(h_end), side="right")) - 1
        y = compute_log_targets(returns, h).to_numpy()
        scale = _standardiser(features, h)
        raw = predict_quantile_boosters(hm.boosters, x_all)
        # Only out-of-sample scores: origins after the production boosters' training end plus the
        # purge H; compute_rolling_conformal adds the maturity lag per row.
        oos = np.where(np.arange(len(y)) > train_end_pos + h, y / scale, np.nan)
        cal = compute_rolling_conformal(
            raw, oos, h, qs, conformal_window(cfg, h), cfg.conformal_min_scores, start=int(positions.min())
        )
        cols = [all_levels.index(t) for t in qs]
        cand = compute_candidate_quantiles(returns, h, qs, positions, cfg, cal * scale[:, None], boot_all[h][:, cols])
        # The published row is the holdout champion; where it cannot forecast (e.g. the learned model
        # before enough out-of-sample scores matured) the next candidate by holdout pinball stands in.
        ranking = sorted(cand, key=lambda m: (m != hm.champion, hm.holdout_pinball.get(m, np.inf)))
        chosen = np.full(len(positions), "", dtype=object)
        for m in ranking:
            free = (chosen == "") & np.all(np.isfinite(cand[m]), axis=1)
            chosen[free] = m
        for m, q in cand.items():
            frame = pd.DataFrame(q, columns=[_qcol(t) for t in qs])
            frame["as_of"] = idx[positions].date
            frame["horizon_days"] = h
            frame["method"] = m
            frame["champion"] = chosen == m
            frame["sigma_daily"] = sigma[positions]
            # The as-of itself (or its label window) was among the boosters' training origins.
            frame["in_sample"] = positions <= train_end_pos + h
            rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    return out


FAN_COLUMNS = ["as_of", "horizon_days", "method", "champion", "p01", "p05", "p50", "p95", "p99", "start_equity",
               "sigma_daily", "in_sample"]


def compute_forecast_fan(
    bundle: ForecastBundle,
    returns: pd.Series,
    as_of_dates: list[dt.date] | pd.DatetimeIndex,
    extra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every candidate's equity percentiles at each as-of date: `compute_forecast_quantiles` turned into
    equity as start_equity * exp(q), start_equity being the portfolio equity (100 at the first session of
    `returns`) at the as-of. Rows without a 5/50/95 forecast are left out. Columns FAN_COLUMNS; `champion`
    marks the candidate that is published. What the nightly scorer stores and the pyfunc predicts."""
    q = compute_forecast_quantiles(bundle, returns, as_of_dates, extra)
    if q.empty:
        return pd.DataFrame(columns=FAN_COLUMNS)
    equity = compute_equity(returns.sort_index().astype(float))
    equity.index = pd.DatetimeIndex(equity.index).date
    q = q.copy()
    q["start_equity"] = equity.reindex(q["as_of"]).to_numpy()
    for lvl in ("q01", "q05", "q50", "q95", "q99"):
        q[f"p{lvl[1:]}"] = q["start_equity"] * np.exp(q[lvl]) if lvl in q else np.nan
    q = q[q[["p05", "p50", "p95", "start_equity"]].notna().all(axis=1)]
    return q[FAN_COLUMNS].reset_index(drop=True)


def _all_levels(bundle: ForecastBundle) -> set[float]:
    return {t for hm in bundle.horizons.values() for t in hm.quantiles}


def _qcol(tau: float) -> str:
    return f"q{int(round(tau * 100)):02d}"


# -- VaR on the holdout ---------------------------------------------------------------------------------
def compute_simulated_drawdowns(
    returns: pd.Series, end_pos: int, length: int, cfg: ForecastSettings
) -> np.ndarray:
    """Max drawdowns of `mdd_paths` stationary-bootstrap paths of `length` sessions, resampled from the
    `bootstrap_window` returns up to position `end_pos` (what was known before the window began)."""
    from arch.bootstrap import StationaryBootstrap


    r = returns.to_numpy(dtype=float)[max(0, end_pos - cfg.bootstrap_window + 1) : end_pos + 1]
    if len(r) < 20 or length < 1:
        return np.array([])
    bs = StationaryBootstrap(cfg.bootstrap_block, r, seed=np.random.default_rng(cfg.seed))
    reps = -(-length // len(r))
    paths = np.stack([
        np.concatenate([r[bs.update_indices()] for _ in range(reps)])[:length] for _ in range(cfg.mdd_paths)
    ])
    return max_drawdowns(paths)


def compute_holdout_var_report(result: TrainResult, returns: pd.Series, cfg: ForecastSettings) -> dict | None:
    """1-day 95% / 99% VaR of the var-horizon champion on the holdout vs realised 1-day returns: Kupiec,
    Christoffersen, Basel zone (last `var_window` sessions) and the realised max drawdown's percentile
    among bootstrap-simulated max drawdowns of the same length."""

    h = cfg.var_horizon
    if h not in result.holdout or 0.01 not in result.bundle.horizons[h].quantiles:
        return None
    f = result.holdout[h]
    f = f[f["common"].to_numpy(dtype=bool)]
    champ = result.bundle.horizons[h].champion
    pnl = np.expm1(f["y"].to_numpy())
    var95 = -np.expm1(f[f"{champ}_q05"].to_numpy())
    var99 = -np.expm1(f[f"{champ}_q01"].to_numpy())
    idx = pd.DatetimeIndex(returns.index)
    start_pos = int(idx.get_indexer([pd.Timestamp(f["date"].iloc[0])])[0])
    sims = compute_simulated_drawdowns(returns, start_pos - 1, len(pnl), cfg)
    rep = compute_var_report(pnl, var95, var99, sims, cfg.var_window)
    rep["method"] = champ
    return rep


__all__ = [
    "CANDIDATES",
    "Candidate",
    "compute_candidate_quantiles",
    "FAN_COLUMNS",
    "BASELINES",
    "LEARNED",
    "METHODS",
    "ForecastBundle",
    "ForecastSettings",
    "HorizonModel",
    "TrainResult",
    "compute_bootstrap_quantiles",
    "conformal_window",
    "compute_equity",
    "compute_forecast_features",
    "compute_forecast_fan",
    "compute_forecast_quantiles",
    "compute_gaussian_quantiles",
    "compute_holdout_metrics",
    "compute_holdout_var_report",
    "compute_simulated_drawdowns",
    "compute_log_targets",
    "compute_portfolio_returns",
    "compute_rolling_conformal",
    "fit_quantile_boosters",
    "predict_quantile_boosters",
    "rearrange_quantiles",
    "train_forecast_models",
]
