"""Purged walk-forward validation, tuning, and the signal / regime / forecast trainers."""
