"""The Sharpe-delta CI covers the truth: paired, autocorrelated return streams with a known Sharpe difference,
400 replications; the interval must cover the true difference in 0.92-0.98 of them (measured: 0.9275; the
percentile stationary bootstrap runs a point or two under nominal at 1,000 sessions). Each broken variant of
the issue's table (IID resampling, unpaired resampling, a fixed +-1 band) falls outside that range."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from backtest.metrics import compute_sharpe, compute_sharpe_delta_ci, compute_stationary_bootstrap_indices

N, REPLICATIONS, REPS, PHI = 1000, 400, 300, 0.2
SR_BASELINE, SR_STRATEGY = 0.5, 1.0


def _ar1(rng: np.random.Generator, sd: float) -> np.ndarray:
    return lfilter([1.0], [1.0, -PHI], rng.normal(0.0, sd, N + 200))[200:]


def paired_streams(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A baseline (the market: AR(1) with phi 0.2) and a strategy that holds 0.9 of it plus its own AR(1)
    return, with means set so that the true annualised Sharpe ratios are exactly 0.5 and 1.0."""
    rng = np.random.default_rng(seed)
    m, w = _ar1(rng, 0.01), _ar1(rng, 0.003)
    sd_b = 0.01 / np.sqrt(1 - PHI**2)
    sd_s = np.sqrt(0.81 * sd_b**2 + (0.003 / np.sqrt(1 - PHI**2)) ** 2)
    return SR_STRATEGY / np.sqrt(252) * sd_s + 0.9 * m + w, SR_BASELINE / np.sqrt(252) * sd_b + m


STREAMS = [paired_streams(1000 + k) for k in range(REPLICATIONS)]
TRUTH = SR_STRATEGY - SR_BASELINE


def coverage(ci, replications: int = REPLICATIONS) -> float:
    """Share of the replications whose interval `ci(strategy, baseline, seed)` holds the true difference."""
    hits = [lo <= TRUTH <= hi for k, (s, b) in enumerate(STREAMS[:replications]) for lo, hi in [ci(s, b, k)]]
    return float(np.mean(hits))


def _sharpe_rows(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) / x.std(axis=1, ddof=1) * np.sqrt(252)


def _unpaired(s, b, seed):
    """The table's mutant: strategy and baseline resampled with independent indices."""
    rng = np.random.default_rng(seed)
    i, j = (compute_stationary_bootstrap_indices(N, REPS, 10, rng) for _ in range(2))
    return tuple(np.quantile(_sharpe_rows(s[i]) - _sharpe_rows(b[j]), [0.025, 0.975]))


def test_the_95_percent_interval_covers_the_true_sharpe_difference():
    got = coverage(lambda s, b, k: compute_sharpe_delta_ci(s, b, reps=REPS, seed=k))
    assert 0.92 <= got <= 0.98, got


@pytest.mark.parametrize("name,ci,outside,replications", [
    ("iid resampling", lambda s, b, k: compute_sharpe_delta_ci(s, b, reps=REPS, block=1, seed=k), "below", REPLICATIONS),
    ("unpaired resampling", _unpaired, "above", 200),
    ("fixed +-1 band", lambda s, b, k: (compute_sharpe(s) - compute_sharpe(b) - 1, compute_sharpe(s) - compute_sharpe(b) + 1),
     "above", 200),
])
def test_each_broken_interval_falls_outside_the_coverage_range(name, ci, outside, replications):
    # IID ignores the autocorrelation (too narrow), unpaired ignores the streams' correlation (too wide),
    # a fixed band ignores the sample size: the coverage check above would fail for each
    got = coverage(ci, replications)
    assert (got < 0.92) if outside == "below" else (got > 0.98), (name, got)


def test_indices_follow_the_stationary_bootstrap():
    # Blocks start with probability 1/block at a uniform row, continue otherwise, and wrap at the end
    idx = compute_stationary_bootstrap_indices(500, 400, 10, np.random.default_rng(0))
    assert idx.shape == (400, 500) and idx.min() >= 0 and idx.max() <= 499
    step = np.diff(idx, axis=1)
    continued = (step == 1) | (step == -499)
    assert abs(1 - continued.mean() - 1 / 10) < 0.005
    # every row is drawn about equally often (uniform starts, wrap-around keeps the ends in)
    counts = np.bincount(idx.ravel(), minlength=500) / idx.size
    assert counts.min() > 0.7 / 500 and counts.max() < 1.3 / 500
    assert (np.diff(compute_stationary_bootstrap_indices(50, 3, 1, np.random.default_rng(1)), axis=1) != 1).any()
