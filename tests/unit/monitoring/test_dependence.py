"""Known answers on a market-like panel: rows of a date move together and slow features persist.

The iid windows of test_reports.py cannot show this failure: on a panel, a test that counts every row as an
independent draw alarms on every quiet window (the sample market did so 20 nights out of 20).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.config import MonitoringSettings
from monitoring.dependence import compute_effective_rows, compute_location_effective_rows, compute_shock_paths
from monitoring.reports import ALERT, OK, WARN, compute_signal_report
from monitoring.synthetic import PANEL_FEATURES, make_ar1_path, make_signal_panel

N_SYMBOLS, DRIFT_DATES, CAL_DATES = 50, 21, 63


def _analytic_effective_rows(common: float, phi: float, n_dates: int, m: int) -> float:
    k = np.arange(1, n_dates)
    serial = common * (1 + 2 * np.sum((1 - k / n_dates) * phi**k))
    return 1.0 / ((1 - common) / (n_dates * m) + serial / n_dates)


def test_effective_rows_match_the_design_effect_of_a_known_panel():
    # Given a long panel whose features have a known common share and day-to-day persistence
    panel = make_signal_panel(5000, 10, np.random.default_rng(2))
    est = compute_location_effective_rows(panel, list(PANEL_FEATURES), DRIFT_DATES, N_SYMBOLS)
    for name, (common, phi) in PANEL_FEATURES.items():
        expected = _analytic_effective_rows(common, phi, DRIFT_DATES, N_SYMBOLS)
        # Then the estimate is that of the formula (independent features keep their 1,050 rows)
        assert est[name] == pytest.approx(expected, rel=0.25), name
    assert est["market_only"] < 2 < est["market_fast"] < 30 < 800 < est["idio_a"]
    # counting the spread too never adds rows; here the spreads are steady, so the location decides
    both = compute_effective_rows(panel, list(PANEL_FEATURES), DRIFT_DATES, N_SYMBOLS)
    assert all(both[f] <= est[f] + 1e-9 for f in PANEL_FEATURES)
    assert all(both[f] == pytest.approx(est[f], rel=0.05) for f in PANEL_FEATURES if PANEL_FEATURES[f][0] > 0)
    # a frame without dates carries no dependence to measure
    assert compute_effective_rows(panel.drop(columns="date"), ["idio_a"], DRIFT_DATES, N_SYMBOLS) == {}


def test_a_volatility_regime_counts_through_the_spread():
    from scipy.stats import wasserstein_distance

    # Given a feature whose mean is always 0 but whose spread follows a persistent market volatility regime
    rng = np.random.default_rng(3)
    n_dates = 3000
    vol = np.repeat(np.exp(0.5 * make_ar1_path(n_dates, 0.97, rng)), N_SYMBOLS)
    frame = pd.DataFrame({"date": np.repeat(pd.bdate_range("2010-01-01", periods=n_dates), N_SYMBOLS),
                          "x": rng.normal(size=n_dates * N_SYMBOLS) * vol})
    dates = frame["date"].unique()
    ref = frame[frame["date"] < dates[2000]].sample(40_000, random_state=0)
    # Then the location alone sees independent rows, the spread sees a handful
    assert compute_location_effective_rows(ref, ["x"], DRIFT_DATES, N_SYMBOLS)["x"] == pytest.approx(1050)
    n_eff = compute_effective_rows(ref, ["x"], DRIFT_DATES, N_SYMBOLS)["x"]
    assert n_eff < 30
    # and later quiet 21-session windows pass the threshold at the spread's rows, not at 1,050 rows
    scores = np.array([
        wasserstein_distance(ref["x"], frame.loc[frame["date"].isin(dates[s:s + DRIFT_DATES]), "x"]) / ref["x"].std()
        for s in range(2000, n_dates - DRIFT_DATES, DRIFT_DATES)
    ])
    assert np.mean(scores >= 2.8 / np.sqrt(n_eff)) <= 0.05
    assert np.mean(scores >= 2.8 / np.sqrt(1050)) >= 0.5


def test_shock_paths_recover_the_market_shock_and_its_persistence():
    panel = make_signal_panel(3000, 20, np.random.default_rng(4), shock_sd=0.12, shock_phi=0.9)
    paths = compute_shock_paths(panel["date"], panel["label"], CAL_DATES, 400, seed=1)
    assert paths.shape == (400, CAL_DATES)
    # a window's mean shock varies as that of the true AR(1) shock (the binomial noise of each date's rate
    # at 20 names, sd ~0.11, is not counted as market moves)
    k = np.arange(1, CAL_DATES)
    expected = 0.12 * np.sqrt((1 + 2 * np.sum((1 - k / CAL_DATES) * 0.9**k)) / CAL_DATES)
    assert paths.mean(axis=1).std() == pytest.approx(expected, rel=0.25)
    raw = panel.groupby("date")["label"].mean()
    assert raw.std() > 1.3 * 0.12  # what an unshrunk per-date rate would have claimed
    assert compute_shock_paths(panel["date"][:100], panel["label"][:100], CAL_DATES, 10) is None


@pytest.fixture(scope="module")
def market():
    """A reference (first 1,000 dates, sampled as the trainer does) and later dates to cut windows from."""
    panel = make_signal_panel(1600, N_SYMBOLS, np.random.default_rng(7))
    dates = panel["date"].unique()
    ref = panel[panel["date"] < dates[1000]].sample(20_000, random_state=0).sort_values(["date", "symbol"])
    return ref, panel, dates


def _window(panel, dates, end):
    current = panel[panel["date"].isin(dates[end - DRIFT_DATES:end])].drop(columns="label")
    cal = panel[panel["date"].isin(dates[end - DRIFT_DATES - CAL_DATES - 6:end - DRIFT_DATES - 6])]
    return current, cal


def test_quiet_market_windows_do_not_alarm_but_would_if_rows_counted_as_independent(market):
    ref, panel, dates = market
    ends = [1000 + CAL_DATES + DRIFT_DATES + 6 + 95 * k for k in range(5)]
    aware, iid = [], []
    for end in ends:
        current, cal = _window(panel, dates, end)
        aware.append(compute_signal_report(ref, current, cal, MonitoringSettings())[1])
        iid.append(compute_signal_report(ref, current, cal, MonitoringSettings(dependence_aware=False))[1])
    # Then no window alerts once the dependence is counted ...
    assert [s.status for s in aware].count(ALERT) == 0
    assert [s.status for s in aware].count(WARN) <= 1
    assert all(s.ece_null == "market" for s in aware)
    # ... while treating 21 x 50 rows as 1,050 independent draws flags the slow market features every time
    assert sum(s.status == ALERT for s in iid) >= 4
    assert all({"market_slow", "market_only"} & set(s.drifted_features) for s in iid)
    assert all(s.ece_null == "independent" for s in iid)


def test_sharpened_probabilities_still_alert_under_the_market_null(market):
    ref, _, _ = market
    for seed in (100, 101):
        p2 = make_signal_panel(DRIFT_DATES + CAL_DATES, N_SYMBOLS, np.random.default_rng(seed), sharpen=3.0)
        d = p2["date"].unique()
        current = p2[p2["date"].isin(d[-DRIFT_DATES:])].drop(columns="label")
        cal = p2[p2["date"].isin(d[:CAL_DATES])]
        _, s = compute_signal_report(ref, current, cal, MonitoringSettings())
        assert s.status == ALERT
        assert s.ece_null == "market" and s.ece_pvalue < 0.01
        assert any(r.startswith("calibration:") for r in s.reasons)
        assert s.calibration_slope < 0.6 * s.calibration_slope_reference
        assert any(r.startswith("cross-sectional calibration slope") for r in s.reasons)


def test_shift_of_idiosyncratic_features_is_named_on_the_panel(market):
    ref, _, _ = market
    p2 = make_signal_panel(DRIFT_DATES, N_SYMBOLS, np.random.default_rng(5), shift={"idio_a": 0.3, "idio_b": 0.3})
    snapshot, s = compute_signal_report(ref, p2.drop(columns="label"), None, MonitoringSettings())
    assert set(s.drifted_features) == {"idio_a", "idio_b"}
    # Evidently's own drifted-columns share (the dashboard panel) uses the same per-feature thresholds
    count = next(m for m in snapshot.dict()["metrics"] if m["metric_name"].startswith("DriftedColumnsCount"))
    assert count["value"]["share"] == pytest.approx(s.drift_share) == pytest.approx(2 / len(PANEL_FEATURES))
    assert s.status in (WARN, ALERT) and s.status != OK
    # a slow market-wide feature needs a far larger move: 21 sessions hold about one independent value
    assert s.drift_thresholds["market_only"] > 1.0 > 0.1 == pytest.approx(s.drift_thresholds["idio_a"])
    assert s.effective_rows["idio_a"] > 800 and s.effective_rows["market_only"] < 3


def _overlapping_evaluations(n: int, horizon: int, band_sd: float, seed: int) -> pd.DataFrame:
    """Daily forecasts of the next `horizon` sessions' summed N(0,1) returns, band +-1.645 * band_sd *
    sqrt(horizon): calibrated at band_sd = 1, too narrow below. Consecutive forecasts share outcomes."""
    rng = np.random.default_rng(seed)
    r = rng.normal(size=n + horizon)
    outcome = np.convolve(r, np.ones(horizon), mode="valid")[1 : n + 1]
    covered = np.abs(outcome) <= 1.645 * band_sd * np.sqrt(horizon)
    return pd.DataFrame({"as_of": pd.bdate_range("2020-01-02", periods=n), "portfolio": "equal_weight",
                         "horizon_days": horizon, "covered": covered, "pinball": np.abs(outcome) / 100})


def test_overlapping_forecast_windows_are_judged_at_their_effective_count():
    from monitoring.reports import compute_coverage_effective_n, compute_forecast_report

    # Given a calibrated 21-session band evaluated daily: 63 evaluations hold about 3 independent windows
    ev = _overlapping_evaluations(2000, 21, 1.0, seed=1)
    n_eff = compute_coverage_effective_n(ev, 63, 21)
    assert 2 <= n_eff <= 12
    quiet_aware, quiet_iid = [], []
    for k in range(8):
        part = _overlapping_evaluations(400, 21, 1.0, seed=10 + k)
        quiet_aware.append(compute_forecast_report(part, MonitoringSettings())[1].status)
        quiet_iid.append(compute_forecast_report(part, MonitoringSettings(dependence_aware=False))[1].status)
    # Then a calibrated band does not alert, where counting each evaluation once does now and then
    assert quiet_aware.count(ALERT) == 0
    assert quiet_iid.count(OK) < quiet_aware.count(OK)
    # and a band far too narrow (covers ~60% at 5 sessions) still alerts
    narrow = _overlapping_evaluations(400, 5, 0.51, seed=3)
    _, s = compute_forecast_report(narrow, MonitoringSettings())
    assert s.status == ALERT and s.coverage < 0.75


def test_calibration_slope_ignores_the_market_and_sees_sharpening():
    from models.metrics import compute_ece
    from monitoring.calibration import compute_calibration_slope

    calm = make_signal_panel(63, N_SYMBOLS, np.random.default_rng(21), shock_sd=0.0)
    swings = make_signal_panel(63, N_SYMBOLS, np.random.default_rng(22), shock_sd=0.2)
    sharp = make_signal_panel(63, N_SYMBOLS, np.random.default_rng(23), shock_sd=0.0, sharpen=3.0)
    slope = {name: compute_calibration_slope(f["probability"], f["label"], f["date"])
             for name, f in (("calm", calm), ("swings", swings), ("sharp", sharp))}
    # a calibrated model: slope 1 within its error, with or without the market's swings ...
    assert abs(slope["calm"][0] - 1) < 3 * slope["calm"][1]
    assert slope["swings"][0] > 0.8
    # ... although the swings alone move the plain ECE far from the calm window's
    assert compute_ece(swings["label"], swings["probability"], 15) > 2 * compute_ece(calm["label"], calm["probability"], 15)
    # log-odds x3: relative probabilities three times too far apart
    assert slope["sharp"][0] < 0.5 and (1 - slope["sharp"][0]) > 5 * slope["sharp"][1]
    # the error over many calibrated windows: (slope - 1) / se is about standard normal
    z = []
    for k in range(40):
        f = make_signal_panel(63, N_SYMBOLS, np.random.default_rng(600 + k), shock_sd=0.0)
        b, se = compute_calibration_slope(f["probability"], f["label"], f["date"])
        z.append((b - 1) / se)
    assert 0.7 < np.std(z) < 1.4


def test_a_unit_bug_in_one_feature_warns_by_itself(market):
    ref, panel, dates = market
    current, cal = _window(panel, dates, 1000 + CAL_DATES + DRIFT_DATES + 6)
    _, quiet = compute_signal_report(ref, current, cal, MonitoringSettings())
    _, bug = compute_signal_report(ref, current.assign(idio_a=current["idio_a"] * 100), cal, MonitoringSettings())
    assert quiet.status == OK
    # one feature of six is below the share that warns, but it is 100x off: the report says so
    assert bug.drifted_features == ["idio_a"] and bug.drift_share < MonitoringSettings().drift_share_warn
    assert bug.status == WARN
    assert any(r.startswith("severe drift") and "idio_a" in r for r in bug.reasons)


def _two_rows_per_date(means: list[float], half_spread: float) -> pd.DataFrame:
    """A reference with two rows per date, mean +- half_spread (within-date variance 2 half_spread^2)."""
    dates = pd.bdate_range("2021-01-04", periods=len(means))
    return pd.DataFrame({"date": np.repeat(dates, 2),
                         "x": np.ravel([(m - half_spread, m + half_spread) for m in means])})


def test_effective_rows_hand_computed():
    # Date means +-1 in pairs, two rows per date at +-0.5: sigma_w^2 = 0.5, each date mean's noise is
    # sigma_w^2 / 2, gamma(0) = 1 - 0.25 = 0.75, gamma(1) = (1 - 1 + 1 - 1 + 1 - 1 + 1) / 7 = 1/7
    ref = _two_rows_per_date([1, 1, -1, -1, 1, 1, -1, -1], 0.5)
    expected = (0.5 + 0.75) / (0.5 / 4 + (0.75 + 2 * (1 - 1 / 2) * (1 / 7)) / 2)
    assert compute_location_effective_rows(ref, ["x"], 2, 2)["x"] == pytest.approx(expected)
    # A two-date reference (date means 0 and 10) has no serial pair to trust: gamma(0) = 25 - 2 / 2 = 24 alone
    two = _two_rows_per_date([0.0, 10.0], 1.0)
    assert compute_location_effective_rows(two, ["x"], 5, 2)["x"] == pytest.approx(26 / (2 / 10 + 24 / 5))
    # a one-date window is worth (sigma_w^2 + gamma0) / (sigma_w^2 / m + gamma0) rows
    assert compute_location_effective_rows(two, ["x"], 1, 2)["x"] == pytest.approx(26 / (2 / 2 + 24))
    assert compute_location_effective_rows(two, ["x"], 0, 2) == {}


def test_unparseable_reference_values_count_as_missing():
    ref = _two_rows_per_date([1, 1, -1, -1, 1, 1, -1, -1], 0.5)
    bad = ref.assign(x=ref["x"].astype(object))
    bad.loc[len(bad)] = {"date": ref["date"].iloc[-1], "x": "n/a"}
    assert compute_location_effective_rows(bad, ["x"], 2, 2) == compute_location_effective_rows(ref, ["x"], 2, 2)


def test_shock_paths_hand_computed():
    # Four dates of five names with positive rates 0.2, 0.2, 0.8, 0.8: centred rates -0.3, -0.3, 0.3, 0.3;
    # binomial noise mean(0.16 / 4) = 0.04; 2-date window means -0.3, 0, 0.3 (variance 0.06)
    dates = np.repeat(pd.bdate_range("2021-01-04", periods=4), 5)
    labels = np.r_[[1, 0, 0, 0, 0] * 2, [1, 1, 1, 1, 0] * 2]
    paths = compute_shock_paths(dates, labels, 2, 300, seed=0)
    shrink = np.sqrt(1 - 0.04 / 2 / 0.06)
    stretches = {(-0.3, -0.3), (-0.3, 0.3), (0.3, 0.3)}
    seen = {tuple(np.round(p / shrink, 10)) for p in paths}
    assert seen == stretches  # every stretch of 2 dates is drawn, nothing else
    # a reference exactly as long as the window has one stretch, itself; centred on its own mean, its window
    # mean is 0 and nothing of it is market shock beyond the noise
    one = compute_shock_paths(dates[:10], labels[:10], 2, 5)
    assert one.shape == (5, 2) and np.all(one == 0.0)
