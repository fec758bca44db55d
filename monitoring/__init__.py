"""Evidently data-drift and calibration-drift reports, thresholds and alerts."""
