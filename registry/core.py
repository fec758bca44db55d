"""MLflow plumbing shared by the three registered models: tracking setup, experiments, aliases, tags.

An adapter only: it logs, loads by alias, moves aliases and writes tags; what a model is lives in models/
and who gets `champion` is decided in training/promotion.py. One invariant is kept here, where aliases
move: a version never holds `champion` and `challenger` at once."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from registry.config import redact_uri

CHAMPION = "champion"
CHALLENGER = "challenger"
SIGNAL_MODEL = "foresight-signal"
REGIME_MODEL = "foresight-regime"
FORECAST_MODEL = "foresight-forecast"


class NoChampionError(LookupError):
    """No version of a registered model holds the alias asked for (nothing trained or promoted yet)."""

    def __init__(self, model_name: str, alias: str = CHAMPION, hint: str = ""):
        self.model_name, self.alias = model_name, alias
        super().__init__(f"no {alias!r} version of {model_name}" + (f": {hint}" if hint else ""))


@dataclass(frozen=True)
class MLflowTarget:
    """Where to log: tracking URI (sqlite by default) and the artifact root for new experiments (None: see
    `compute_artifact_root`)."""

    tracking_uri: str
    artifact_root: Path | None = None
    experiment_prefix: str = "foresight"

    @property
    def display_uri(self) -> str:
        """The tracking URI safe to print: `scheme://user:password@host` -> `scheme://***@host`."""
        return redact_uri(self.tracking_uri)


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
    return None if mv is None else str(mv.version)


def read_run_artifact(run_id: str, artifact_path: str) -> bytes:
    """The bytes of one artifact file of an MLflow run (downloaded to a temporary folder)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=tmp)
        return Path(local).read_bytes()


def set_alias(target: MLflowTarget, model_name: str, version: str, alias: str) -> None:
    """Point `alias` at `version`. The other of champion / challenger is removed from that version, so a
    version never holds both; a new champion is appended to the model's `champion_history` tag."""
    client = configure(target)
    version = str(version)
    previous = version_by_alias(client, model_name, alias)
    client.set_registered_model_alias(model_name, alias, version)
    other = CHALLENGER if alias == CHAMPION else CHAMPION
    held = version_by_alias(client, model_name, other)
    if held is not None and str(held.version) == version:
        client.delete_registered_model_alias(model_name, other)
    if alias == CHAMPION:
        history = champion_history(target, model_name)
        if not history and previous is not None and str(previous.version) != version:
            history.append(str(previous.version))
        if not history or history[-1] != version:
            history.append(version)
        client.set_registered_model_tag(model_name, "champion_history", json.dumps(history[-50:]))


def champion_history(target: MLflowTarget, model_name: str) -> list[str]:
    """Versions that held `champion`, oldest first (the model's `champion_history` tag)."""
    rm = configure(target).get_registered_model(model_name)
    return [str(v) for v in json.loads(rm.tags.get("champion_history", "[]"))]


def set_champion_history(target: MLflowTarget, model_name: str, history: list[str]) -> None:
    configure(target).set_registered_model_tag(model_name, "champion_history", json.dumps(history[-50:]))


def version_tags(target: MLflowTarget, model_name: str, version: str) -> dict[str, str]:
    """The tags of one registered version (MlflowException when it does not exist)."""
    return dict(configure(target).get_model_version(model_name, str(version)).tags)


def latest_version_tags(target: MLflowTarget, model_name: str) -> tuple[str, dict[str, str]] | None:
    """(version, tags) of the newest registered version of `model_name`, or None when it has none."""
    from mlflow.exceptions import MlflowException

    try:
        versions = configure(target).search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return None
    if not versions:
        return None
    newest = max(versions, key=lambda v: int(v.version))
    return str(newest.version), dict(newest.tags)


def set_version_tags(target: MLflowTarget, model_name: str, version: str, tags: dict[str, str],
                     description: str | None = None) -> None:
    """Write `tags` (and the description, when given) on one registered version."""
    client = configure(target)
    for k, v in tags.items():
        client.set_model_version_tag(model_name, str(version), k, v)
    if description is not None:
        client.update_model_version(model_name, str(version), description=description)


def register_version(target: MLflowTarget, model_name: str, model_uri: str, run_id: str,
                     tags: dict[str, str] | None = None, description: str | None = None) -> str:
    """Register `model_uri` as a new version of `model_name` (creating the model with `description`); no
    alias is set here: training/promotion.py decides."""
    from mlflow.exceptions import MlflowException

    client = configure(target)
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description=description)
    # A logged model's URI (`models:/m-...`) names the model by id: a tracking server wants that id spelled
    # out (sqlite stores accept it either way).
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    mv = client.create_model_version(model_name, model_uri, run_id=run_id, tags=tags or {}, model_id=model_id)
    return str(mv.version)
