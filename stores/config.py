"""Settings of the document-store adapter (MongoDB, or the local SecantusDB started when no URI is set)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class MongoSettings(BaseModel):
    """MongoDB for the regimes collection; when `uri` is unset a local SecantusDB is started."""

    model_config = ConfigDict(frozen=True)

    uri: SecretStr | None = None
    database: str = "foresight"
    start_timeout_s: float = 20.0
    server_command: str = "secantusd-py"
    """Local MongoDB-wire-protocol server started when `uri` is unset (data under FORESIGHT_HOME/mongo)."""
    server_timeout_ms: int = 5000
    """pymongo server selection / connect timeout: an outage fails a step fast with a clear message."""


__all__ = ["MongoSettings"]
