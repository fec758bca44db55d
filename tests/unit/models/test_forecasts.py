"""Forecast math: quantile rearrangement, targets' timing, rolling conformal calibration, candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from marketdata.sample import compute_garch_t5_returns
from models.forecasts import (
    LEARNED,
    ForecastSettings,
    compute_bootstrap_quantiles,
    compute_forecast_features,
    compute_gaussian_quantiles,
    compute_log_targets,
    compute_portfolio_returns,
    compute_rolling_conformal,
    fit_quantile_boosters,
    predict_quantile_boosters,
    rearrange_quantiles,
    train_forecast_models,
)
from models.metrics import compute_pit, pinball_loss

LEVELS = (0.05, 0.5, 0.95)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(2, 5)),
              elements=st.floats(-1e3, 1e3, allow_nan=False)))
def test_rearranged_quantiles_never_cross(q):
    out = rearrange_quantiles(q)
    assert np.all(np.diff(out, axis=1) >= 0)
    # a rearrangement only reorders each row
    assert np.allclose(np.sort(q, axis=1), out)


def test_conformal_output_never_crosses_even_from_crossing_raw_quantiles():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(400, 3))  # columns in random order: crossing everywhere
    y = rng.normal(size=400)
    out = compute_rolling_conformal(raw, y, 1, LEVELS, 100, 30)
    ok = np.all(np.isfinite(out), axis=1)
    assert ok.sum() > 300
    assert np.all(np.diff(out[ok], axis=1) >= 0)


def test_pinball_known_values():
    assert pinball_loss(np.array([1.0]), np.array([0.0]), 0.9)[0] == pytest.approx(0.9)
    assert pinball_loss(np.array([0.0]), np.array([1.0]), 0.9)[0] == pytest.approx(0.1)
    assert pinball_loss(np.array([2.0]), np.array([2.0]), 0.05)[0] == 0.0


def test_pit_interpolates_between_quantiles():
    qs = np.array([[90.0, 100.0, 110.0]])
    assert compute_pit(np.array([100.0]), qs, LEVELS)[0] == pytest.approx(0.5)
    assert compute_pit(np.array([105.0]), qs, LEVELS)[0] == pytest.approx(0.725)
    assert compute_pit(np.array([300.0]), qs, LEVELS)[0] == 1.0


def test_log_target_spans_the_h_sessions_after_the_origin():
    r = pd.Series([0.01, -0.02, 0.03, 0.0, 0.05], index=pd.bdate_range("2024-01-01", periods=5))
    y = compute_log_targets(r, 2).to_numpy()
    lr = np.log1p(r.to_numpy())
    assert y[0] == pytest.approx(lr[1] + lr[2])
    assert y[2] == pytest.approx(lr[3] + lr[4])
    assert np.isnan(y[3]) and np.isnan(y[4])


def test_features_are_point_in_time():
    # Computing on data cut at t gives the same rows up to t as computing on the full data.
    r = compute_garch_t5_returns(600, 4)
    full = compute_forecast_features(r)
    cut = compute_forecast_features(r.iloc[:400])
    pd.testing.assert_frame_equal(full.iloc[:400], cut)


def test_extra_columns_join_by_date():
    r = compute_garch_t5_returns(300, 5)
    extra = pd.DataFrame({"p_bear": np.linspace(0, 1, 300)}, index=r.index)
    f = compute_forecast_features(r, extra)
    assert f["p_bear"].iloc[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="clash"):
        compute_forecast_features(r, pd.DataFrame({"vol_5": 1.0}, index=r.index))


def test_portfolio_returns_renormalise_missing_symbols():
    dates = pd.bdate_range("2024-01-01", periods=3).date
    bars = pd.DataFrame({
        "symbol": ["A"] * 3 + ["B"] * 2,
        "date": list(dates) + list(dates[1:]),
        "adj_close": [100.0, 110.0, 99.0, 50.0, 55.0],
    })
    r = compute_portfolio_returns(bars)
    # day 2: only A has a return (B listed that day); day 3: mean of -10% and +10%
    assert r.iloc[0] == pytest.approx(0.10)
    assert r.iloc[1] == pytest.approx(0.0)


def _coverage(y, q):
    return float(np.mean((y >= q[:, 0]) & (y <= q[:, -1]))), float(np.mean(y < q[:, 0])), float(np.mean(y > q[:, -1]))


def test_rolling_conformal_calibrates_the_90pct_band_on_garch_t5_at_h1():
    # Given GARCH(1,1) returns with t(5) shocks (fat tails + volatility clustering),
    # when LightGBM quantile models are fitted on the first 2000 origins and the rolling causal CQR
    # (250 most recent matured scores) calibrates every later origin,
    # then the 90% band covers within [0.88, 0.92] over 5000 out-of-sample origins.
    cfg = ForecastSettings(lgbm_rounds=150)
    r = compute_garch_t5_returns(8000, seed=20241124)
    feats = compute_forecast_features(r)
    scale = feats["vol_ewma"].to_numpy()
    y = compute_log_targets(r, 1).to_numpy()
    z = y / scale
    ok = np.isfinite(z) & feats["vol_63"].notna().to_numpy()
    train = np.flatnonzero(ok)[:2000]
    boosters = fit_quantile_boosters(feats.iloc[train], z[train], LEVELS, cfg)
    raw = predict_quantile_boosters(boosters, feats)
    cal_start = train[-1] + 2  # purge H=1
    target = np.where(np.arange(len(z)) >= cal_start, z, np.nan)
    cal = compute_rolling_conformal(raw, target, 1, LEVELS, 250, 50, start=cal_start + 250)
    test = np.arange(len(z) - 5000 - 1, len(z) - 1)
    q = cal[test] * scale[test, None]
    cov, lo, hi = _coverage(y[test], q)
    print(f"GARCH-t5 H=1 conformal: coverage {cov:.4f}, lower {lo:.4f}, upper {hi:.4f}")
    assert 0.88 <= cov <= 0.92, cov
    assert 0.035 <= lo <= 0.065 and 0.035 <= hi <= 0.065, (lo, hi)

    # The conformal step does the work: a deliberately too-narrow base (+-1 standardised unit, raw
    # coverage ~0.68) is brought back to the nominal band by the same calibration.
    narrow = np.tile(np.array([-1.0, 0.0, 1.0]), (len(z), 1))
    raw_cov = _coverage(y[test], narrow[test] * scale[test, None])[0]
    assert raw_cov < 0.8
    cal2 = compute_rolling_conformal(narrow, target, 1, LEVELS, 250, 50, start=cal_start + 250)
    cov2 = _coverage(y[test], cal2[test] * scale[test, None])[0]
    assert 0.88 <= cov2 <= 0.92, cov2


def test_conformal_uses_only_matured_scores():
    # A score of origin s (target spans s+1..s+H) may be used at origin t only when s + H <= t.
    n, h = 60, 5
    raw = np.zeros((n, 3))
    y = np.zeros(n)
    y[40:] = 100.0  # a huge shift in late targets
    out = compute_rolling_conformal(raw, y, h, LEVELS, 10, 10)
    # origin 44: the 10 matured scores are s = 30..39, none of them shifted
    assert np.allclose(out[44], 0.0)
    # origin 45: s = 31..40; the score of s=40 has matured and moves the upper quantile (rank 10 of 10)
    assert out[45, 2] == pytest.approx(100.0)


def test_baselines_on_iid_gaussian_returns_match_the_truth():
    rng = np.random.default_rng(9)
    r = pd.Series(rng.normal(0, 0.01, 800), index=pd.bdate_range("2020-01-01", periods=800))
    cfg = ForecastSettings(bootstrap_reps=400)
    true95 = 1.6449 * 0.01 * np.sqrt(21)
    g = compute_gaussian_quantiles(r, 21, LEVELS, 63)
    assert g[-1, 2] == pytest.approx(true95, rel=0.2)
    pos = np.array([700, 799])
    b1 = compute_bootstrap_quantiles(r, (21,), LEVELS, pos, cfg)[21]
    b2 = compute_bootstrap_quantiles(r, (21,), LEVELS, pos, cfg)[21]
    assert np.array_equal(b1, b2)  # seeded by (seed, date): re-runs identical
    assert b1[-1, 2] == pytest.approx(true95, rel=0.2)
    assert b1[-1, 0] == pytest.approx(-true95, rel=0.2)


def test_champion_is_the_lowest_pinball_and_a_baseline_when_learning_does_not_win():
    r = compute_garch_t5_returns(1200, seed=2)
    cfg = ForecastSettings(horizons=(5,), bootstrap_reps=100, calibration_sessions=150, conformal_window=150,
                           lgbm_rounds=60)
    res = train_forecast_models(r, cfg)
    assert set(res.bundle.horizons) == {1, 5}
    for h, hm in res.bundle.horizons.items():
        assert hm.champion == min(hm.holdout_pinball, key=hm.holdout_pinball.get)
        if hm.champion != LEARNED:
            assert "does not beat both baselines" in hm.note and hm.champion in hm.note
        frame = res.holdout[h]
        for m in ("lightgbm_cqr", "bootstrap", "gaussian"):
            cols = [c for c in frame.columns if c.startswith(f"{m}_q")]
            q = frame.loc[frame["common"], cols].to_numpy()
            assert np.all(np.diff(q, axis=1) >= 0)  # never crossing
    assert res.bundle.horizons[1].quantiles == (0.01, 0.05, 0.5, 0.95, 0.99)


def test_scoring_falls_back_to_the_next_candidate_where_the_champion_cannot_forecast():
    from models.forecasts import compute_forecast_quantiles

    r = compute_garch_t5_returns(1200, seed=2)
    cfg = ForecastSettings(horizons=(5,), bootstrap_reps=100, calibration_sessions=150, conformal_window=150,
                           lgbm_rounds=60)
    res = train_forecast_models(r, cfg)
    bundle = res.bundle
    for hm in bundle.horizons.values():
        hm.champion = LEARNED  # force the learned model as champion
    # right after the boosters' training end no out-of-sample score has matured yet
    end = pd.Timestamp(bundle.horizons[5].train_end)
    pos = r.index.get_loc(end)
    early, late = r.index[pos + 2], r.index[-1]
    out = compute_forecast_quantiles(bundle, r, [early, late])
    champ = out[out["champion"]]
    assert len(champ) == 4  # one published row per (as_of, horizon)
    assert champ.set_index(["as_of", "horizon_days"]).loc[(early.date(), 5), "method"] != LEARNED
    assert champ.set_index(["as_of", "horizon_days"]).loc[(late.date(), 5), "method"] == LEARNED
    assert champ[["q05", "q50", "q95"]].notna().all().all()


def test_conformal_step_equals_mapie_cqr_on_a_fixed_calibration_set():
    # The rolling CQR is hand-written only for its sliding, lagged window: on one fixed calibration set
    # its asymmetric correction must equal mapie's ConformalizedQuantileRegressor.
    from mapie.regression import ConformalizedQuantileRegressor
    from sklearn.base import BaseEstimator, RegressorMixin

    class Column(RegressorMixin, BaseEstimator):
        """A prefit 'model' whose predictions are one column of X."""

        def __init__(self, j=0):
            self.j = j

        def fit(self, x, y):
            self.fitted_ = True
            return self

        def predict(self, x):
            return np.asarray(x)[:, self.j]

    rng = np.random.default_rng(1)
    n = 250
    raw = np.sort(rng.normal(size=(n + 1, 3)), axis=1) * 0.5
    y = rng.standard_t(4, n + 1)
    x = raw[:, [0, 2, 1]]  # mapie's order: lower, upper, median
    est = [Column(j).fit(x, y) for j in range(3)]
    mapie = ConformalizedQuantileRegressor(est, confidence_level=0.9, prefit=True).conformalize(x[:n], y[:n])
    _, bounds = mapie.predict_interval(x[n:], symmetric_correction=False)
    ours = compute_rolling_conformal(raw, np.r_[y[:n], np.nan], 1, LEVELS, n, 10)
    assert ours[n, 0] == pytest.approx(bounds[0, 0, 0], abs=1e-12)
    assert ours[n, 2] == pytest.approx(bounds[0, 1, 0], abs=1e-12)


def test_conformal_order_statistics_hand_computed():
    # 20 matured scores 1..20 (raw quantiles 0, targets shuffled 1..20): with n = 20 the 5% shift is rank
    # floor(21 x 0.05) = 1 (the smallest score), the 95% shift rank ceil(21 x 0.95) = 20 (the largest), the
    # median rank ceil(20 / 2) = 10
    n = 21
    raw = np.zeros((n, 3))
    y = np.r_[np.random.default_rng(0).permutation(np.arange(1.0, 21.0)), np.nan]
    out = compute_rolling_conformal(raw, y, 1, LEVELS, 20, 20)
    np.testing.assert_allclose(out[20], [1.0, 10.0, 20.0])
    assert np.isnan(out[:20]).all()  # fewer than 20 matured scores before origin 20
    # 19 scores (odd): the median is the 10th, the 5% level floor(20 x 0.05) = rank 1, 95% ceil(19) = 19
    out19 = compute_rolling_conformal(raw[1:], y[1:], 1, LEVELS, 19, 19)
    scores = np.sort(y[1:20])
    np.testing.assert_allclose(out19[19], [scores[0], scores[9], scores[18]])


def test_conformal_rows_before_start_stay_empty():
    raw = np.zeros((40, 3))
    y = np.linspace(-1.0, 1.0, 40)
    full = compute_rolling_conformal(raw, y, 1, LEVELS, 10, 10)
    late = compute_rolling_conformal(raw, y, 1, LEVELS, 10, 10, start=25)
    assert np.isfinite(full[11:25]).all()
    assert np.isnan(late[:25]).all()
    np.testing.assert_array_equal(late[25:], full[25:])


def test_pit_extrapolates_the_outer_segments():
    # Levels 0.05 / 0.5 / 0.95 at 90 / 100 / 110: slope 0.45 / 10 per unit beyond either end
    qs = np.array([[90.0, 100.0, 110.0]])
    assert compute_pit(np.array([89.0]), qs, LEVELS)[0] == pytest.approx(0.05 - 0.045)
    assert compute_pit(np.array([111.0]), qs, LEVELS)[0] == pytest.approx(0.95 + 0.045)
    assert compute_pit(np.array([0.0]), qs, LEVELS)[0] == 0.0
