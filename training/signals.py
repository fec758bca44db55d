"""Signal trainer: refit the tuned configuration, calibrate, evaluate on the holdout, run the honesty controls.

Pure: frames in, a `SignalTrainingResult` out; MLflow and the warehouse stay in registry/ and flows/.
The frame has one row per (symbol, date) with the feature columns, `label` (1 when the forward return
over the horizon is > 0), `fwd_return` and `label_end` (the date of the exit close), ordered by date.

The holdout is touched once, to evaluate: tuning sees only the walk-forward folds, the booster the fit range,
the calibrator (and the choice between Platt and isotonic) the calibration slice.

Honesty controls, each able to fail (a failed one makes the version suspect, and a suspect version is never
champion): the leak control (training.leakage: the same model from market data cut after its windows); the
suspicion gate (holdout skill above what the data can give: on the sample market the planted signal's
oracle skill, known from its truth, on real data a configured ceiling); and the shuffled-label null check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marketdata.sample import PlantedSkill
from models.metrics import (
    compute_auc,
    compute_auc_se_by_date,
    compute_auc_se_null,
    compute_daily_rank_ic,
    compute_ece,
    compute_log_loss,
    compute_mean_hac,
    compute_metrics_by_year,
    compute_reliability,
    compute_signal_metrics,
)
from models.signals import (
    SignalModel,
    _sigmoid,
    feature_importance,
    fit_booster,
    fit_calibrator,
    predict_raw,
    prepare_features,
    strip_prefix,
)
from training.config import SignalTrainingSettings
from training.promotion import SignalSkill, compute_signal_skill
from training.splits import SplitPlan, compute_split_plan

CALIBRATION_METHODS = ("platt", "isotonic")


@dataclass
class SignalTrainingResult:
    """Everything a training produced: the model, where its data came from, how good it is, the controls."""

    model: SignalModel
    plan: SplitPlan
    metrics: dict[str, float]
    """Holdout metrics of the calibrated probability, plus `ece_raw` (before calibration)."""
    metrics_by_year: dict[int, dict[str, float]]
    calibration: dict[str, Any]
    controls: dict[str, Any]
    suspect: bool
    suspicion_reasons: list[str]
    importance: pd.Series
    reliability_raw: pd.DataFrame
    reliability_calibrated: pd.DataFrame
    holdout: pd.DataFrame
    """symbol, date, label, fwd_return, raw_score, probability of every holdout row."""
    fingerprint: str
    skill: SignalSkill
    """Skill over the no-skill baselines on the holdout (what the promotion gate requires)."""
    ceiling: SkillCeiling
    counts: dict[str, int] = field(default_factory=dict)


def compute_dataset_fingerprint(frame: pd.DataFrame, feature_cols: Sequence[str]) -> str:
    """sha256 over the rows (symbol, date, features, label) and the column names: same data, same hash."""
    cols = ["symbol", "date", *feature_cols, "label"]
    h = hashlib.sha256(",".join(cols).encode())
    h.update(pd.util.hash_pandas_object(frame[cols], index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def plan_for(frame: pd.DataFrame, settings: SignalTrainingSettings, entry_lag: int) -> SplitPlan:
    """The purged walk-forward plan of `settings` over the frame's dates."""
    return compute_split_plan(
        frame["date"], horizon=settings.horizon, entry_lag=entry_lag, n_folds=settings.n_folds,
        embargo=settings.embargo_sessions, holdout_fraction=settings.holdout_fraction,
        calibration_fraction=settings.calibration_fraction,
    )


def compute_shuffled_label_control(
    frame: pd.DataFrame, feature_cols: Sequence[str], plan: SplitPlan, family: str, params: dict[str, Any],
    *, seed: int, n_jobs: int = 1, se_limit: float = 3.0, cs_rank: bool = True, n_shuffles: int = 3,
) -> dict[str, Any]:
    """A null check of the pipeline: refit the same configuration on randomly permuted labels; the mean
    holdout AUC must sit at 0.5.

    A model fitted to noise has nothing to find, so skill on the holdout would come from the pipeline itself
    (rows shared between fit and holdout, a holdout label reaching the fit). It cannot see a feature that
    carries the label: permuting the labels breaks that link too. That is the leak control's job.
    Two sources of spread around 0.5 are allowed for: sampling (rows of one date share the market's move,
    rows of one symbol its beta: the largest of the iid, date-clustered and symbol-clustered SE) and the
    direction a model fitted to noise happens to take, which correlates by chance with whatever real
    signal the features carry (the spread between `n_shuffles` independent shuffles).
    """
    rng = np.random.default_rng(seed)
    fit_m = plan.fit_mask(frame)
    hold_m = plan.holdout_mask(frame)
    X = prepare_features(frame, feature_cols, cs_rank)
    y_fit = frame.loc[fit_m, "label"].to_numpy(float)
    y_hold = frame.loc[hold_m, "label"].to_numpy(float)
    aucs, ses = [], []
    for k in range(max(1, n_shuffles)):
        booster = fit_booster(family, params, X[fit_m], rng.permutation(y_fit), seed=seed + k, n_jobs=n_jobs)
        p = _sigmoid(predict_raw(family, booster, X[hold_m]))
        aucs.append(compute_auc(y_hold, p))
        ses.append(float(np.nanmax([
            compute_auc_se_null(y_hold),
            compute_auc_se_by_date(frame.loc[hold_m, "date"].to_numpy(), y_hold, p, seed=seed, block=plan.purge),
            compute_auc_se_by_date(frame.loc[hold_m, "symbol"].to_numpy(), y_hold, p, seed=seed),
        ])))
    k = len(aucs)
    between = float(np.var(aucs, ddof=1)) if k > 1 else 0.0
    se = float(np.sqrt(np.mean(np.square(ses)) / k + between / k)) if k > 1 else ses[0]
    auc = float(np.mean(aucs))
    z = (auc - 0.5) / se if se and se > 0 else float("nan")
    return {
        "shuffled_auc": auc, "shuffled_auc_se": se, "shuffled_auc_z": z, "shuffled_n": k,
        "shuffled_auc_min": float(np.min(aucs)), "shuffled_auc_max": float(np.max(aucs)),
        "shuffled_passed": bool(abs(z) <= se_limit), "shuffled_se_limit": se_limit,
    }


@dataclass(frozen=True)
class SkillCeiling:
    """The most holdout skill the data can honestly give; above it a model is suspect."""

    auc: float
    rank_ic: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "rank_ic": self.rank_ic, "source": self.source}


def compute_skill_ceiling(metrics: dict[str, float], ic_se: float, settings: SignalTrainingSettings,
                          planted: PlantedSkill | None) -> SkillCeiling:
    """On the sample market (`planted` known from its truth): the oracle's AUC and rank IC on the planted
    structure plus `suspicion_z` standard errors of this holdout's (date-clustered) estimates. On real data:
    the configured ceilings (daily equity returns do not give AUC > 0.55 or a daily rank IC > 0.10)."""
    if planted is None:
        return SkillCeiling(settings.suspicion_auc, settings.suspicion_rank_ic,
                            "the configured ceiling for real data")
    z = settings.suspicion_z
    auc_se = float(np.nanmax([metrics.get("auc_se_date", np.nan), metrics.get("auc_se_null", np.nan)]))
    oracle_ic = planted.rank_ic_mean if np.isfinite(planted.rank_ic_mean) else 0.0
    return SkillCeiling(
        planted.auc + z * auc_se, oracle_ic + z * (ic_se if np.isfinite(ic_se) else 0.0),
        f"the sample's planted signal gives an oracle AUC {planted.auc:.4f} and rank IC {oracle_ic:.4f}, "
        f"plus {z:g} SE of this holdout")


def compute_suspicion(metrics: dict[str, float], ceiling: SkillCeiling) -> list[str]:
    """Reasons to distrust a model: holdout AUC or daily rank IC above what the data can give."""
    reasons = []
    if metrics.get("auc", 0.0) > ceiling.auc:
        reasons.append(f"holdout AUC {metrics['auc']:.4f} > {ceiling.auc:.4f} ({ceiling.source})")
    if metrics.get("rank_ic_mean", 0.0) > ceiling.rank_ic:
        reasons.append(f"daily rank IC {metrics['rank_ic_mean']:.4f} > {ceiling.rank_ic:.4f} ({ceiling.source})")
    return reasons


def fit_signal_booster(frame: pd.DataFrame, feature_cols: Sequence[str], plan: SplitPlan, params: dict[str, Any],
                       family: str, settings: SignalTrainingSettings):
    """The booster of `family` with `params`, fit on the plan's fit rows (seeded)."""
    fit_m = plan.fit_mask(frame)
    X = prepare_features(frame, feature_cols, settings.cs_rank)
    y = frame["label"].to_numpy(float)
    return fit_booster(family, params, X[fit_m], y[fit_m], seed=settings.seed, n_jobs=settings.n_jobs)


def compute_calibrator_choice(raw: np.ndarray, y: np.ndarray, dates, purge: int) -> tuple[str, dict[str, float]]:
    """Platt or isotonic, chosen on the calibration slice alone: each is fit on one half of the slice's dates
    and scored (log-loss) on the other, both ways, the halves `purge` sessions apart so that no label spans
    both; the lower mean log-loss wins (Platt on a tie: fewer parameters)."""
    days = pd.to_datetime(pd.Series(np.asarray(dates)))
    order = np.sort(days.unique())
    half = len(order) // 2
    first = days.isin(order[: max(0, half - purge)]).to_numpy()
    second = days.isin(order[half:]).to_numpy()
    raw, y = np.asarray(raw, dtype=float), np.asarray(y, dtype=float)
    scores = {}
    for method in CALIBRATION_METHODS:
        if first.sum() < 10 or second.sum() < 10 or len(np.unique(y[first])) < 2 or len(np.unique(y[second])) < 2:
            scores[method] = float("nan")
            continue
        a = compute_log_loss(y[second], fit_calibrator(method, raw[first], y[first]).predict(raw[second]))
        b = compute_log_loss(y[first], fit_calibrator(method, raw[second], y[second]).predict(raw[first]))
        scores[method] = (a + b) / 2
    finite = {m: v for m, v in scores.items() if np.isfinite(v)}
    chosen = min(finite, key=lambda m: (finite[m], CALIBRATION_METHODS.index(m))) if finite else "platt"
    return chosen, {f"cv_log_loss_{m}": v for m, v in scores.items()}


def fit_signal_model(
    frame: pd.DataFrame, feature_cols: Sequence[str], plan: SplitPlan, best_params: dict[str, Any],
    settings: SignalTrainingSettings,
) -> tuple[SignalModel, dict[str, Any]]:
    """Refit on the fit range, then choose Platt or isotonic on the calibration slice and fit it there."""
    family, params = strip_prefix(best_params)
    booster = fit_signal_booster(frame, feature_cols, plan, params, family, settings)
    cal_m = plan.calibration_mask(frame)
    cal = frame.loc[cal_m]
    raw_cal = predict_raw(family, booster, prepare_features(frame, feature_cols, settings.cs_rank)[cal_m])
    y_cal = cal["label"].to_numpy(float)
    chosen, scores = compute_calibrator_choice(raw_cal, y_cal, cal["date"], plan.purge)
    info = {"method": chosen, **scores, "calibration_rows": int(cal_m.sum())}
    model = SignalModel(family, booster, fit_calibrator(chosen, raw_cal, y_cal), list(feature_cols),
                        params=dict(params), cs_rank=settings.cs_rank)
    return model, info


def evaluate_signal_model(model: SignalModel, rows: pd.DataFrame, *, n_bins: int = 15,
                          base_rate: float | None = None) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics of the calibrated probability on `rows`, plus the scored rows."""
    raw = model.predict_raw(rows)
    p = model.calibrator.predict(raw)
    scored = rows[["symbol", "date", "label", "fwd_return"]].copy()
    scored["raw_score"] = raw
    scored["probability"] = p
    m = compute_signal_metrics(scored["date"], scored["label"], p, scored["fwd_return"], n_bins, base_rate)
    m["ece_raw"] = compute_ece(scored["label"], _sigmoid(raw), n_bins)
    return m, scored


def train_signal_model(
    frame: pd.DataFrame,
    feature_cols: Sequence[str],
    best_params: dict[str, Any],
    settings: SignalTrainingSettings,
    *,
    plan: SplitPlan,
    is_sample_data: bool,
    leak: dict[str, Any] | None,
    planted: PlantedSkill | None = None,
    run_control: bool = True,
    fitted: tuple[SignalModel, dict[str, Any]] | None = None,
) -> SignalTrainingResult:
    """Refit + calibrate the tuned configuration (unless `fitted` is given), evaluate on the untouched
    holdout, run the controls.

    `leak` is the leak control's outcome (training.leakage.run_leak_control on this model); None means it
    did not run, and the model is suspect. `planted` is the sample's planted skill (sets the suspicion
    ceiling; None on real data)."""
    model, cal_info = fitted or fit_signal_model(frame, feature_cols, plan, best_params, settings)
    fit_m = plan.fit_mask(frame)
    hold_m = plan.holdout_mask(frame)
    # The constant baseline of the metrics quotes the positive rate known at training time.
    base_rate = float(frame.loc[plan.development_mask(frame), "label"].mean())
    holdout_rows = frame.loc[hold_m]
    metrics, scored = evaluate_signal_model(model, holdout_rows, n_bins=settings.ece_bins, base_rate=base_rate)
    skill = compute_signal_skill(scored["date"], scored["label"], scored["probability"], lags=plan.purge,
                                 seed=settings.seed)
    metrics.update({"auc_se_block": skill.auc_se, "skill_auc_z": skill.auc_z,
                    "skill_log_loss_gain": skill.log_loss_gain, "skill_log_loss_gain_z": skill.log_loss_gain_z})
    by_year = compute_metrics_by_year(scored["date"], scored["label"], scored["probability"], scored["fwd_return"],
                                      settings.ece_bins, base_rate)
    ic = compute_daily_rank_ic(scored["date"], scored["probability"], scored["fwd_return"])
    ceiling = compute_skill_ceiling(metrics, compute_mean_hac(ic.sort_index().to_numpy(), plan.purge)[1], settings,
                                    planted)
    controls: dict[str, Any] = {}
    if run_control:
        controls = compute_shuffled_label_control(
            frame, feature_cols, plan, model.family, model.params, seed=settings.seed + 1,
            n_jobs=settings.n_jobs, se_limit=settings.control_se_limit, cs_rank=settings.cs_rank,
            n_shuffles=settings.control_shuffles,
        )
    reasons = compute_suspicion(metrics, ceiling)
    if controls and not controls["shuffled_passed"]:
        reasons.append(f"shuffled-label control AUC {controls['shuffled_auc']:.4f} is "
                       f"{controls['shuffled_auc_z']:.1f} SE from 0.5")
    if leak is None:
        reasons.append("leak control not run: nothing to rebuild the training data from")
    else:
        controls.update(leak)
        reasons.extend(f"leak control: {r}" for r in leak["leak_reasons"])
    controls["suspect"] = bool(reasons)
    controls["is_sample_data"] = is_sample_data
    controls["ceiling_auc"], controls["ceiling_rank_ic"] = ceiling.auc, ceiling.rank_ic
    return SignalTrainingResult(
        model=model,
        plan=plan,
        metrics=metrics,
        metrics_by_year=by_year,
        calibration=cal_info,
        controls=controls,
        suspect=bool(reasons),
        suspicion_reasons=reasons,
        importance=feature_importance(model.family, model.booster, list(feature_cols)),
        reliability_raw=compute_reliability(scored["label"], _sigmoid(scored["raw_score"]), settings.ece_bins),
        reliability_calibrated=compute_reliability(scored["label"], scored["probability"], settings.ece_bins),
        holdout=scored.reset_index(drop=True),
        fingerprint=compute_dataset_fingerprint(frame, feature_cols),
        skill=skill,
        ceiling=ceiling,
        counts={"rows": len(frame), "fit_rows": int(fit_m.sum()), "holdout_rows": int(hold_m.sum()),
                "symbols": int(frame["symbol"].nunique()), "features": len(feature_cols)},
    )


@dataclass(frozen=True)
class SignalRunRecord:
    """What a training logs on its MLflow run and registered version (registry.signals.log_signal_model)."""

    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    documents: dict[str, Any]
    texts: dict[str, str]
    version_tags: dict[str, str]


def _prefixed(values: dict[str, Any], prefix: str) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in values.items()
            if isinstance(v, int | float | np.floating) and not isinstance(v, bool)}


def compute_signal_run_record(result: SignalTrainingResult, tuning, meta: dict[str, Any]) -> SignalRunRecord:
    """The run's params, metrics (holdout_*, control_*, calibration_*, tuning_*, holdout_<year>_*), tags,
    evaluation.json / feature_importance.csv and the version's tags, from a training and its study.

    `meta`: feature_set, feature_set_version, horizon, entry_lag, data_source, code_version, ... (also
    written into the model's own meta, so the served model knows what it was trained on)."""
    model = result.model
    model.meta = {**model.meta, **{k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}}
    params = {**{f"best.{k}": v for k, v in tuning.best_params.items()}, **result.plan.describe(),
              **{k: v for k, v in meta.items() if v is not None}, "family": model.family,
              "calibration_method": result.calibration["method"], "n_features": len(model.feature_columns),
              "data_fingerprint": result.fingerprint, "cs_rank": model.cs_rank}
    metrics = {**_prefixed(result.metrics, "holdout_"), **_prefixed(result.controls, "control_"),
               **_prefixed(result.calibration, "calibration_"),
               "tuning_best_mean_fold_log_loss": tuning.best_value, "tuning_trials": tuning.n_trials,
               "tuning_pruned": tuning.n_pruned}
    for year, m in result.metrics_by_year.items():
        metrics.update(_prefixed(m, f"holdout_{year}_"))
    tags = {
        "suspect": str(result.suspect).lower(),
        "suspicion_reasons": "; ".join(result.suspicion_reasons)[:5000] or "none",
        "control_shuffled_passed": str(result.controls.get("shuffled_passed")).lower(),
        "control_leak_passed": str(result.controls.get("leak_passed")).lower(),
        "suspicion_ceiling": result.ceiling.source,
        "data_fingerprint": result.fingerprint,
        "code_version": str(meta.get("code_version")),
        "feature_set": str(meta.get("feature_set")),
        "feature_set_version": str(meta.get("feature_set_version")),
        "horizon": str(meta.get("horizon")),
    }
    documents = {"evaluation.json": {
        "metrics": result.metrics, "metrics_by_year": {str(k): v for k, v in result.metrics_by_year.items()},
        "controls": result.controls, "calibration": result.calibration, "counts": result.counts,
        "suspicion_reasons": result.suspicion_reasons, "skill": result.skill.as_checks(),
        "ceiling": result.ceiling.as_dict(),
    }}
    texts = {"feature_importance.csv": result.importance.to_csv(header=["importance"])}
    version_tags = {"suspect": tags["suspect"], "control_leak_passed": tags["control_leak_passed"],
                    "data_fingerprint": result.fingerprint,
                    "feature_set": tags["feature_set"], "horizon": tags["horizon"]}
    return SignalRunRecord(params, metrics, tags, documents, texts, version_tags)


def compute_log_loss_vs_base(metrics: dict[str, float]) -> float:
    """Holdout log-loss improvement over the constant base-rate forecast (positive = better)."""
    return metrics["log_loss_base_rate"] - metrics["log_loss"]


__all__ = [
    "CALIBRATION_METHODS",
    "SignalRunRecord",
    "SkillCeiling",
    "compute_calibrator_choice",
    "compute_skill_ceiling",
    "fit_signal_booster",
    "compute_signal_run_record",
    "SignalTrainingResult",
    "compute_dataset_fingerprint",
    "compute_log_loss_vs_base",
    "compute_shuffled_label_control",
    "compute_suspicion",
    "evaluate_signal_model",
    "fit_signal_model",
    "plan_for",
    "train_signal_model",
]
