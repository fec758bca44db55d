"""MLflow plumbing shared by every trainer: tracking setup, experiments, registration, aliases."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

CHAMPION = "champion"
CHALLENGER = "challenger"
SIGNAL_MODEL = "foresight-signal"
REGIME_MODEL = "foresight-regime"
FORECAST_MODEL = "foresight-forecast"


@dataclass(frozen=True)
class MLflowTarget:
    """Where to log: tracking URI (sqlite by default) and the artifact root for new experiments (None: see
    `compute_artifact_root`)."""

    tracking_uri: str
    artifact_root: Path | None = None
    experiment_prefix: str = "foresight"


def compute_artifact_root(tracking_uri: str, artifact_root: Path | None = None) -> Path | None:
    """Where new experiments keep their artifacts: `artifact_root` when set; else `artifacts/` beside the
    sqlite database of the tracking URI (`sqlite:///home/mlflow.db` -> `home/artifacts`), so two homes never
    share one folder; None for a tracking server, which chooses its own artifact store."""
    if artifact_root is not None:
        return Path(artifact_root)
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
    return None


def configure(target: MLflowTarget):
    """Point mlflow at `target` (creating the sqlite folder) and return an MlflowClient."""
    import mlflow
    from mlflow import MlflowClient

    if target.tracking_uri.startswith("sqlite:///"):
        db_path = Path(target.tracking_uri.removeprefix("sqlite:///"))
        db_path.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(target.tracking_uri)
    mlflow.set_registry_uri(target.tracking_uri)
    return MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.tracking_uri)


def ensure_experiment(target: MLflowTarget, name: str) -> str:
    """Experiment `<prefix>-<name>` with an explicit artifact location; returns its id."""
    import mlflow

    client = configure(target)
    full = f"{target.experiment_prefix}-{name}"
    exp = client.get_experiment_by_name(full)
    if exp is not None:
        mlflow.set_experiment(experiment_id=exp.experiment_id)
        return exp.experiment_id
    root = compute_artifact_root(target.tracking_uri, target.artifact_root)
    if root is None:
        exp_id = client.create_experiment(full)
    else:
        location = (root / full).resolve()
        location.mkdir(parents=True, exist_ok=True)
        exp_id = client.create_experiment(full, artifact_location=location.as_uri())
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def version_by_alias(client, model_name: str, alias: str = CHAMPION):
    """The ModelVersion behind `alias`, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def alias_version(target: MLflowTarget, model_name: str, alias: str = CHAMPION) -> str | None:
    """The version number behind `alias`, or None when the model or alias does not exist."""
    mv = version_by_alias(configure(target), model_name, alias)
    return None if mv is None else mv.version


def read_run_artifact(run_id: str, artifact_path: str) -> bytes:
    """The bytes of one artifact file of an MLflow run (downloaded to a temporary folder)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=tmp)
        return Path(local).read_bytes()
