"""MLflow logging, registration and loading of the regime model `foresight-regime`."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from models.regimes import RegimeParams
from registry.core import (
    CHAMPION,
    REGIME_MODEL,
    MLflowTarget,
    ensure_experiment,
    read_run_artifact,
    register_version,
    version_by_alias,
)
from registry.core import configure as configure_mlflow
from registry.pyfunc import RegimePyfunc

EXPERIMENT = "regimes"
PARAMS_ARTIFACT = "regime_params.json"


@dataclass(frozen=True)
class LoadedRegimeModel:
    """A registered regime model: parameters, registry version and the run that produced them."""

    params: RegimeParams
    version: str
    run_id: str
    alias: str | None = None


def log_regime_model(
    target: MLflowTarget,
    params: RegimeParams,
    metrics: dict[str, float],
    run_params: dict[str, object],
    tags: dict[str, str] | None = None,
    candidates: list[RegimeParams] | None = None,
) -> tuple[str, str]:
    """Log a run (params, finite metrics, the parameters JSON, the candidates and the pyfunc
    registry.pyfunc.RegimePyfunc) and register a new version of `foresight-regime`; returns
    (version, run_id). No alias is set: training/promotion.py decides."""
    import mlflow

    ensure_experiment(target, EXPERIMENT)
    with mlflow.start_run(run_name=f"regimes-{params.k}states") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({k: str(v)[:500] for k, v in run_params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and v == v})
        mlflow.set_tags({"model_kind": params.model_kind, **(tags or {})})
        path = Path(tmp) / PARAMS_ARTIFACT
        path.write_text(params.to_json(), encoding="utf-8")
        mlflow.log_artifact(str(path))
        if candidates:
            cand = Path(tmp) / "candidates.json"
            cand.write_text(json.dumps([
                {"kind": c.model_kind, "k": c.k, "loglik": c.loglik, "bic": c.bic} for c in candidates
            ], indent=2), encoding="utf-8")
            mlflow.log_artifact(str(cand))
        # explicit requirements: inferring them loads the model in a subprocess, seconds per model
        info = mlflow.pyfunc.log_model(
            name="model", python_model=RegimePyfunc(), artifacts={"params": str(path)},
            pip_requirements=["numpy", "pandas", "scipy", "mlflow"],
        )
        run_id = run.info.run_id
    version = register_version(target, REGIME_MODEL, info.model_uri, run_id, tags=tags, description=(
        "D2 regime: causal filtered state probabilities and the hysteresis label of every session, with the "
        "walk-forward schedule of refits. Aliases: champion (what nightly scoring loads), challenger."))
    return version, run_id


def load_regime_model(target: MLflowTarget, alias: str = CHAMPION) -> LoadedRegimeModel | None:
    """The parameters behind `alias` of `foresight-regime`, or None when there is none."""
    mv = version_by_alias(configure_mlflow(target), REGIME_MODEL, alias)
    if mv is None:
        return None
    params = RegimeParams.from_json(read_run_artifact(mv.run_id, PARAMS_ARTIFACT).decode("utf-8"))
    return LoadedRegimeModel(params=params, version=str(mv.version), run_id=mv.run_id, alias=alias)


__all__ = ["EXPERIMENT", "LoadedRegimeModel", "load_regime_model", "log_regime_model"]
