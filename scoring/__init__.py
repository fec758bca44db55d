"""Batch scorers: signals with attribution, filtered regimes, forecasts and their evaluation."""
