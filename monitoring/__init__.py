"""Evidently data-drift and calibration-drift reports, thresholds and alerts."""

from monitoring.config import MonitoringSettings

__all__ = ["MonitoringSettings"]
