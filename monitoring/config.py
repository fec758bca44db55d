"""Thresholds of the drift and calibration monitors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MonitoringSettings(BaseModel):
    """Windows and thresholds that turn a report into OK / WARN / ALERT."""

    model_config = ConfigDict(frozen=True)

    current_window_sessions: int = 21
    drift_share_warn: float = 0.3
    drift_share_alert: float = 0.5
    ece_warn: float = 0.05
    ece_alert: float = 0.10
    coverage_warn: float = 0.05
    """Absolute distance of band coverage from 0.90 that warns."""
    coverage_alert: float = 0.10
