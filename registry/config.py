"""Settings of the MLflow adapter: tracking URI, artifact root for new experiments, experiment prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class MLflowSettings(BaseModel):
    """Where runs and the model registry live (sqlite backend; a bare ./mlruns file store is refused)."""

    model_config = ConfigDict(frozen=True)

    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_root: Path | None = None
    """Unset: `artifacts/` beside the sqlite database of `tracking_uri` (mlruns/artifacts by default), or the
    tracking server's own store (see registry.core.compute_artifact_root)."""
    experiment_prefix: str = "foresight"


__all__ = ["MLflowSettings"]
