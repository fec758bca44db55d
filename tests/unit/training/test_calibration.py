"""The calibrator is tested: on synthetic scores with a known calibration curve the fitted calibrator's ECE
stays within the bound its sampling error allows, and the broken calibrator of issue 14's table (over-confident
and shifted) or no calibration at all does not; the choice between Platt and isotonic follows the data and is
made on the calibration slice alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.metrics import compute_ece
from models.signals import _logit, _sigmoid, fit_calibrator
from monitoring.calibration import compute_ece_consistency_pvalue
from training.signals import compute_calibrator_choice

N = 20_000


def _scores(shape: str, seed: int):
    """Raw scores of a booster and outcomes whose true probability is a known function of the score."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0.0, 0.6, 2 * N)
    true = _sigmoid(0.7 * raw - 0.15) if shape == "logistic" else np.clip(0.5 + 0.35 * np.tanh(3 * raw) ** 3, 0, 1)
    y = (rng.random(2 * N) < true).astype(float)
    return raw[:N], y[:N], raw[N:], y[N:]


def within_sampling_bound(y, p) -> bool:
    """ECE no larger than 99% of the ECEs of outcomes drawn from the probabilities themselves."""
    return compute_ece_consistency_pvalue(p, y, n_bins=15, n_resamples=400, seed=1) >= 0.01


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_fitted_calibrator_is_within_its_sampling_bound_and_a_broken_one_is_not(method):
    raw_cal, y_cal, raw_hold, y_hold = _scores("logistic", 0)
    p = fit_calibrator(method, raw_cal, y_cal).predict(raw_hold)
    assert within_sampling_bound(y_hold, p), compute_ece(y_hold, p)
    # The table's broken calibrator: its output replaced by an over-confident, shifted probability
    broken = _sigmoid(2.0 * _logit(p) + 0.3)
    assert not within_sampling_bound(y_hold, broken) and compute_ece(y_hold, broken) > 3 * compute_ece(y_hold, p)
    # And the raw score as a probability (no calibration) is out of bounds too: calibration does something
    assert not within_sampling_bound(y_hold, _sigmoid(raw_hold))


def test_the_choice_follows_the_shape_of_the_calibration_curve():
    dates = pd.Series(np.repeat(pd.bdate_range("2024-01-01", periods=400), N // 400))
    raw, y, _, _ = _scores("logistic", 1)
    chosen, scores = compute_calibrator_choice(raw, y, dates, purge=6)
    assert chosen == "platt" and scores["cv_log_loss_platt"] <= scores["cv_log_loss_isotonic"]
    raw, y, raw_hold, y_hold = _scores("steps", 2)
    chosen, scores = compute_calibrator_choice(raw, y, dates, purge=6)
    assert chosen == "isotonic" and scores["cv_log_loss_isotonic"] < scores["cv_log_loss_platt"]
    iso, platt = (fit_calibrator(m, raw, y).predict(raw_hold) for m in ("isotonic", "platt"))
    assert compute_ece(y_hold, iso) < compute_ece(y_hold, platt) and not within_sampling_bound(y_hold, platt)


def test_the_choice_sees_only_the_calibration_rows_it_is_given_and_keeps_the_halves_apart():
    dates = pd.Series(np.repeat(pd.bdate_range("2024-01-01", periods=100), 50))
    raw, y, _, _ = _scores("logistic", 3)
    raw, y = raw[:5000], y[:5000]
    chosen, scores = compute_calibrator_choice(raw, y, dates, purge=6)
    # Changing the outcomes of the `purge` dates just before the second half changes nothing: they are left out
    gap = dates.isin(sorted(dates.unique())[44:50]).to_numpy()
    again = compute_calibrator_choice(raw, np.where(gap, 1 - y, y), dates, purge=6)
    assert again == (chosen, scores)
    # Too few rows to split: Platt, the smaller model
    assert compute_calibrator_choice(raw[:30], y[:30], dates[:30], purge=6)[0] == "platt"
