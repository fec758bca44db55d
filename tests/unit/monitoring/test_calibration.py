"""Calibration scores against hand-computed numbers and known-calibrated data."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.calibration import (
    compute_brier,
    compute_ece,
    compute_ece_consistency_pvalue,
    compute_log_loss,
    compute_reliability_curve,
)


def test_ece_brier_log_loss_match_hand_computed_values():
    # Given two bins: p=0.2 with outcomes (0, 0, 1, 1) and p=0.9 with outcomes (1, 1)
    p = np.array([0.2, 0.2, 0.2, 0.2, 0.9, 0.9])
    y = np.array([0, 0, 1, 1, 1, 1])
    # Then ECE = 4/6*|0.5-0.2| + 2/6*|1-0.9|
    assert compute_ece(p, y, n_bins=10) == pytest.approx(4 / 6 * 0.3 + 2 / 6 * 0.1)
    assert compute_brier(p, y) == pytest.approx((2 * 0.04 + 2 * 0.64 + 2 * 0.01) / 6)
    expected_ll = -(2 * np.log(0.8) + 2 * np.log(0.2) + 2 * np.log(0.9)) / 6
    assert compute_log_loss(p, y) == pytest.approx(expected_ll)
    curve = compute_reliability_curve(p, y, n_bins=10)
    assert curve["count"].tolist() == [4, 2]
    assert curve["observed_frequency"].tolist() == pytest.approx([0.5, 1.0])


def test_missing_values_are_ignored_and_empty_is_nan():
    p = np.array([0.3, np.nan, 0.6])
    y = np.array([0, 1, np.nan])
    assert compute_brier(p, y) == pytest.approx(0.09)
    assert np.isnan(compute_ece([], []))


def test_consistency_test_separates_calibrated_from_sharpened():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.35, 0.65, size=1500)
    y = (rng.random(1500) < p).astype(int)
    # a calibrated window: the p-value is not small, although its ECE is above 0 by sampling noise
    assert compute_ece(p, y) > 0.0
    assert compute_ece_consistency_pvalue(p, y) > 0.05
    # the same outcomes with over-confident probabilities
    sharp = 1 / (1 + np.exp(-4 * np.log(p / (1 - p))))
    assert compute_ece_consistency_pvalue(sharp, y) < 0.01
    assert compute_ece(sharp, y) > compute_ece(p, y) + 0.1
