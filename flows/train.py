"""Prefect flow `train-signals`: dataset -> tuning -> refit -> leak control -> evaluation -> registration ->
reference -> promotion.

The leak control rebuilds the training data from market data cut after the model's windows and refits (see
training.leakage); registration also logs monitoring's reference window on the run. Thin wiring: the math lives in
training/, MLflow in registry/. Each step is a plain function (tested
directly) wrapped as a Prefect task; `run_signal_steps` runs the same steps without Prefect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.exceptions import MissingContextError
from pydantic import SecretStr

import features
from flows.runtime import build_context
from marketdata.sample import PlantedSkill
from monitoring.store import log_reference_artifact
from registry.core import CHAMPION, SIGNAL_MODEL, alias_version, configure
from registry.signals import end_run, log_signal_model, make_trial_logger, start_parent_run
from scoring.forecasts import load_forecast_kpis, run_backfill_forecasts
from training.config import SignalTrainingSettings
from training.dataset import WarehouseFrameSource, load_planted_skill
from training.distributed import run_study_on
from training.forecasts import ForecastTrainReport, run_train_forecasts, save_train_report
from training.leakage import FrameSource, run_leak_control
from training.promotion import run_signal_promotion
from training.signal_plots import compute_signal_figures
from training.signals import (
    compute_dataset_fingerprint,
    compute_signal_run_record,
    fit_signal_model,
    plan_for,
    train_signal_model,
)

log = logging.getLogger(__name__)


@dataclass
class SignalDataset:
    """The training frame and what it is: feature set (and its version), horizon, data source."""

    frame: pd.DataFrame
    feature_cols: list[str]
    feature_set: str
    feature_set_version: str | None
    horizon: int
    entry_lag: int
    is_sample_data: bool
    sources: list[str] = field(default_factory=list)
    fingerprint: str = ""
    """Hash of the rows and columns trained on; part of the default study name, so a study resumes only
    on the same data (an interrupted run, or more trials) and never mixes trials of different data."""
    source: FrameSource | None = None
    """Builds the frame again from cut market data (the leak control); without one the control cannot run
    and the model is suspect."""
    planted: PlantedSkill | None = None
    """On the sample market: the planted signal's oracle skill (the suspicion gate's ceiling)."""


@dataclass
class TrainSignalsReport:
    """What one training did (printed by the CLI, returned by the flow)."""

    run_id: str
    version: str
    alias: str
    promoted: bool
    reason: str
    family: str
    metrics: dict[str, float]
    controls: dict[str, Any]
    suspect: bool
    study_name: str
    n_trials: int
    holdout: tuple[str, str]
    rows: int
    suspicion_reasons: list[str] = field(default_factory=list)
    champion: str | None = None
    """The champion after this training (None: the night serves no signals)."""


def code_version() -> str:
    """The git commit of the code (with `-dirty` when the tree has changes), or `unknown`."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return "unknown"
        return sha.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def resolve_settings(ctx, trials: int | None = None, timeout_s: float | None = None, horizon: int | None = None,
                     families: list[str] | None = None) -> SignalTrainingSettings:
    """The signal settings of `ctx` with this run's overrides; feature set and entry lag from the feature store."""
    s = ctx.settings.signals
    upd: dict[str, Any] = {}
    if trials is not None:
        upd["trials"] = trials
    if timeout_s is not None:
        upd["timeout_s"] = timeout_s
    if horizon is not None:
        upd["horizon"] = horizon
    if families:
        upd["families"] = tuple(families)
    if s.feature_set is None:
        upd["feature_set"] = ctx.settings.features.feature_set
    if s.entry_lag is None:
        upd["entry_lag"] = ctx.settings.features.entry_lag
    return s.model_copy(update=upd)


# -- steps -----------------------------------------------------------------------------------------------

def step_dataset(ctx, settings: SignalTrainingSettings, start: dt.date | None = None,
                 end: dt.date | None = None) -> SignalDataset:
    """features joined to labels for the horizon, ordered by date, from the warehouse; on the sample market
    also the planted signal's skill."""
    source = WarehouseFrameSource(ctx.warehouse, ctx.settings.features, str(settings.feature_set), settings.horizon,
                                  start=start, end=end)
    frame = source.load()
    with ctx.warehouse.session(read_only=True) as con:
        sources = [r[0] for r in con.execute("SELECT DISTINCT source FROM bars").fetchall()]
        planted = (load_planted_skill(con, settings.horizon, int(settings.entry_lag or 0))
                   if sources and set(sources) == {"sample"} else None)
    if frame.empty:
        raise ValueError(
            f"no training rows for feature set {settings.feature_set!r} at horizon {settings.horizon}: "
            "run `foresight ingest` and `foresight features` first"
        )
    try:
        version = features.feature_set_tag(settings.feature_set)
    except KeyError:
        version = None
    return make_dataset(frame, list(features.feature_columns(settings.feature_set)), settings,
                        feature_set_version=None if version is None else str(version), sources=sources,
                        source=source, planted=planted)


def make_dataset(frame: pd.DataFrame, feature_cols: list[str], settings: SignalTrainingSettings, *,
                 feature_set_version: str | None, sources: list[str], source: FrameSource | None = None,
                 planted: PlantedSkill | None = None) -> SignalDataset:
    """Rows with a label, sorted by (date, symbol); the data is `sample` when every bar came from it.
    `source` rebuilds the frame from cut market data (for the leak control)."""
    frame = frame.dropna(subset=["label"]).copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    # Constant or all-NULL columns (close-only data, no volume) carry nothing to learn: drop them, out loud.
    gaps = [g.describe() for g in features.compute_frame_gaps(frame, feature_cols, str(settings.feature_set))]
    # ... judged on the development rows only: what the holdout holds must not choose the model's inputs.
    # A frame without label ends, or too short for a plan, is judged whole: training stops at the plan, saying why.
    development = None
    with contextlib.suppress(ValueError):
        if "label_end" in frame.columns:
            development = plan_for(frame, settings, int(settings.entry_lag or 0)).development_mask(frame)
    feature_cols, dropped = features.compute_usable_columns(frame, feature_cols, development)
    for line in [*gaps, features.describe_dropped(dropped, len(feature_cols) + len(dropped))]:
        if line:
            log.warning("train-signals: %s", line)
    return SignalDataset(frame, feature_cols, str(settings.feature_set), feature_set_version, settings.horizon,
                         int(settings.entry_lag or 0), bool(sources) and set(sources) == {"sample"}, sources,
                         compute_dataset_fingerprint(frame, feature_cols), source, planted)


def study_storage(ctx) -> SecretStr:
    """The Optuna RDB (`optuna.storage`, e.g. PostgreSQL), else a sqlite file under FORESIGHT_HOME: a study
    with the same name resumes there. A secret: a shared database's URL carries its password."""
    if ctx.settings.optuna.storage is not None:
        return ctx.settings.optuna.storage
    path = Path(ctx.settings.home).resolve() / "optuna" / "signals.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SecretStr(f"sqlite:///{path}")


def _trial_progress(total: int):
    """An Optuna callback logging each finished trial: on the run page and in the log, with or without a
    terminal (the CLI's spinner shows nothing when output is not a terminal)."""
    try:
        logger = get_run_logger()
    except MissingContextError:
        logger = logging.getLogger("flows.train")

    def log(study, trial) -> None:
        best = study.best_value if any(t.value is not None for t in study.trials) else None
        logger.info("tuning trial %d/%d %s: value %s (best %s)", trial.number + 1, total, trial.state.name.lower(),
                    "-" if trial.value is None else f"{trial.value:.5f}", "-" if best is None else f"{best:.5f}")

    return log


def step_tuning(ctx, ds: SignalDataset, settings: SignalTrainingSettings, parent_run_id: str | None):
    plan = plan_for(ds.frame, settings, ds.entry_lag)
    name = settings.study_name or f"signals-h{ds.horizon}-{ds.feature_set}-{ds.fingerprint[:8]}"
    callbacks = [make_trial_logger(ctx.mlflow, parent_run_id)] if parent_run_id else []
    callbacks.append(_trial_progress(settings.trials))
    # Trials run where ctx.executor says (this process by default, or Dask workers), on one shared storage.
    result = run_study_on(
        ctx.executor, ds.frame, ds.feature_cols, plan, n_trials=settings.trials, timeout_s=settings.timeout_s,
        seed=settings.seed,
        families=settings.families, max_rounds=settings.max_rounds, storage=study_storage(ctx), study_name=name,
        n_jobs=settings.n_jobs, min_fold_rows=settings.min_fold_rows, callbacks=callbacks, cs_rank=settings.cs_rank,
    )
    return plan, result


def step_refit(ds: SignalDataset, plan, best_params: dict[str, Any], settings: SignalTrainingSettings):
    return fit_signal_model(ds.frame, ds.feature_cols, plan, best_params, settings)


def step_leak_control(ds: SignalDataset, plan, best_params: dict[str, Any], settings: SignalTrainingSettings,
                      fitted) -> dict[str, Any] | None:
    """Rebuild the data cut after the fit and development windows and refit (training.leakage); None when the
    dataset has no source to rebuild from (the evaluation then marks the model suspect)."""
    if ds.source is None:
        return None
    return run_leak_control(ds.source, ds.frame, ds.feature_cols, plan, fitted[0], best_params, settings)


def step_evaluation(ds: SignalDataset, plan, best_params: dict[str, Any], settings: SignalTrainingSettings,
                    fitted=None, leak: dict[str, Any] | None = None):
    return train_signal_model(ds.frame, ds.feature_cols, best_params, settings, plan=plan,
                              is_sample_data=ds.is_sample_data, fitted=fitted, leak=leak, planted=ds.planted)


def step_registration(ctx, ds: SignalDataset, result, tuning, settings: SignalTrainingSettings, run_id: str) -> str:
    """Log the run record, the figures and the pyfunc; register a new `foresight-signal` version."""
    meta = {
        "feature_set": ds.feature_set, "feature_set_version": ds.feature_set_version, "horizon": ds.horizon,
        "entry_lag": ds.entry_lag, "data_source": ",".join(ds.sources) or "unknown",
        "is_sample_data": ds.is_sample_data, "code_version": code_version(), "study_name": tuning.study_name,
        "train_start": result.plan.fit.start.isoformat(), "train_end": result.plan.fit.end.isoformat(),
        "holdout_start": result.plan.holdout.start.isoformat(), "holdout_end": result.plan.holdout.end.isoformat(),
        "rows": len(ds.frame), "symbols": int(ds.frame["symbol"].nunique()),
    }
    example = ds.frame.loc[ds.frame["date"] == ds.frame["date"].max(), ["symbol", "date", *ds.feature_cols]]
    record = compute_signal_run_record(result, tuning, meta)
    figures = compute_signal_figures(
        {"raw": result.reliability_raw, "calibrated": result.reliability_calibrated}, result.metrics["ece"],
        result.importance, result.model.family, tuning.trials,
    )
    return log_signal_model(
        ctx.mlflow, run_id, result.model, params=record.params, metrics=record.metrics, tags=record.tags,
        documents=record.documents, texts=record.texts, figures=figures, input_example=example,
        version_tags=record.version_tags,
    )


def step_promotion(ctx, ds: SignalDataset, result, version: str, settings: SignalTrainingSettings):
    """The promotion gate on the latest holdout (training.promotion.run_signal_promotion)."""
    window = ds.frame.loc[result.plan.holdout_mask(ds.frame)]
    return run_signal_promotion(ctx.mlflow, version, window, margin=settings.promotion_margin,
                                ece_tolerance=settings.promotion_ece_tolerance, n_bins=settings.ece_bins,
                                skill=result.skill, skill_z=settings.skill_z)


REFERENCE_MAX_ROWS = 50_000


def compute_reference_frame(ds: SignalDataset, result, max_rows: int = REFERENCE_MAX_ROWS,
                            seed: int = 0) -> pd.DataFrame:
    """Monitoring's reference window: training-window rows (fit start .. holdout end) with the model's
    feature columns and `label`, plus `probability` on the holdout rows; a seeded sample of `max_rows`.

    Labels on every row give monitoring the market's own stretches of mostly rising or falling sessions
    (its calibration null); probability + label on the holdout give the reference calibration."""
    plan = result.plan
    dates = ds.frame["date"]
    window = (dates >= pd.Timestamp(plan.fit.start)) & (dates <= pd.Timestamp(plan.holdout.end))
    cols = [c for c in (getattr(result.model, "feature_columns", None) or ds.feature_cols) if c in ds.frame]
    frame = ds.frame.loc[window, ["symbol", "date", *cols, "label"]]
    floats = [c for c in cols if frame[c].dtype == "float64"]
    frame = frame.astype(dict.fromkeys(floats, "float32"))  # half the artifact; monitoring reads floats
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed)
    hold = result.holdout[["symbol", "date", "probability"]].copy()
    hold["date"] = pd.to_datetime(hold["date"])
    frame = frame.merge(hold, on=["symbol", "date"], how="left")
    frame["probability"] = frame["probability"].astype(float)
    frame["label"] = frame["label"].astype(float)
    return frame.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


def step_reference(ctx, ds: SignalDataset, result, run_id: str) -> int:
    """Log monitoring's reference window as `reference/reference.parquet` on the parent run; its row count."""
    frame = compute_reference_frame(ds, result)
    configure(ctx.mlflow)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_id=run_id):
        log_reference_artifact(frame, Path(tmp))
    return len(frame)


def _report(run_id, version, decision, result, tuning, champion: str | None) -> TrainSignalsReport:
    return TrainSignalsReport(
        run_id=run_id, version=version, alias=decision.alias, promoted=decision.promoted, reason=decision.reason,
        family=result.model.family, metrics=result.metrics, controls=result.controls, suspect=result.suspect,
        study_name=tuning.study_name, n_trials=tuning.n_trials,
        holdout=(result.plan.holdout.start.isoformat(), result.plan.holdout.end.isoformat()), rows=result.counts["rows"],
        suspicion_reasons=list(result.suspicion_reasons), champion=champion,
    )


def _run_steps(ctx, ds: SignalDataset, settings: SignalTrainingSettings, steps) -> TrainSignalsReport:
    """The step sequence inside one MLflow parent run; `steps` are the plain functions or their Prefect tasks."""
    tuning_fn, refit_fn, leak_fn, evaluation_fn, registration_fn, reference_fn, promotion_fn = steps
    run_id = start_parent_run(ctx.mlflow, f"train-signals-h{ds.horizon}")
    try:
        plan, tuning = tuning_fn(ctx, ds, settings, run_id)
        fitted = refit_fn(ds, plan, tuning.best_params, settings)
        leak = leak_fn(ds, plan, tuning.best_params, settings, fitted)
        result = evaluation_fn(ds, plan, tuning.best_params, settings, fitted, leak)
        version = registration_fn(ctx, ds, result, tuning, settings, run_id)
        reference_fn(ctx, ds, result, run_id)
        decision = promotion_fn(ctx, ds, result, version, settings)
    except BaseException:
        end_run(ctx.mlflow, run_id, "FAILED")
        raise
    end_run(ctx.mlflow, run_id)
    return _report(run_id, version, decision, result, tuning, alias_version(ctx.mlflow, SIGNAL_MODEL, CHAMPION))


def run_signal_steps(ctx, ds: SignalDataset, settings: SignalTrainingSettings) -> TrainSignalsReport:
    """Tuning -> refit -> leak control -> evaluation (calibration, controls) -> registration -> promotion,
    without Prefect."""
    return _run_steps(
        ctx, ds, settings,
        (step_tuning, step_refit, step_leak_control, step_evaluation, step_registration, step_reference,
         step_promotion),
    )


# -- forecasts ------------------------------------------------------------------------------------------------

def run_forecast_training(ctx, backfill_sessions: int | None = None, on_step=None,
                          overwrite: bool = False) -> ForecastTrainReport:
    """Train and promote the forecast model (training.forecasts.run_train_forecasts), then backfill the last
    `backfill_sessions` (None = settings; 0 = none) with the champion and evaluate what matured
    (scoring.forecasts.run_backfill_forecasts); the report, with the KPIs, goes to
    reports/forecasts/train_report.json. Dates already published by an earlier version keep their record
    unless `overwrite`."""
    step = on_step or (lambda _msg: None)
    cfg = ctx.settings.forecasts
    report = run_train_forecasts(ctx, on_step=step)
    n_back = cfg.backfill_sessions if backfill_sessions is None else backfill_sessions
    if n_back > 0:
        t0 = time.perf_counter()
        back = run_backfill_forecasts(ctx, sessions=n_back, overwrite=overwrite)
        report.backfill = back.as_dict()
        report.timings_s["backfill"] = time.perf_counter() - t0
        with ctx.warehouse.session(read_only=True) as con:
            report.kpis = load_forecast_kpis(con, cfg.portfolio, cfg.var_window, cfg)
        step(f"backfilled {back.as_of_dates} sessions, {back.evaluations_written} evaluations")
    save_train_report(report, ctx.settings.reports_dir)
    return report


# -- Prefect ------------------------------------------------------------------------------------------------

dataset_task = task(name="dataset")(step_dataset)
tuning_task = task(name="tuning")(step_tuning)
refit_task = task(name="refit")(step_refit)
leak_control_task = task(name="leak-control")(step_leak_control)
evaluation_task = task(name="evaluation")(step_evaluation)
registration_task = task(name="registration")(step_registration)
reference_task = task(name="reference")(step_reference)
promotion_task = task(name="promotion")(step_promotion)


@flow(name="train-signals", validate_parameters=False)
def train_signals_flow(trials: int | None = None, timeout_s: float | None = None,
                       start: dt.date | None = None, end: dt.date | None = None, horizon: int | None = None,
                       families: list[str] | None = None) -> dict[str, Any]:
    """Tune, refit, calibrate, evaluate, register and gate the D1 signal model from the warehouse."""
    ctx = build_context()
    settings = resolve_settings(ctx, trials, timeout_s, horizon, families)
    ds = dataset_task(ctx, settings, start, end)
    steps = (tuning_task, refit_task, leak_control_task, evaluation_task, registration_task, reference_task,
             promotion_task)
    return _run_steps(ctx, ds, settings, steps).__dict__


__all__ = [
    "SignalDataset",
    "TrainSignalsReport",
    "compute_reference_frame",
    "make_dataset",
    "resolve_settings",
    "run_forecast_training",
    "run_signal_steps",
    "step_dataset",
    "train_signals_flow",
]
