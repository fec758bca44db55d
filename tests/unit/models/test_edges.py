"""The statistical core at its edges, each against a value worked out by hand: empty and one-class inputs,
the boundaries of strict comparisons, parameters that must be passed on (annualization, block length)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest.metrics import compute_break_even_bps, compute_psr, compute_sharpe
from models.forecasts import ForecastSettings, _coverage, conformal_window
from models.metrics import (
    compute_auc,
    compute_auc_se_by_date,
    compute_auc_se_null,
    compute_log_loss_gain_by_date,
    compute_mean_hac,
    mean_pinball,
    pinball_loss,
)


def test_sharpe_psr_and_break_even_edges():
    assert math.isnan(compute_sharpe([0.01])) and math.isnan(compute_sharpe([0.01, 0.01, 0.01]))
    assert compute_sharpe([0.01, 0.03], annualization=4) == pytest.approx(0.02 / np.std([0.01, 0.03], ddof=1) * 2)
    assert math.isnan(compute_psr([0.01, 0.02])) and math.isnan(compute_psr([0.01] * 5))
    r = np.random.default_rng(0).normal(0.001, 0.01, 300)
    assert 0.0 < compute_psr(r) < 1.0
    gross, turnover = [0.002, 0.0, 0.004, 0.001, 0.003], [1, 1, 1, 1, 1]
    # Weekly data: the break-even cost brings the weekly-annualised Sharpe to the target
    bps = compute_break_even_bps(gross, turnover, 1.0, annualization=52)
    assert compute_sharpe(np.array(gross) - bps / 1e4, 52) == pytest.approx(1.0, abs=1e-3)
    assert compute_break_even_bps(gross, turnover, float("nan")) != compute_break_even_bps(gross, turnover, 1.0)
    assert math.isnan(compute_break_even_bps(gross, turnover, float("nan")))
    assert math.isnan(compute_break_even_bps([0.01], [1], 0.0))
    # Already at the target at zero cost: 0; never down to it within max_bps: NaN
    at = compute_sharpe(gross, 252)
    assert compute_break_even_bps(gross, turnover, at) == 0.0
    assert math.isnan(compute_break_even_bps(gross, [0.0] * 5, 0.0))
    assert math.isnan(compute_break_even_bps(gross, turnover, -100.0, max_bps=1.0))


def test_coverage_of_a_band_counts_strictly_outside_and_drops_incomplete_rows():
    q = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, np.nan, 1.0], [-1.0, 0.0, 1.0]])
    y = np.array([-1.0, 1.0, 0.5, 9.0, -2.0])
    # on the band's edges counts as inside; the row with a missing quantile is left out
    assert _coverage(y, q, (0.05, 0.5, 0.95)) == (0.75, 0.25, 0.0)
    # levels without 0.05 / 0.95: the outermost quantiles are the band
    assert _coverage(np.array([0.0, 5.0]), np.array([[-1.0, 0.0, 1.0, 2.0]] * 2), (0.1, 0.2, 0.5, 0.9)) == (0.5, 0.0, 0.5)
    # 0.05 and 0.95 inside a wider set: those two are the band
    wide = np.array([[-3.0, -1.0, 0.0, 1.0, 3.0]] * 3)
    assert _coverage(np.array([-2.0, 2.0, 0.0]), wide, (0.01, 0.05, 0.5, 0.95, 0.99)) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    nan3 = _coverage(np.array([np.nan]), np.array([[0.0, 1.0, 2.0]]), (0.05, 0.5, 0.95))
    assert all(math.isnan(v) for v in nan3)


def test_pinball_and_conformal_window_known_values():
    np.testing.assert_allclose(pinball_loss(np.array([1.0, -1.0]), np.array([0.0, 0.0]), 0.9), [0.9, 0.1])
    np.testing.assert_allclose(pinball_loss(np.array([-2.0]), np.array([0.0]), 0.25), [1.5])
    q = np.array([[0.0, 1.0], [0.0, 1.0]])
    # y = 2: 0.1 x 2 and 0.9 x 1; y = -1: 0.9 x 1 and 0.1 x 2
    assert mean_pinball(np.array([2.0, -1.0]), q, (0.1, 0.9)) == pytest.approx(0.55)
    cfg = ForecastSettings(conformal_window=100, conformal_blocks=30)
    assert conformal_window(cfg, 1) == 100 and conformal_window(cfg, 5) == 150


def test_auc_standard_errors_and_the_daily_log_loss_gain_at_their_edges():
    assert math.isnan(compute_auc_se_null(np.ones(10))) and math.isnan(compute_auc_se_null(np.zeros(10)))
    rng = np.random.default_rng(1)
    dates = np.repeat(np.arange(30), 20)
    y = rng.integers(0, 2, 600).astype(float)
    p = rng.random(600)
    # blocks as long as the whole sample: every resample is the sample itself
    assert compute_auc_se_by_date(dates, y, p, n_boot=20, block=30) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(compute_auc_se_by_date(dates, y, p, n_boot=3))
    assert math.isnan(compute_auc_se_by_date(dates, y, p, n_boot=2))
    assert math.isnan(compute_auc_se_by_date([], [], []))
    assert compute_auc(y, p) == pytest.approx(compute_auc(y, p))
    # gain over a constant of 0 (clipped to EPS, not -inf) and a hand-computed gain
    g, se = compute_log_loss_gain_by_date(dates, y, p, 0.0, 0)
    assert np.isfinite(g) and np.isfinite(se) and g > 5
    one = compute_log_loss_gain_by_date(np.array([0, 0, 1, 1, 2, 2]), np.array([1.0, 0, 1, 0, 1, 0]),
                                        np.array([0.8, 0.3, 0.6, 0.4, 0.5, 0.5]), 0.5, 0)
    by_day = [(math.log(0.8) + math.log(0.7)) / 2, (math.log(0.6) + math.log(0.6)) / 2, math.log(0.5)]
    gains = np.array(by_day) - math.log(0.5)
    assert one == pytest.approx(compute_mean_hac(gains, 0))
