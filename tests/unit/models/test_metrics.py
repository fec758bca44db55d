"""Signal metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.metrics import (
    compute_auc,
    compute_auc_se_by_date,
    compute_auc_se_null,
    compute_brier,
    compute_daily_rank_ic,
    compute_ece,
    compute_log_loss,
    compute_metrics_by_year,
    compute_reliability,
    compute_signal_metrics,
    compute_top_decile_hit_rate,
)


def test_known_values():
    y = np.array([0, 0, 1, 1])
    assert compute_auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert compute_auc(y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert math.isclose(compute_log_loss(y, np.full(4, 0.5)), math.log(2))
    # ECE: bin [0.2,0.267) holds p=0.25 twice with outcomes 0,1 (gap 0.25); bin of 0.9 holds two 1s (gap 0.1)
    p = np.array([0.25, 0.25, 0.9, 0.9])
    assert math.isclose(compute_ece(np.array([0, 1, 1, 1]), p, 15), (2 * 0.25 + 2 * 0.1) / 4)
    # Mann-Whitney null SE for n0 = n1 = 2: sqrt(5 / 48)
    assert math.isclose(compute_auc_se_null(y), math.sqrt(5 / 48))


def test_base_rate_forecast_has_zero_brier_skill_and_calibrated_random_forecast_low_ece():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 40_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(float)
    dates = np.repeat(pd.bdate_range("2020-01-01", periods=400).values, 100)
    m = compute_signal_metrics(dates, y, p, fwd_return=y - 0.5)
    assert m["ece"] < 0.01
    assert m["auc"] > 0.8
    base = compute_signal_metrics(dates, y, np.full_like(p, y.mean()))
    assert abs(base["brier_skill"]) < 1e-12
    assert math.isclose(base["log_loss"], base["log_loss_base_rate"])


def test_rank_ic_and_top_decile():
    dates = np.repeat(["2020-01-01", "2020-01-02"], 20)
    p = np.tile(np.arange(20, dtype=float), 2)
    r = p.copy()
    ic = compute_daily_rank_ic(dates, p, r)
    assert np.allclose(ic.to_numpy(), 1.0)
    assert np.allclose(compute_daily_rank_ic(dates, p, -r).to_numpy(), -1.0)
    y = (p >= 18).astype(float)  # the top two names of each date (= the top decile) are the only positives
    assert compute_top_decile_hit_rate(dates, p, y) == 1.0
    assert compute_top_decile_hit_rate(dates, -p, y) == 0.0


def test_date_clustered_se_exceeds_iid_se_when_dates_move_together():
    # Given labels driven by a shared daily shock and a score that tracks a daily level: rows are not independent
    rng = np.random.default_rng(1)
    n_d, n_s = 120, 30
    shock = np.repeat(rng.standard_normal(n_d), n_s)
    level = np.repeat(rng.standard_normal(n_d), n_s)
    y = (shock + 0.3 * rng.standard_normal(n_d * n_s) > 0).astype(float)
    p = level + 0.1 * rng.standard_normal(n_d * n_s)
    dates = np.repeat(np.arange(n_d), n_s)
    assert compute_auc_se_by_date(dates, y, p) > 3 * compute_auc_se_null(y)


def test_metrics_by_year_split():
    dates = pd.to_datetime(["2020-06-01"] * 10 + ["2021-06-01"] * 10)
    y = np.tile([0, 1], 10).astype(float)
    p = np.tile([0.4, 0.6], 10)
    by = compute_metrics_by_year(dates, y, p)
    assert set(by) == {2020, 2021}
    assert by[2021]["auc"] == 1.0 and by[2020]["n"] == 10


def test_weighted_bootstrap_auc_matches_sklearn_on_the_identity_resample():
    # With every date drawn once the weighted AUC must equal the plain AUC (ties counted half).
    from models import metrics

    rng = np.random.default_rng(3)
    y = (rng.uniform(size=500) < 0.5).astype(float)
    p = np.round(rng.uniform(size=500), 2)  # ties on purpose
    codes = np.arange(500)
    _, tie = np.unique(p, return_inverse=True)
    pos, neg = np.bincount(tie, y), np.bincount(tie, 1 - y)
    auc = np.sum(pos * (np.cumsum(neg) - neg + 0.5 * neg)) / (pos.sum() * neg.sum())
    assert math.isclose(auc, metrics.compute_auc(y, p), rel_tol=1e-12)
    assert 0 < compute_auc_se_by_date(codes, y, p) < 0.05


def test_ece_brier_log_loss_match_hand_computed_values():
    # Given two bins: p=0.2 with outcomes (0, 0, 1, 1) and p=0.9 with outcomes (1, 1)
    p = np.array([0.2, 0.2, 0.2, 0.2, 0.9, 0.9])
    y = np.array([0, 0, 1, 1, 1, 1])
    # Then ECE = 4/6*|0.5-0.2| + 2/6*|1-0.9|
    assert compute_ece(y, p, n_bins=10) == pytest.approx(4 / 6 * 0.3 + 2 / 6 * 0.1)
    assert compute_brier(y, p) == pytest.approx((2 * 0.04 + 2 * 0.64 + 2 * 0.01) / 6)
    expected_ll = -(2 * np.log(0.8) + 2 * np.log(0.2) + 2 * np.log(0.9)) / 6
    assert compute_log_loss(y, p) == pytest.approx(expected_ll)
    curve = compute_reliability(y, p, n_bins=10)
    assert curve["count"].tolist() == [4, 2]
    assert curve["observed_frequency"].tolist() == pytest.approx([0.5, 1.0])


def test_missing_values_are_ignored_and_empty_is_nan():
    p = np.array([0.3, np.nan, 0.6])
    y = np.array([0, 1, np.nan])
    assert compute_brier(y, p) == pytest.approx(0.09)
    assert np.isnan(compute_ece([], []))


def test_signal_metrics_hand_computed():
    # Two dates of three names; scores rank (1, 2, 3) both days, forward returns rank (1, 2, 3) then (1, 3, 2):
    # Spearman 1 and 1 - 6 x 2 / (3 x 8) = 0.5. A third date with one score for everyone has no rank IC.
    dates = np.repeat(pd.to_datetime(["2021-03-01", "2021-03-02", "2021-03-03"]), 3)
    p = np.array([0.1, 0.5, 0.9, 0.2, 0.4, 0.6, 0.5, 0.5, 0.5])
    fwd = np.array([-0.01, 0.0, 0.02, -0.03, 0.01, 0.0, 0.01, -0.01, 0.02])
    y = np.array([0, 0, 1, 0, 1, 0, 1, 0, 0], dtype=float)
    m = compute_signal_metrics(dates, y, p, fwd_return=fwd)
    assert m["n"] == 9 and m["positive_rate"] == pytest.approx(3 / 9)
    assert m["rank_ic_days"] == 2
    assert m["rank_ic_mean"] == pytest.approx(0.75)
    assert m["rank_ic_std"] == pytest.approx(np.std([1.0, 0.5], ddof=1))
    assert m["rank_ic_ir"] == pytest.approx(0.75 / np.std([1.0, 0.5], ddof=1))
    # top decile of three names = the best name of each date: positive on day 1, not on day 2; day 3 ties and
    # takes its first name, positive
    assert m["top_decile_hit_rate"] == pytest.approx(2 / 3)


def test_reliability_bin_bounds():
    curve = compute_reliability(np.array([0, 1, 1]), np.array([0.21, 0.29, 1.0]), n_bins=10)
    assert curve["bin_lower"].tolist() == pytest.approx([0.2, 0.9])
    assert curve["bin_upper"].tolist() == pytest.approx([0.3, 1.0])
    assert curve["mean_probability"].tolist() == pytest.approx([0.25, 1.0])


def test_log_loss_is_finite_at_certain_forecasts():
    # probabilities 0 and 1 are clipped to [1e-7, 1 - 1e-7]: a certain right forecast costs ~1e-7, a certain
    # wrong one -ln(1e-7)
    assert compute_log_loss(np.array([1, 0]), np.array([1.0, 0.0])) == pytest.approx(-np.log1p(-1e-7))
    assert compute_log_loss(np.array([0, 1]), np.array([1.0, 0.0])) == pytest.approx(-np.log(1e-7))
