"""Sharpe, PSR, drawdown and break-even cost against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from backtest.metrics import (
    compute_break_even_bps,
    compute_psr,
    compute_sharpe,
    compute_sharpe_delta_ci,
)
from models.risk import compute_drawdown


def test_sharpe_matches_the_definition():
    r = np.array([0.01, -0.005, 0.002, 0.007, -0.001])
    assert compute_sharpe(r, 252) == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert np.isnan(compute_sharpe(np.zeros(10)))


def test_psr_matches_the_closed_form():
    r = np.random.default_rng(0).normal(0.001, 0.01, 500)
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = stats.skew(r), stats.kurtosis(r, fisher=False)
    expected = stats.norm.cdf(sr * np.sqrt(499) / np.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert compute_psr(r) == pytest.approx(expected)
    # Against its own Sharpe as benchmark the probability is one half.
    assert compute_psr(r, benchmark_sr=sr) == pytest.approx(0.5)


def test_drawdown_depth_and_duration():
    # up 10%, down to 0.88 (-20% from peak 1.1), back to 1.1 two sessions later, then up.
    r = np.array([0.10, -0.20, 0.125, 1.1 / 0.99 - 1, 0.01])
    dd, spell = compute_drawdown(r)
    assert dd == pytest.approx(0.2)
    assert spell == 2  # underwater after sessions 2 and 3, back at the peak on session 4


def test_break_even_cost_brings_the_sharpe_down_to_the_target():
    rng = np.random.default_rng(1)
    gross = rng.normal(0.001, 0.01, 1000)
    turnover = np.full(1000, 0.5)
    bps = compute_break_even_bps(gross, turnover, 0.0)
    # Constant turnover: net mean hits zero at mean(gross) / 0.5.
    assert bps == pytest.approx(gross.mean() / 0.5 * 1e4, rel=1e-3)
    assert compute_break_even_bps(-np.abs(gross), turnover, 0.0) == 0.0


def test_bootstrap_ci_of_a_sharpe_delta():
    rng = np.random.default_rng(2)
    base = rng.normal(0.0003, 0.01, 1500)
    same = base + rng.normal(0, 0.001, 1500)
    lo, hi = compute_sharpe_delta_ci(same, base, reps=200, seed=0)
    assert lo < 0 < hi
    better = base + 0.002 + rng.normal(0, 0.002, 1500)
    lo, hi = compute_sharpe_delta_ci(better, base, reps=200, seed=0)
    assert lo > 0
