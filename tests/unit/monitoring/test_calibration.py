"""The ECE consistency test on known-calibrated and sharpened data."""

from __future__ import annotations

import numpy as np

from models.metrics import compute_ece
from monitoring.calibration import compute_ece_consistency_pvalue


def test_consistency_test_separates_calibrated_from_sharpened():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.35, 0.65, size=1500)
    y = (rng.random(1500) < p).astype(int)
    # a calibrated window: the p-value is not small, although its ECE is above 0 by sampling noise
    assert compute_ece(y, p) > 0.0
    assert compute_ece_consistency_pvalue(p, y) > 0.05
    # the same outcomes with over-confident probabilities
    sharp = 1 / (1 + np.exp(-4 * np.log(p / (1 - p))))
    assert compute_ece_consistency_pvalue(sharp, y) < 0.01
    assert compute_ece(y, sharp) > compute_ece(y, p) + 0.1
