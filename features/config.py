"""Settings of the feature store and labels."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FeatureSettings(BaseModel):
    """Which feature set is built and how labels are defined."""

    model_config = ConfigDict(frozen=True)

    feature_set: str = "alpha158"
    horizons: tuple[int, ...] = (1, 5, 21)
    entry_lag: int = 1
    """Sessions between the feature date and the entry close (1 = next session's close)."""
