"""Suspicion flag: real data with AUC > 0.55 or daily rank IC > 0.10 is suspect; the sample is exempt."""

from __future__ import annotations

from training.config import SignalTrainingSettings
from training.signals import compute_suspicion

S = SignalTrainingSettings()


def test_suspicion_fires_on_real_data_only():
    strong = {"auc": 0.58, "rank_ic_mean": 0.05}
    assert compute_suspicion(strong, is_sample_data=False, settings=S) == ["holdout AUC 0.5800 > 0.55"]
    assert compute_suspicion({"auc": 0.52, "rank_ic_mean": 0.12}, is_sample_data=False, settings=S)[0].startswith(
        "daily rank IC")
    assert compute_suspicion(strong, is_sample_data=True, settings=S) == []
    assert compute_suspicion({"auc": 0.53, "rank_ic_mean": 0.03}, is_sample_data=False, settings=S) == []
