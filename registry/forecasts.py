"""MLflow logging, registration and loading of the forecast model `foresight-forecast`."""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

from registry.core import (
    CHALLENGER,
    CHAMPION,
    FORECAST_MODEL,
    MLflowTarget,
    configure,
    ensure_experiment,
    read_run_artifact,
    version_by_alias,
)

EXPERIMENT = "forecasts"
BUNDLE_ARTIFACT = "forecast_bundle.pkl"
PROMOTION_METRIC = "mean_champion_skill_vs_gaussian"


@dataclass(frozen=True)
class LoadedForecastModel:
    """A registered forecast bundle with its registry version and run."""

    bundle: object  # models.forecasts.ForecastBundle
    version: str
    run_id: str
    alias: str | None = None


def _current_champion_metric(client) -> float | None:
    mv = version_by_alias(client, FORECAST_MODEL, CHAMPION)
    if mv is None:
        return None
    run = client.get_run(mv.run_id)
    return run.data.metrics.get(PROMOTION_METRIC)


def log_forecast_model(
    target: MLflowTarget,
    result,
    run_params: dict[str, object],
    figures: dict[str, Path],
    extra_artifacts: dict[str, Path] | None = None,
    margin: float = 0.0,
    tags: dict[str, str] | None = None,
) -> tuple[str, str, str]:
    """Log the run (params, holdout metrics, figures, the pickled bundle as a pyfunc model) and register
    it as `foresight-forecast`. Returns (version, run_id, alias): the version becomes `champion` when there
    is none yet or its mean pinball skill vs the Gaussian baseline is >= the champion's minus `margin`;
    otherwise it is `challenger`."""
    import mlflow

    from registry.forecast_pyfunc import ForecastPyfunc

    ensure_experiment(target, EXPERIMENT)
    client = configure(target)
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
    previous = _current_champion_metric(client)
    mv = mlflow.register_model(info.model_uri, FORECAST_MODEL)
    new = result.metrics.get(PROMOTION_METRIC, 0.0)
    alias = CHAMPION if previous is None or new >= previous - margin else CHALLENGER
    client.set_registered_model_alias(FORECAST_MODEL, alias, mv.version)
    client.set_model_version_tag(FORECAST_MODEL, mv.version, "holdout_" + PROMOTION_METRIC, f"{new:.6f}")
    return str(mv.version), run_id, alias


def set_alias(target: MLflowTarget, version: str, alias: str = CHAMPION) -> None:
    configure(target).set_registered_model_alias(FORECAST_MODEL, alias, str(version))


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
    "load_forecast_model",
    "log_forecast_model",
    "set_alias",
]
