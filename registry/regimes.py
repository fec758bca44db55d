"""MLflow logging, registration and loading of the regime model `foresight-regime` (champion/challenger)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from registry.core import (
    CHALLENGER,
    CHAMPION,
    REGIME_MODEL,
    MLflowTarget,
    configure,
    ensure_experiment,
    read_run_artifact,
    version_by_alias,
)

EXPERIMENT = "regimes"
PARAMS_ARTIFACT = "regime_params.json"


@dataclass(frozen=True)
class LoadedRegimeModel:
    """A registered regime model: parameters, registry version and the run that produced them."""

    params: object  # models.regimes.RegimeParams
    version: str
    run_id: str
    alias: str | None = None


def log_regime_model(
    target: MLflowTarget,
    params,
    metrics: dict[str, float],
    run_params: dict[str, object],
    tags: dict[str, str] | None = None,
    candidates: list | None = None,
) -> tuple[str, str]:
    """Log a run (params, metrics, the parameters JSON and a pyfunc model) and register it as
    `foresight-regime`; returns (version, run_id). The new version gets the `challenger` alias."""
    import mlflow

    from registry.regime_pyfunc import RegimePyfunc

    ensure_experiment(target, EXPERIMENT)
    client = configure(target)
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
        # explicit requirements: inferring them costs seconds (STACK-NOTES)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=RegimePyfunc(), artifacts={"params": str(path)},
            pip_requirements=["numpy", "pandas", "mlflow"], code_paths=None,
        )
        run_id = run.info.run_id
    mv = mlflow.register_model(info.model_uri, REGIME_MODEL)
    client.set_registered_model_alias(REGIME_MODEL, CHALLENGER, mv.version)
    return str(mv.version), run_id


def set_alias(target: MLflowTarget, version: str, alias: str = CHAMPION) -> None:
    configure(target).set_registered_model_alias(REGIME_MODEL, alias, str(version))


def load_regime_model(target: MLflowTarget, alias: str = CHAMPION) -> LoadedRegimeModel | None:
    """The parameters behind `alias` of `foresight-regime`, or None when there is none."""
    from models.regimes import RegimeParams

    mv = version_by_alias(configure(target), REGIME_MODEL, alias)
    if mv is None:
        return None
    params = RegimeParams.from_json(read_run_artifact(mv.run_id, PARAMS_ARTIFACT).decode("utf-8"))
    return LoadedRegimeModel(params=params, version=str(mv.version), run_id=mv.run_id, alias=alias)


__all__ = ["EXPERIMENT", "LoadedRegimeModel", "load_regime_model", "log_regime_model", "set_alias"]
