"""Backtests over precomputed signals."""
