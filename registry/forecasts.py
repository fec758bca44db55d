"""MLflow logging, registration and loading of the forecast model `foresight-forecast`."""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

from models.forecasts import ForecastBundle
from registry.core import (
    CHAMPION,
    FORECAST_MODEL,
    MLflowTarget,
    configure,
    ensure_experiment,
    read_run_artifact,
    register_version,
    version_by_alias,
)
from registry.pyfunc import ForecastPyfunc

EXPERIMENT = "forecasts"
BUNDLE_ARTIFACT = "forecast_bundle.pkl"
PROMOTION_METRIC = "mean_champion_skill_vs_gaussian"


@dataclass(frozen=True)
class LoadedForecastModel:
    """A registered forecast bundle with its registry version and run."""

    bundle: ForecastBundle
    version: str
    run_id: str
    alias: str | None = None


def log_forecast_model(
    target: MLflowTarget,
    result,
    run_params: dict[str, object],
    figures: dict[str, Path],
    extra_artifacts: dict[str, Path] | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Log the run (params, holdout metrics, figures, the pickled bundle as the pyfunc
    registry.pyfunc.ForecastPyfunc) and register a new version of `foresight-forecast`. Returns
    (version, run_id). No alias is set: training/promotion.py decides."""
    import mlflow

    ensure_experiment(target, EXPERIMENT)
    bundle = result.bundle
    with mlflow.start_run(run_name=f"forecasts-{bundle.portfolio}") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({k: str(v)[:500] for k, v in run_params.items()})
        mlflow.log_metrics({k: float(v) for k, v in result.metrics.items() if v is not None and v == v})
        mlflow.set_tags({
            "portfolio": bundle.portfolio,
            **{f"champion_h{h}": hm.champion for h, hm in bundle.horizons.items()},
            "note": " | ".join(bundle.notes)[:5000],
            **(tags or {}),
        })
        for _, p in figures.items():
            mlflow.log_artifact(str(p), artifact_path="figures")
        for _, p in (extra_artifacts or {}).items():
            mlflow.log_artifact(str(p))
        path = Path(tmp) / BUNDLE_ARTIFACT
        with open(path, "wb") as fh:
            pickle.dump(bundle, fh)
        mlflow.log_artifact(str(path))
        info = mlflow.pyfunc.log_model(
            name="model", python_model=ForecastPyfunc(), artifacts={"bundle": str(path)},
            pip_requirements=["numpy", "pandas", "lightgbm", "arch", "scipy", "mlflow"],
        )
        run_id = run.info.run_id
    version = register_version(target, FORECAST_MODEL, info.model_uri, run_id, tags={
        "holdout_" + PROMOTION_METRIC: f"{result.metrics.get(PROMOTION_METRIC, 0.0):.6f}"}, description=(
        "D3 forecast: 5/50/95 percentile projections of portfolio equity per horizon, from the champion "
        "candidate of each horizon. Aliases: champion (what nightly scoring loads), challenger."))
    return version, run_id


def load_forecast_model(target: MLflowTarget, alias: str = CHAMPION) -> LoadedForecastModel | None:
    """The bundle behind `alias` of `foresight-forecast`, or None when there is none."""
    mv = version_by_alias(configure(target), FORECAST_MODEL, alias)
    if mv is None:
        return None
    bundle = pickle.loads(read_run_artifact(mv.run_id, BUNDLE_ARTIFACT))
    return LoadedForecastModel(bundle=bundle, version=str(mv.version), run_id=mv.run_id, alias=alias)


__all__ = [
    "BUNDLE_ARTIFACT",
    "EXPERIMENT",
    "LoadedForecastModel",
    "PROMOTION_METRIC",
    "load_forecast_model",
    "log_forecast_model",
]
