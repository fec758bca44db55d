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


def test_sharpe_delta_ci_of_rotations_is_the_sample_delta():
    # A mean block far longer than the series: every replicate is one block, a rotation of the paired series,
    # whose Sharpe ratios are those of the sample. The interval collapses onto the sample Sharpe difference.
    rng = np.random.default_rng(3)
    base = rng.normal(0.0005, 0.01, 60)
    strat = 0.5 * base + rng.normal(0.001, 0.008, 60)
    lo, hi = compute_sharpe_delta_ci(strat, base, reps=50, block=10**9, seed=1)
    delta = compute_sharpe(strat) - compute_sharpe(base)
    assert lo == pytest.approx(delta, rel=1e-9) and hi == pytest.approx(delta, rel=1e-9)


def test_sharpe_delta_ci_is_reproducible_and_needs_ten_pairs():
    from backtest.config import BacktestSettings

    rng = np.random.default_rng(4)
    base = rng.normal(0.0005, 0.01, 300)
    strat = base + rng.normal(0.0005, 0.004, 300)
    # seeded: the same interval on every call; the defaults are those of the backtest report
    cfg = BacktestSettings()
    first = compute_sharpe_delta_ci(strat, base, seed=cfg.seed)
    assert first == compute_sharpe_delta_ci(strat, base, seed=cfg.seed)
    assert first == compute_sharpe_delta_ci(strat, base, cfg.bootstrap_reps, cfg.bootstrap_block, cfg.confidence,
                                            cfg.annualization, cfg.seed)
    # fewer than 10 finite pairs: no interval
    short = np.r_[strat[:9], np.nan]
    assert all(np.isnan(compute_sharpe_delta_ci(short, base[:10])))
    assert all(np.isfinite(compute_sharpe_delta_ci(strat[:10], base[:10])))


def test_break_even_cost_is_exact_to_a_hundredth_of_a_bp():
    # Constant turnover 0.5 and a zero target: the net mean is zero at exactly mean(gross) / 0.5 (in bps)
    gross = np.random.default_rng(1).normal(0.001, 0.01, 250)
    bps = compute_break_even_bps(gross, np.full(250, 0.5), 0.0)
    assert abs(bps - gross.mean() / 0.5 * 1e4) < 1e-2
