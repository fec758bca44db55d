"""The regime model's skill floor on known answers: on the sample's planted regimes the fitted model beats the
volatility rule by the required SE on the holdout; on the random walk (one regime) it does not."""

from __future__ import annotations

import numpy as np
import pytest

from marketdata.config import SampleSettings
from marketdata.sample import compute_sample_market, random_walk_settings
from models.regimes import compute_market_series, compute_stationary, compute_vol_rule_log_density
from training.config import RegimeSettings
from training.regimes import _fit, compute_evaluation

CFG = RegimeSettings(n_states=3, models=("hmm",), n_starts=3)


def _skill(sample: SampleSettings):
    series = compute_market_series(compute_sample_market(sample).bars).dropna(subset=["ret"]).reset_index(drop=True)
    split = int(round(len(series) * (1 - CFG.holdout_fraction)))
    params, _ = _fit(series.iloc[:split], CFG, CFG.n_states, None)
    return compute_evaluation(series, split, params, CFG, None).skill


def test_planted_regimes_beat_the_volatility_rule_and_a_random_walk_does_not():
    planted = _skill(SampleSettings(n_symbols=20, n_years=10))
    assert planted.passes(CFG.skill_z) and planted.gain > 0 and planted.sessions > 450
    flat = _skill(random_walk_settings(SampleSettings(n_symbols=20, n_years=10)))
    assert not flat.passes(CFG.skill_z) and abs(flat.gain) < 0.01


def test_the_volatility_rule_density_is_causal_and_fit_on_the_training_rows():
    rng = np.random.default_rng(1)
    r = np.concatenate([rng.normal(0, 0.01, 400), rng.normal(0, 0.03, 200)])
    rvol = np.array([r[max(0, t - 20):t + 1].std(ddof=1) if t > 4 else np.nan for t in range(len(r))])
    dens = compute_vol_rule_log_density(r, rvol, 500, np.array([0.7, 0.3]))
    # Day t's density uses the volatility up to t - 1: changing r_t moves only day t's own density
    r2 = r.copy()
    r2[550] += 0.05
    rvol2 = np.array([r2[max(0, t - 20):t + 1].std(ddof=1) if t > 4 else np.nan for t in range(len(r2))])
    dens2 = compute_vol_rule_log_density(r2, rvol2, 500, np.array([0.7, 0.3]))
    np.testing.assert_array_equal(dens[:550], dens2[:550])
    assert dens[550] != dens2[550]
    # ... and the thresholds and state parameters come from the rows before the split only
    r3 = r.copy()
    r3[520:] *= 3
    rvol3 = rvol.copy()
    rvol3[520:] *= 3
    dens3 = compute_vol_rule_log_density(r3, rvol3, 500, np.array([0.7, 0.3]))
    np.testing.assert_array_equal(dens[:520], dens3[:520])
    # a Gaussian log-density of the state's training returns
    assert np.nanmax(dens) < -np.log(0.005 * np.sqrt(2 * np.pi)) and np.isnan(dens[0])
    assert compute_stationary(np.array([[0.9, 0.1], [0.2, 0.8]])) == pytest.approx([2 / 3, 1 / 3])
