"""The calibrator is tested: on synthetic scores with a known calibration curve the fitted calibrator's ECE
stays within the bound its sampling error allows, and the broken calibrator of issue 14's table (over-confident
and shifted) or no calibration at all does not; the choice between Platt and isotonic follows the data and is
made on the calibration slice alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit as _sigmoid
from scipy.special import logit as _logit

from models.metrics import compute_ece
from models.signals import fit_calibrator
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


def test_the_choice_scores_each_method_as_the_mean_of_both_halves():
    from models.metrics import compute_log_loss

    dates = pd.Series(np.repeat(pd.bdate_range("2024-01-01", periods=100), 50))
    raw, y, _, _ = _scores("logistic", 4)
    raw, y = raw[:5000], y[:5000].astype(bool)  # labels given as booleans are read as 0/1
    chosen, scores = compute_calibrator_choice(raw, y, dates, purge=6)
    days = np.sort(dates.unique())
    first, second = dates.isin(days[:44]).to_numpy(), dates.isin(days[50:]).to_numpy()
    yf = y.astype(float)
    for m in ("platt", "isotonic"):
        a = compute_log_loss(yf[second], fit_calibrator(m, raw[first], yf[first]).predict(raw[second]))
        b = compute_log_loss(yf[first], fit_calibrator(m, raw[second], yf[second]).predict(raw[first]))
        assert scores[f"cv_log_loss_{m}"] == pytest.approx((a + b) / 2)
    # one half with a single class, or too few rows in either half: no score, Platt
    one_class = np.where(dates.isin(days[:50]).to_numpy(), 1.0, yf)
    assert compute_calibrator_choice(raw, one_class, dates, purge=6)[0] == "platt"
    assert np.isnan(compute_calibrator_choice(raw, one_class, dates, purge=6)[1]["cv_log_loss_isotonic"])
    # ten rows in each half are enough to score, nine are not
    alt = np.tile([0.0, 1.0], 10)
    ten = pd.Series(np.repeat(pd.bdate_range("2024-01-01", periods=4), 5))
    assert np.isfinite(compute_calibrator_choice(raw[:20], alt, ten, purge=0)[1]["cv_log_loss_platt"])
    nine = pd.Series(np.repeat(pd.bdate_range("2024-01-01", periods=4), [5, 5, 5, 4]))
    assert np.isnan(compute_calibrator_choice(raw[:19], alt[:19], nine, purge=0)[1]["cv_log_loss_platt"])


def test_calibrated_probabilities_are_never_certain():
    from models.signals import Calibrator

    raw = np.array([-50.0, -20.0, 0.0, 20.0, 50.0])
    iso = Calibrator("isotonic", x_thresholds=np.array([-1.0, 1.0]), y_thresholds=np.array([0.0, 1.0]))
    for cal in (Calibrator("platt", a=2.0, b=0.5), iso, Calibrator("identity")):
        p = cal.predict(raw)
        assert p.min() == pytest.approx(1e-6, rel=1e-9) and p.max() == pytest.approx(1 - 1e-6, rel=1e-12), cal.method
    assert Calibrator("platt", a=2.0, b=0.5).predict(np.array([0.0]))[0] == pytest.approx(_sigmoid(0.5))
