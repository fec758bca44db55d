"""The signal model in MLflow: the training run (parent + one nested run per Optuna trial), registration of
the calibrated pyfunc, and loading a version or an alias."""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.signals import SignalModel, compute_signal_scores, get_family
from registry.core import (
    CHAMPION,
    SIGNAL_MODEL,
    MLflowTarget,
    configure,
    ensure_experiment,
    register_version,
    version_by_alias,
)
from registry.pyfunc import DEFAULT_TOP_K, SignalPyfunc

EXPERIMENT = "signals"
PIP_REQUIREMENTS = [
    "mlflow==3.17.2", "lightgbm==4.7.0", "catboost==1.2.10", "pandas>=2.3,<3", "numpy>=2,<3", "scikit-learn>=1.6",
]


def _bundle_meta(model) -> dict[str, Any]:
    return {
        "family": model.family, "feature_columns": list(model.feature_columns),
        "calibrator": model.calibrator.to_dict(), "params": model.params, "cs_rank": bool(model.cs_rank),
        "meta": model.meta,
    }


# -- logging -------------------------------------------------------------------------------------------

def start_parent_run(target: MLflowTarget, run_name: str, tags: dict[str, str] | None = None) -> str:
    """Create the parent run of one training (explicit run ids: safe across Prefect task threads)."""
    client = configure(target)
    exp_id = ensure_experiment(target, EXPERIMENT)
    run = client.create_run(exp_id, run_name=run_name, tags=tags or {})
    return run.info.run_id


def end_run(target: MLflowTarget, run_id: str, status: str = "FINISHED") -> None:
    configure(target).set_terminated(run_id, status)


def make_trial_logger(target: MLflowTarget, parent_run_id: str):
    """An Optuna callback that records each finished trial as a nested MLflow run (params, fold metrics)."""
    from mlflow.entities import Metric, Param

    client = configure(target)
    exp_id = client.get_run(parent_run_id).info.experiment_id
    lock = threading.Lock()

    def callback(study, trial) -> None:
        with lock:
            run = client.create_run(exp_id, run_name=f"trial-{trial.number}", tags={
                "mlflow.parentRunId": parent_run_id, "optuna.study": study.study_name,
                "optuna.trial": str(trial.number), "optuna.state": trial.state.name,
            })
            ts = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
            metrics = []
            for key in ("fold_log_loss", "fold_auc"):
                for step, v in enumerate(trial.user_attrs.get(key, [])):
                    if v is not None and math.isfinite(v):
                        metrics.append(Metric(key, float(v), ts, step))
            if trial.value is not None:
                metrics.append(Metric("mean_fold_log_loss", float(trial.value), ts, 0))
            params = [Param(k, str(v)) for k, v in trial.params.items()]
            client.log_batch(run.info.run_id, metrics=metrics, params=params)
            client.set_terminated(run.info.run_id, "FINISHED" if trial.state.name == "COMPLETE" else "KILLED")

    return callback


def _clean_metrics(metrics: dict[str, float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in metrics.items()
            if isinstance(v, int | float | np.floating) and math.isfinite(float(v))}


def log_signal_model(
    target: MLflowTarget,
    run_id: str,
    model: SignalModel,
    *,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    documents: dict[str, Any],
    texts: dict[str, str],
    figures: dict[str, Any],
    input_example: pd.DataFrame,
    version_tags: dict[str, str],
) -> str:
    """Log `params`, finite `metrics`, `tags`, JSON `documents`, text files, matplotlib `figures` and the
    calibrated pyfunc (registry.pyfunc.SignalPyfunc) into run `run_id`, then register a new version of
    `foresight-signal` with `version_tags`. No alias is set: training/promotion.py decides. Returns the
    version."""
    import matplotlib.pyplot as plt
    import mlflow
    from mlflow.models import infer_signature

    configure(target)
    family = get_family(model.family)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(_clean_metrics(metrics))
        mlflow.set_tags(tags)
        for name, doc in documents.items():
            mlflow.log_dict(doc, name)
        for name, text in texts.items():
            mlflow.log_text(text, name)
        for name, fig in figures.items():
            mlflow.log_figure(fig, name)
            plt.close(fig)
        with tempfile.TemporaryDirectory() as tmp:
            booster_path = Path(tmp) / family.file_name
            family.save(model.booster, booster_path)
            meta_path = Path(tmp) / "signal_model.json"
            meta_path.write_text(json.dumps(_bundle_meta(model), default=str))
            example = input_example.head(5).copy()
            example["date"] = pd.to_datetime(example["date"])
            signature = infer_signature(example, compute_signal_scores(model, example, DEFAULT_TOP_K),
                                        params={"top_k": DEFAULT_TOP_K})
            info = mlflow.pyfunc.log_model(
                name="model", python_model=SignalPyfunc(),
                artifacts={"booster": str(booster_path), "meta": str(meta_path)},
                signature=signature, input_example=example, pip_requirements=PIP_REQUIREMENTS,
            )
    return register_version(target, SIGNAL_MODEL, info.model_uri, run_id, tags=version_tags, description=(
        "D1 signal: calibrated P(forward return over H sessions > 0) per symbol and date. "
        "Aliases: champion (what nightly scoring loads), challenger. Attributions explain the raw score "
        "(log-odds of the booster); calibration maps the raw score to the probability."))


# -- loading ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadedSignalModel:
    """A registered version: the pure `SignalModel` plus where it came from."""

    model: Any
    version: str
    run_id: str
    feature_set: str
    horizon: int
    tags: dict[str, str]


_CACHE: dict[tuple[str, str], LoadedSignalModel] = {}
_CACHE_LOCK = threading.Lock()


def load_signal_version(target: MLflowTarget, version: str) -> LoadedSignalModel:
    """Load version `version` of `foresight-signal` (cached per tracking URI and version)."""
    key = (target.tracking_uri, str(version))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    import mlflow

    client = configure(target)
    mv = client.get_model_version(SIGNAL_MODEL, str(version))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{SIGNAL_MODEL}/{version}")
    model = pyfunc.unwrap_python_model().signal_model
    tags = dict(mv.tags)
    loaded = LoadedSignalModel(
        model=model, version=str(mv.version), run_id=mv.run_id,
        feature_set=str(model.meta.get("feature_set", tags.get("feature_set"))),
        horizon=int(model.meta.get("horizon", tags.get("horizon", 0))), tags=tags,
    )
    with _CACHE_LOCK:
        _CACHE[key] = loaded
    return loaded


def load_signal_model(target: MLflowTarget, alias: str = CHAMPION) -> LoadedSignalModel | None:
    """The version behind `alias` (default champion), or None when there is none yet."""
    mv = version_by_alias(configure(target), SIGNAL_MODEL, alias)
    if mv is None:
        return None
    return load_signal_version(target, str(mv.version))


def load_champion(target: MLflowTarget) -> LoadedSignalModel | None:
    return load_signal_model(target, CHAMPION)


__all__ = [
    "EXPERIMENT",
    "LoadedSignalModel",
    "end_run",
    "load_signal_model",
    "load_signal_version",
    "log_signal_model",
    "make_trial_logger",
    "start_parent_run",
]
