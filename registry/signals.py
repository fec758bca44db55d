"""The signal model in MLflow: a calibrated pyfunc, run logging, registration, promotion gate, load by alias."""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.signals import get_family
from registry.core import (
    CHALLENGER,
    CHAMPION,
    SIGNAL_MODEL,
    MLflowTarget,
    configure,
    ensure_experiment,
    version_by_alias,
)

try:  # the pyfunc base class; mlflow is a hard dependency of registry/
    from mlflow.pyfunc import PythonModel as _PythonModel
except ImportError:  # pragma: no cover
    _PythonModel = object

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


class SignalPyfunc(_PythonModel):
    """Serves calibrated probabilities: input symbol, date and the raw feature columns (whole cross-sections
    per date), output `probability` (calibrated) and `raw_score` (log-odds of the native booster).
    The native booster stays reachable through `.signal_model` for attribution."""

    def load_context(self, context) -> None:
        from models.signals import Calibrator, SignalModel, load_booster

        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        booster = load_booster(meta["family"], context.artifacts["booster"])
        self.signal_model = SignalModel(
            meta["family"], booster, Calibrator.from_dict(meta["calibrator"]), meta["feature_columns"],
            params=meta.get("params", {}), cs_rank=meta.get("cs_rank", True), meta=meta.get("meta", {}),
        )

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        raw = self.signal_model.predict_raw(model_input)
        return pd.DataFrame({"probability": self.signal_model.calibrator.predict(raw), "raw_score": raw})


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


def _plots(result, tuning) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    for name, rel in (("raw", result.reliability_raw), ("calibrated", result.reliability_calibrated)):
        ax.plot(rel["mean_probability"], rel["observed_frequency"], "o-", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed frequency",
           title=f"reliability (holdout, ECE {result.metrics['ece']:.4f})")
    ax.legend()
    figs["reliability_diagram.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 6))
    top = result.importance.head(20)[::-1]
    ax.barh(top.index, top.values)
    ax.set(title=f"feature importance ({result.model.family})", xlabel="share")
    fig.tight_layout()
    figs["feature_importance.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 4))
    t = tuning.trials
    done = t[t["state"] == "COMPLETE"]
    ax.plot(done["number"], done["value"], "o", label="trial")
    ax.plot(done["number"], done["value"].cummin(), "-", label="best so far")
    ax.set(xlabel="trial", ylabel="mean fold log-loss", title="Optuna history")
    ax.legend()
    figs["optuna_history.png"] = fig
    return figs


def log_signal_model(
    target: MLflowTarget,
    run_id: str,
    result,
    tuning,
    *,
    meta: dict[str, Any],
    input_example: pd.DataFrame,
) -> str:
    """Log params, metrics, controls, plots and the calibrated pyfunc into `run_id`; register the model.

    `meta` carries feature_set, feature_set_version, horizon, entry_lag, data_source, code_version, ...
    Returns the new registered version of `foresight-signal`.
    """
    import matplotlib.pyplot as plt
    import mlflow
    from mlflow.models import infer_signature

    from models.signals import save_booster

    client = configure(target)
    model = result.model
    model.meta = {**model.meta, **{k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}}
    with mlflow.start_run(run_id=run_id):
        params = {**{f"best.{k}": v for k, v in tuning.best_params.items()}, **result.plan.describe(),
                  **{k: v for k, v in meta.items() if v is not None}, "family": model.family,
                  "calibration_method": result.calibration["method"], "n_features": len(model.feature_columns),
                  "data_fingerprint": result.fingerprint, "cs_rank": model.cs_rank}
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(_clean_metrics(result.metrics, "holdout_"))
        mlflow.log_metrics(_clean_metrics({k: v for k, v in result.controls.items()
                                           if not isinstance(v, bool)}, "control_"))
        mlflow.log_metrics(_clean_metrics(result.calibration, "calibration_"))
        mlflow.log_metrics({"tuning_best_mean_fold_log_loss": tuning.best_value,
                            "tuning_trials": tuning.n_trials, "tuning_pruned": tuning.n_pruned})
        for year, m in result.metrics_by_year.items():
            mlflow.log_metrics(_clean_metrics(m, f"holdout_{year}_"))
        mlflow.set_tags({
            "suspect": str(result.suspect).lower(),
            "suspicion_reasons": "; ".join(result.suspicion_reasons) or "none",
            "control_shuffled_passed": str(result.controls.get("shuffled_passed")).lower(),
            "data_fingerprint": result.fingerprint,
            "code_version": str(meta.get("code_version")),
            "feature_set": str(meta.get("feature_set")),
            "feature_set_version": str(meta.get("feature_set_version")),
            "horizon": str(meta.get("horizon")),
        })
        mlflow.log_dict({"metrics": result.metrics, "metrics_by_year": {str(k): v for k, v in result.metrics_by_year.items()},
                         "controls": result.controls, "calibration": result.calibration, "counts": result.counts,
                         "suspicion_reasons": result.suspicion_reasons}, "evaluation.json")
        mlflow.log_text(result.importance.to_csv(header=["importance"]), "feature_importance.csv")
        for name, fig in _plots(result, tuning).items():
            mlflow.log_figure(fig, name)
            plt.close(fig)
        with tempfile.TemporaryDirectory() as tmp:
            booster_path = Path(tmp) / get_family(model.family).file_name
            save_booster(model.family, model.booster, booster_path)
            meta_path = Path(tmp) / "signal_model.json"
            meta_path.write_text(json.dumps(_bundle_meta(model), default=str))
            example = input_example.head(5).copy()
            example["date"] = pd.to_datetime(example["date"])
            out = SignalPyfunc()
            out.signal_model = model
            signature = infer_signature(example, out.predict(None, example))
            info = mlflow.pyfunc.log_model(
                name="model", python_model=SignalPyfunc(),
                artifacts={"booster": str(booster_path), "meta": str(meta_path)},
                signature=signature, input_example=example, pip_requirements=PIP_REQUIREMENTS,
                code_paths=None,
            )
    _ensure_registered(client)
    mv = client.create_model_version(SIGNAL_MODEL, info.model_uri, run_id=run_id, tags={
        "suspect": str(result.suspect).lower(), "data_fingerprint": result.fingerprint,
        "feature_set": str(meta.get("feature_set")), "horizon": str(meta.get("horizon")),
    })
    return str(mv.version)


def _ensure_registered(client) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(SIGNAL_MODEL)
    except MlflowException:
        client.create_registered_model(SIGNAL_MODEL, description=(
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


# -- promotion -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PromotionDecision:
    """The gate's verdict and the numbers behind it (all measured on the same holdout window)."""

    alias: str
    promoted: bool
    reason: str
    new_version: str
    new_log_loss: float
    new_ece: float
    champion_version: str | None
    champion_log_loss: float | None
    champion_ece: float | None
    margin: float
    ece_tolerance: float
    window_start: str
    window_end: str
    rows: int

    def as_tags(self) -> dict[str, str]:
        return {f"promotion.{k}": "" if v is None else str(v) for k, v in asdict(self).items()}

    def describe(self) -> str:
        champ = (f"champion v{self.champion_version}: log-loss {self.champion_log_loss:.5f}, ECE {self.champion_ece:.4f}"
                 if self.champion_version else "no champion")
        return (f"Promotion gate -> {self.alias}: {self.reason}. On holdout {self.window_start}..{self.window_end} "
                f"({self.rows} rows): new v{self.new_version} log-loss {self.new_log_loss:.5f}, ECE {self.new_ece:.4f}; "
                f"{champ}; margin {self.margin}, ECE tolerance {self.ece_tolerance}.")


def compute_promotion_decision(
    new: dict[str, float], champion: dict[str, float] | None, *, new_version: str, champion_version: str | None,
    suspect: bool, margin: float, ece_tolerance: float, window: tuple[str, str], rows: int,
) -> PromotionDecision:
    """Champion only if not suspect and (no champion, or log-loss better by `margin` with ECE no worse)."""
    def make(alias: str, reason: str) -> PromotionDecision:
        return PromotionDecision(
            alias, alias == CHAMPION, reason, str(new_version), float(new["log_loss"]), float(new["ece"]),
            champion_version, None if champion is None else float(champion["log_loss"]),
            None if champion is None else float(champion["ece"]), margin, ece_tolerance, window[0], window[1], rows,
        )

    if suspect:
        return make(CHALLENGER, "suspect model (honesty controls) cannot be promoted")
    if champion is None:
        return make(CHAMPION, "no current champion")
    gain = champion["log_loss"] - new["log_loss"]
    if gain < margin:
        return make(CHALLENGER, f"log-loss gain {gain:.5f} below margin {margin}")
    if new["ece"] > champion["ece"] + ece_tolerance:
        return make(CHALLENGER, f"calibration worse: ECE {new['ece']:.4f} > {champion['ece']:.4f} + {ece_tolerance}")
    return make(CHAMPION, f"log-loss better by {gain:.5f} (>= {margin}) and ECE no worse")


def _score_on(model, rows: pd.DataFrame, n_bins: int) -> dict[str, float]:
    from models.metrics import compute_ece, compute_log_loss

    p = model.predict_proba(rows)
    return {"log_loss": compute_log_loss(rows["label"], p), "ece": compute_ece(rows["label"], p, n_bins)}


def run_promotion_gate(
    target: MLflowTarget, new_version: str, window: pd.DataFrame, *, margin: float, ece_tolerance: float,
    n_bins: int = 15,
) -> PromotionDecision:
    """Score the new version and the current champion on `window` (the latest holdout: symbol, date,
    raw features, label), decide, set the alias and write the decision as tags + description."""
    client = configure(target)
    new = load_signal_version(target, new_version)
    # Tags can change after loading (the cache keeps models, not tags): read the flag fresh.
    suspect = client.get_model_version(SIGNAL_MODEL, str(new_version)).tags.get("suspect") == "true"
    champ = load_champion(target)
    new_m = _score_on(new.model, window, n_bins)
    champ_m, champ_version = None, None
    reason_extra = ""
    if champ is not None and champ.version != str(new_version):
        champ_version = champ.version
        try:
            champ_m = _score_on(champ.model, window, n_bins)
        except KeyError as exc:  # the champion needs features this window lacks
            champ_m = {"log_loss": float("inf"), "ece": float("inf")}
            reason_extra = f" (champion not scorable on this window: {exc})"
    dates = pd.to_datetime(window["date"])
    decision = compute_promotion_decision(
        new_m, champ_m, new_version=str(new_version), champion_version=champ_version, suspect=suspect,
        margin=margin, ece_tolerance=ece_tolerance,
        window=(dates.min().date().isoformat(), dates.max().date().isoformat()), rows=len(window),
    )
    if reason_extra:
        decision = PromotionDecision(**{**asdict(decision), "reason": decision.reason + reason_extra})
    _apply_alias(client, decision.alias, str(new_version), previous=champ_version)
    for k, v in decision.as_tags().items():
        client.set_model_version_tag(SIGNAL_MODEL, str(new_version), k, v)
    client.update_model_version(SIGNAL_MODEL, str(new_version), description=decision.describe())
    return decision


def _history(client) -> list[str]:
    rm = client.get_registered_model(SIGNAL_MODEL)
    return [str(v) for v in json.loads(rm.tags.get("champion_history", "[]"))]


def _apply_alias(client, alias: str, version: str, previous: str | None = None) -> None:
    client.set_registered_model_alias(SIGNAL_MODEL, alias, version)
    if alias == CHAMPION:
        hist = _history(client)
        if not hist and previous:
            hist.append(previous)
        if not hist or hist[-1] != version:
            hist.append(version)
        client.set_registered_model_tag(SIGNAL_MODEL, "champion_history", json.dumps(hist[-50:]))
        # The alias moved: the old challenger alias must not point at the new champion.
        try:
            if str(client.get_model_version_by_alias(SIGNAL_MODEL, CHALLENGER).version) == version:
                client.delete_registered_model_alias(SIGNAL_MODEL, CHALLENGER)
        except Exception:  # noqa: BLE001 - no challenger alias
            pass


def promote_version(target: MLflowTarget, version: str, *, by: str, reason: str = "manual override") -> str | None:
    """A person's override: make `version` the champion (suspect versions are refused). Returns the previous one."""
    client = configure(target)
    mv = client.get_model_version(SIGNAL_MODEL, str(version))
    if mv.tags.get("suspect") == "true":
        raise ValueError(f"version {version} is tagged suspect by the honesty controls and cannot be promoted")
    prev = None
    try:
        prev = str(client.get_model_version_by_alias(SIGNAL_MODEL, CHAMPION).version)
    except Exception:  # noqa: BLE001
        prev = None
    _apply_alias(client, CHAMPION, str(version), previous=prev)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(SIGNAL_MODEL, str(version), "override",
                                 f"promoted to champion by {by} at {now}: {reason} (previous champion: {prev})")
    return prev


def rollback_champion(target: MLflowTarget, *, by: str) -> tuple[str, str]:
    """Give the champion alias back to the previous champion; returns (from_version, to_version)."""
    client = configure(target)
    hist = _history(client)
    try:
        current = str(client.get_model_version_by_alias(SIGNAL_MODEL, CHAMPION).version)
    except Exception as exc:  # noqa: BLE001
        raise ValueError("no champion to roll back") from exc
    while hist and hist[-1] == current:
        hist.pop()
    if not hist:
        raise ValueError(f"champion v{current} has no previous champion to roll back to")
    target_version = hist[-1]
    client.set_registered_model_alias(SIGNAL_MODEL, CHAMPION, target_version)
    client.set_registered_model_alias(SIGNAL_MODEL, CHALLENGER, current)
    client.set_registered_model_tag(SIGNAL_MODEL, "champion_history", json.dumps(hist))
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(SIGNAL_MODEL, current, "override", f"rolled back by {by} at {now} to v{target_version}")
    client.set_model_version_tag(SIGNAL_MODEL, target_version, "override",
                                 f"champion again after rollback by {by} at {now} (from v{current})")
    return current, target_version


__all__ = [
    "EXPERIMENT",
    "LoadedSignalModel",
    "PromotionDecision",
    "SignalPyfunc",
    "compute_promotion_decision",
    "end_run",
    "load_champion",
    "load_signal_model",
    "load_signal_version",
    "log_signal_model",
    "make_trial_logger",
    "promote_version",
    "rollback_champion",
    "run_promotion_gate",
    "start_parent_run",
]
