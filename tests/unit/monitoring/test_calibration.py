"""The ECE consistency test on known-calibrated and sharpened data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.metrics import compute_ece
from monitoring.calibration import compute_ece_consistency_pvalue


def test_consistency_test_separates_calibrated_from_sharpened():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.35, 0.65, size=1500)
    y = (rng.random(1500) < p).astype(int)
    # a calibrated window: the p-value is not small, although its ECE is above 0 by sampling noise
    assert compute_ece(y, p) > 0.0
    assert compute_ece_consistency_pvalue(p, y, 10) > 0.05
    # the same outcomes with over-confident probabilities
    sharp = 1 / (1 + np.exp(-4 * np.log(p / (1 - p))))
    assert compute_ece_consistency_pvalue(sharp, y, 10) < 0.01
    assert compute_ece(y, sharp) > compute_ece(y, p) + 0.1


def test_calibration_slope_and_its_standard_error_hand_computed():
    from monitoring.calibration import compute_calibration_slope

    p = np.array([0.2, 0.4, 0.6, 0.8])
    # One cross-section: x = p - 0.5, d = y - 0.5; slope = sum(xd) / sum(x^2) = 0.2 / 0.2 = 1, residual scores
    # x (d - x) = (0.06, -0.06, -0.06, 0.06), SE = sqrt(4 x 0.06^2) / 0.2 = 0.6
    slope, se = compute_calibration_slope(p, np.array([0, 1, 0, 1]))
    assert (slope, se) == pytest.approx((1.0, 0.6))
    # Three dates of those four probabilities, outcomes (0 1 0 1), (0 0 1 1), (1 0 0 1): sum(xd) = 0.2 + 0.4 + 0
    # over sum(x^2) = 0.6, slope 1; per-date scores (0, 0.2, -0.2), lag-1 product sum -0.04
    dates = np.repeat(pd.bdate_range("2022-01-03", periods=3), 4)
    y = np.array([0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1])
    for lags, var in ((0, 0.08), (1, 0.08 - 2 * (1 / 2) * 0.04), (2, 0.08 - 2 * (2 / 3) * 0.04)):
        slope, se = compute_calibration_slope(np.tile(p, 3), y, dates, hac_lags=lags)
        assert slope == pytest.approx(1.0)
        assert se == pytest.approx(np.sqrt(var) / 0.6), lags


def test_calibration_slope_is_undefined_without_spread_or_rows():
    from monitoring.calibration import compute_calibration_slope

    assert np.isnan(compute_calibration_slope([0.3, 0.6], [0, 1])).all()  # fewer than 3 rows
    # one probability per date: no cross-sectional spread to regress on
    dates = np.repeat(pd.bdate_range("2022-01-03", periods=2), 3)
    assert np.isnan(compute_calibration_slope(np.repeat([0.3, 0.6], 3), [0, 1, 0, 1, 1, 0], dates)).all()



def test_consistency_p_value_known_answers_at_both_ends():
    # A window whose ECE is exactly 0 (one bin, mean probability = hit rate): every redraw is at least as far
    # off, so p = (1 + n) / (1 + n) = 1; over every redraw, whatever the chunking of the draws
    p = np.full(400, 0.5)
    y = np.tile([0, 1], 200)
    assert compute_ece(y, p) == 0.0
    assert compute_ece_consistency_pvalue(p, y, 10, n_resamples=250) == 1.0
    assert compute_ece_consistency_pvalue(p, y, 10, n_resamples=1) == 1.0
    # A window far off (0.9 said, nothing happened): no redraw comes near, p is the smallest the test can
    # give, 1 / (1 + redraws), 1/501 with the default 500 redraws (below the 1% alert threshold)
    far = np.full(400, 0.9)
    none = np.zeros(400)
    assert compute_ece_consistency_pvalue(far, none, 10) == 1 / 501
    assert compute_ece_consistency_pvalue(far, none, 10, n_resamples=99) == 1 / 100


def test_consistency_p_value_is_reproducible():
    rng = np.random.default_rng(11)
    p = rng.uniform(0.3, 0.7, size=300)
    y = (rng.random(300) < p).astype(int)
    first = compute_ece_consistency_pvalue(p, y, 10)
    assert 0.0 < first < 1.0
    assert [compute_ece_consistency_pvalue(p, y, 10) for _ in range(3)] == [first] * 3
