"""Settings of the batch scorers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ScoringSettings(BaseModel):
    """Nightly scoring: attribution size, minimum history."""

    model_config = ConfigDict(frozen=True)

    top_k_attribution: int = 5
    min_history_sessions: int = 60
