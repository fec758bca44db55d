"""Use case `run_train_regimes`: fit, evaluate out of sample, match labels, log and register the regime model."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from features.series import load_market_series
from models.regimes import (
    RegimeParams,
    compute_accuracy,
    compute_expected_durations,
    compute_filtered_probabilities,
    compute_hysteresis,
    compute_regime_frame,
    compute_stationary,
    compute_switches_per_year,
    compute_thresholds,
    compute_vol_rule_log_density,
    compute_vol_threshold_states,
    fit_regime_model,
    fit_vol_thresholds,
    fit_walk_forward,
    match_to_previous,
)
from registry.core import CHAMPION
from registry.regimes import load_regime_model, log_regime_model
from training.config import RegimeSettings
from training.promotion import RegimeSkill, compute_regime_promotion, compute_regime_skill, record_promotion


@dataclass
class RegimeEvaluation:
    """Holdout metrics of one parameter set on one series (filter run from the first day; scored on the holdout)."""

    oos_loglik_per_session: float
    switches_per_year: float
    accuracy: float | None
    accuracy_raw: float | None
    baseline_accuracy: float | None
    skill: RegimeSkill
    """Holdout predictive log-density over the volatility rule's (the promotion gate's skill floor)."""


@dataclass
class TrainRegimesReport:
    """What `foresight train regimes` did."""

    version: str
    run_id: str
    n_states: int
    model_kind: str
    labels: tuple[str, ...]
    promoted: bool
    champion_version: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    params: RegimeParams | None = None
    promotion: str = ""


def load_sample_truth(con) -> pd.DataFrame:
    """The sample source's planted regimes (empty for real data)."""
    return con.execute("SELECT date, regime, regime_name FROM sample_truth ORDER BY date").df()


def compute_evaluation(series: pd.DataFrame, split: int, params: RegimeParams, cfg: RegimeSettings,
                       truth: pd.DataFrame | None) -> RegimeEvaluation:
    """Filter the whole series with `params` (causal) and score rows >= split: log-likelihood, switches,
    skill over the volatility rule (predictive log-density per session), accuracy against truth (when its
    labels match the model's) and the volatility-threshold baseline's."""
    mu, sd, tm, sp = params.arrays()
    probs, logdens = compute_filtered_probabilities(series["ret"].to_numpy(), mu, sd, tm, sp)
    baseline = compute_vol_rule_log_density(series["ret"].to_numpy(), series["rvol"].to_numpy(), split,
                                            compute_stationary(tm))
    sticky = compute_hysteresis(probs, *compute_thresholds(params))
    labels = np.asarray(params.labels, dtype=object)
    acc = acc_raw = base = None
    if truth is not None and not truth.empty:
        merged = series[["date"]].assign(i=np.arange(len(series))).merge(
            truth.assign(date=pd.to_datetime(truth["date"])), on="date")
        merged = merged[merged["i"] >= split]
        if len(merged) and set(truth["regime_name"].unique()) <= set(params.labels):
            idx = merged["i"].to_numpy()
            acc = compute_accuracy(labels[sticky[idx]], merged["regime_name"])
            acc_raw = compute_accuracy(labels[probs[idx].argmax(axis=1)], merged["regime_name"])
            rvol = series["rvol"].to_numpy()
            thresholds = fit_vol_thresholds(rvol[:split], compute_stationary(tm))
            base = compute_accuracy(labels[compute_vol_threshold_states(rvol[idx], thresholds)],
                                    merged["regime_name"])
    hold = logdens[split:]
    return RegimeEvaluation(
        oos_loglik_per_session=float(np.nanmean(hold)) if len(hold) else float("nan"),
        switches_per_year=compute_switches_per_year(sticky[split:]),
        accuracy=acc, accuracy_raw=acc_raw, baseline_accuracy=base,
        skill=compute_regime_skill(hold, baseline[split:], lags=cfg.vol_window),
    )


def compute_walk_forward_accuracy(series: pd.DataFrame, params: RegimeParams, cfg: RegimeSettings,
                                  truth: pd.DataFrame | None) -> float | None:
    """Hysteresis-label accuracy against truth on the days scored out of sample by the walk-forward
    schedule (what a backfill stores with in_sample = false); None without truth or matching labels."""
    if truth is None or truth.empty or not set(truth["regime_name"].unique()) <= set(params.labels):
        return None
    frame = compute_regime_frame(series["date"], series["ret"].to_numpy(), params)
    merged = frame[~frame["in_sample"]].merge(truth.assign(date=pd.to_datetime(truth["date"]).dt.date), on="date")
    return compute_accuracy(merged["regime_x"], merged["regime_name"]) if len(merged) else None


def _fit(series: pd.DataFrame, cfg: RegimeSettings, n_states: int | None, previous: RegimeParams | None):
    params, candidates = fit_regime_model(
        series["ret"].to_numpy(), n_states=n_states, candidate_states=cfg.candidate_states,
        models=cfg.models, n_starts=cfg.n_starts, seed=cfg.seed,
    )
    params = match_to_previous(previous, params)
    extra = {**params.extra, "enter_threshold": cfg.enter_threshold, "leave_threshold": cfg.leave_threshold,
             "vol_window": cfg.vol_window, "benchmark_symbol": cfg.benchmark_symbol}
    params = replace(params, train_start=str(series["date"].iloc[0].date()),
                     train_end=str(series["date"].iloc[-1].date()), extra=extra)
    return params, candidates


def run_train_regimes(ctx, cfg: RegimeSettings | None = None, on_step=None) -> TrainRegimesReport:
    """Fit on the first (1 - holdout) of history, evaluate the holdout, refit on everything up to the
    refit date, match labels to the current champion, log + register as `foresight-regime`.

    Promotion (training.promotion.compute_regime_promotion): only with skill over the volatility rule
    (holdout predictive log-density, fit without the holdout, `skill_z` SE better); then champion when there
    is none, or when its holdout log-likelihood per session beats the champion's on the same holdout by
    `promotion_margin`; otherwise challenger."""

    cfg = cfg or ctx.settings.regimes
    step = on_step or (lambda msg: None)
    ctx.warehouse.migrate()
    with ctx.warehouse.session(read_only=True) as con:
        series = load_market_series(con, cfg.benchmark_symbol, cfg.vol_window)
        truth = load_sample_truth(con)
    series = series.dropna(subset=["ret"]).reset_index(drop=True)
    n = len(series)
    split = int(round(n * (1.0 - cfg.holdout_fraction)))
    if split < 250 or n - split < 20:
        raise ValueError(f"not enough history for regimes: {n} sessions (need >= ~320)")
    champion = load_regime_model(ctx.mlflow, CHAMPION)
    previous = champion.params if champion is not None else None

    step("fit on the training window")
    t0 = time.perf_counter()
    eval_params, candidates = _fit(series.iloc[:split], cfg, cfg.n_states, previous)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = compute_evaluation(series, split, eval_params, cfg, truth)
    filter_s = time.perf_counter() - t0
    champ_ev = compute_evaluation(series, split, previous, cfg, truth) if previous is not None else None

    final = eval_params
    if cfg.refit_full:
        step("refit on all history")
        # matched to the evaluation fit, which was matched to the champion: labels keep their meaning
        final, _ = _fit(series, cfg, eval_params.k, eval_params)
    if cfg.walk_forward:
        step("walk-forward refits")
        t0 = time.perf_counter()
        schedule = fit_walk_forward(
            series["ret"].to_numpy(), series["date"], final, cfg.walk_forward_min_sessions,
            cfg.walk_forward_every, n_starts=max(2, cfg.n_starts // 2), seed=cfg.seed,
        )
        wf_s = time.perf_counter() - t0
        final = replace(final, extra={**final.extra, "walk_forward": [asdict(p) for p in schedule]})
    durations = compute_expected_durations(final)
    metrics: dict[str, float] = {
        "bic": final.bic, "loglik": final.loglik, "n_states": final.k,
        "train_bic": eval_params.bic,
        "oos_loglik_per_session": ev.oos_loglik_per_session,
        "skill_gain_vs_vol_rule": ev.skill.gain, "skill_gain_z": ev.skill.z,
        "switches_per_year": ev.switches_per_year,
        "fit_seconds": fit_s, "filter_seconds": filter_s, "n_sessions": n, "holdout_sessions": n - split,
        **{f"expected_duration_{lab}": d for lab, d in durations.items()},
        **{f"mean_{lab}": m for lab, m in zip(final.labels, final.means, strict=True)},
        **{f"vol_{lab}": v for lab, v in zip(final.labels, final.vols, strict=True)},
    }
    for c in candidates:
        metrics[f"bic_{c.model_kind}_{c.k}"] = c.bic
    if cfg.walk_forward:
        metrics.update(walk_forward_refits=len(final.extra["walk_forward"]), walk_forward_seconds=wf_s)
        wf_acc = compute_walk_forward_accuracy(series, final, cfg, truth)
        if wf_acc is not None:
            metrics["accuracy_walk_forward_oos"] = wf_acc
    if ev.accuracy is not None:
        metrics.update(accuracy=ev.accuracy, accuracy_raw=ev.accuracy_raw, baseline_accuracy=ev.baseline_accuracy)
    if champ_ev is not None:
        metrics["champion_oos_loglik_per_session"] = champ_ev.oos_loglik_per_session
    step("log and register")
    run_params = {**cfg.model_dump(mode="json"), "chosen_states": final.k, "model_kind": final.model_kind,
                  "train_start": final.train_start, "train_end": final.train_end,
                  "holdout_start": str(series["date"].iloc[split].date())}
    version, run_id = log_regime_model(
        ctx.mlflow, final, metrics, run_params, tags={"universe": ctx.settings.universe}, candidates=candidates,
    )
    decision = record_promotion(ctx.mlflow, compute_regime_promotion(
        ev.oos_loglik_per_session, None if champ_ev is None else champ_ev.oos_loglik_per_session,
        new_version=version, champion_version=None if champion is None else champion.version,
        margin=cfg.promotion_margin, skill=ev.skill, skill_z=cfg.skill_z,
        window=(str(series["date"].iloc[split].date()), str(series["date"].iloc[-1].date())), rows=n - split,
    ))
    return TrainRegimesReport(
        version=version, run_id=run_id, n_states=final.k, model_kind=final.model_kind, labels=final.labels,
        promoted=decision.promoted,
        champion_version=version if decision.promoted else (champion.version if champion else None),
        metrics=metrics, params=final, promotion=decision.describe(),
    )


__all__ = ["RegimeEvaluation", "TrainRegimesReport", "compute_evaluation", "load_sample_truth", "run_train_regimes"]
