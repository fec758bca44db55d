"""Settings of the MLflow adapter: tracking URI, artifact root for new experiments, experiment prefix."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict


def redact_uri(uri: str) -> str:
    """`scheme://user:password@host/...` -> `scheme://***@host/...` (database and server URIs carry secrets)."""
    return re.sub(r"(?<=://)[^/@]+@", "***@", uri)


class MLflowSettings(BaseModel):
    """Where runs and the model registry live (sqlite backend; a bare ./mlruns file store is refused)."""

    model_config = ConfigDict(frozen=True)

    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_root: Path | None = None
    """Unset: `artifacts/` beside the sqlite database of `tracking_uri` (mlruns/artifacts by default), or the
    tracking server's own store (see registry.core.compute_artifact_root)."""
    experiment_prefix: str = "foresight"

    def __repr_args__(self):
        # A tracking URI straight to a database carries its password: reprs and logs show it masked.
        for name, value in super().__repr_args__():
            yield name, (redact_uri(value) if name == "tracking_uri" else value)


__all__ = ["MLflowSettings", "redact_uri"]
