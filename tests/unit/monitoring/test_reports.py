"""Known answers of the monitoring reports: planted shift named, sharpened probabilities alert, quiet stays OK."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from monitoring.config import MonitoringSettings
from monitoring.reports import (
    ALERT,
    OK,
    WARN,
    SignalSummary,
    compute_feature_columns,
    compute_forecast_report,
    compute_signal_report,
    compute_signal_status,
)
from monitoring.synthetic import FEATURES, make_signal_rows

SETTINGS = MonitoringSettings()
N_CURRENT = 50 * 21  # 50 symbols x 21 sessions
N_CALIBRATION = 20 * 63


@pytest.fixture(scope="module")
def reference():
    return make_signal_rows(5000, np.random.default_rng(100))


def _run(reference, seed, shift=None, sharpen=1.0, settings=SETTINGS):
    rng = np.random.default_rng(seed)
    current = make_signal_rows(N_CURRENT, rng, shift=shift).drop(columns="label")
    calibration = make_signal_rows(N_CALIBRATION, rng, sharpen=sharpen)[["probability", "label"]]
    return compute_signal_report(reference, current, calibration, settings)


def test_planted_covariate_shift_is_detected_and_the_shifted_features_named(reference):
    # Given three of six features shifted by half a standard deviation
    snapshot, summary = _run(reference, seed=1, shift={"f2": 0.5, "f3": 0.5, "f4": 0.5})
    # Then exactly those are named, the share is 3/6 and the status is ALERT
    assert set(summary.drifted_features) == {"f2", "f3", "f4"}
    assert summary.drift_share == pytest.approx(0.5)
    assert summary.status == ALERT
    assert any("f2" in r for r in summary.reasons)
    # the per-feature scores come from Evidently's report and separate shifted from unshifted features
    assert min(summary.drift_scores[f] for f in ("f2", "f3", "f4")) > 0.3
    assert max(summary.drift_scores[f] for f in ("f0", "f1", "f5")) < SETTINGS.drift_threshold
    report = snapshot.dict()
    drift_tests = [t for t in report["tests"] if t["metric_config"]["params"]["type"].endswith("ValueDrift")]
    assert {t["metric_config"]["params"]["column"] for t in drift_tests if t["status"] == "FAIL"} == {
        "f2", "f3", "f4"
    }
    # a shift in the model's inputs moves its prediction too (f0 carries weight)
    _, moved = _run(reference, seed=2, shift={"f0": 0.8})
    assert moved.drifted_features == ["f0"]
    assert moved.prediction_drifted is True
    assert moved.status == WARN  # one feature of six + prediction drift: a warning, not an alert


def test_sharpened_probabilities_raise_a_calibration_alert_without_feature_drift(reference):
    snapshot, summary = _run(reference, seed=3, sharpen=3.0)
    assert summary.drift_share == 0.0
    assert summary.status == ALERT
    assert summary.ece > summary.ece_reference + SETTINGS.ece_alert
    assert summary.ece_pvalue < SETTINGS.ece_pvalue
    assert summary.brier > summary.brier_reference
    assert any(r.startswith("calibration") for r in summary.reasons)
    # the reliability curve of the current window lies away from the diagonal, the reference one on it
    cur = pd.DataFrame(summary.reliability_current)
    ref = pd.DataFrame(summary.reliability_reference)
    gap = lambda c: np.average(np.abs(c.mean_probability - c.observed_frequency), weights=c["count"])  # noqa: E731
    assert gap(cur) > 3 * gap(ref)
    # everything in one Evidently report: the custom ECE / Brier / log-loss metrics sit beside the drift
    names = [m["metric_name"] for m in snapshot.dict()["metrics"]]
    assert any(n.startswith("ExpectedCalibrationError") for n in names)
    assert any(n.startswith("BrierScore") for n in names)
    assert any(n.startswith("LogLoss") for n in names)
    assert any(n.startswith("ValueDrift(column=f0") for n in names)
    json.loads(snapshot.json())  # serialisable with the custom metrics


def test_quiet_stretch_gives_no_alert(reference):
    # Given windows drawn from the reference distribution with a calibrated model (no change at all)
    statuses = [_run(reference, seed=1000 + i)[1].status for i in range(12)]
    # Then no window alerts and at most one warns (the bench measures the rate over 100 windows)
    assert statuses.count(ALERT) == 0
    assert statuses.count(WARN) <= 1


def test_small_windows_are_not_judged(reference):
    settings = MonitoringSettings(min_current_rows=2000, min_calibration_rows=5000)
    _, summary = _run(reference, seed=5, shift={f: 2.0 for f in FEATURES}, sharpen=4.0, settings=settings)
    assert summary.status == OK
    assert summary.drift_share is None and summary.ece is None
    assert any("not judged" in r for r in summary.reasons)


def test_status_thresholds_and_significance_gate():
    base = dict(n_reference=1, n_current=1, n_calibration=1, features=["a"], drift_method="wasserstein",
                drift_threshold=0.1)
    s = MonitoringSettings()
    assert compute_signal_status(SignalSummary(**base, drift_share=0.29), s)[0] == OK
    assert compute_signal_status(SignalSummary(**base, drift_share=0.3), s)[0] == WARN
    assert compute_signal_status(SignalSummary(**base, drift_share=0.5), s)[0] == ALERT
    cal = dict(ece=0.20, ece_reference=0.02)
    assert compute_signal_status(SignalSummary(**base, **cal, ece_pvalue=0.001), s)[0] == ALERT
    # a large ECE that the consistency test cannot tell from noise (tiny window) does not alert
    assert compute_signal_status(SignalSummary(**base, **cal, ece_pvalue=0.2), s)[0] == OK
    # no consistency test available (p-value missing): the thresholds alone decide, and the reason still reads
    status, reasons = compute_signal_status(SignalSummary(**base, **cal), s)
    assert status == ALERT and reasons == ["calibration: ECE 0.200 vs reference 0.020"]
    assert compute_signal_status(SignalSummary(**base, ece=0.09, ece_reference=0.02, ece_pvalue=0.001), s)[0] == WARN


def test_feature_columns_exclude_keys_predictions_and_labels():
    ref = pd.DataFrame({"symbol": ["A"], "date": [pd.Timestamp("2024-01-02")], "feature_set": ["x"],
                        "f0": [1.0], "f1": [2], "probability": [0.5], "label": [1], "only_ref": [1.0]})
    cur = ref.drop(columns=["only_ref"])
    assert compute_feature_columns(ref, cur) == ["f0", "f1"]


def _evaluations(coverage: float, n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for h in (5, 21):
        covered = rng.random(n) < 0.9
        covered[-63:] = rng.random(63) < coverage
        frames.append(pd.DataFrame({
            "as_of": pd.bdate_range("2023-01-02", periods=n), "portfolio": "equal_weight", "horizon_days": h,
            "covered": covered, "pinball": rng.gamma(2.0, 0.01, n),
        }))
    return pd.concat(frames, ignore_index=True)


def test_forecast_coverage_drift():
    # Given bands that cover 90% of outcomes: OK; bands that cover about 65% lately: ALERT
    _, ok = compute_forecast_report(_evaluations(0.9, seed=1), SETTINGS)
    snapshot, bad = compute_forecast_report(_evaluations(0.65, seed=1), SETTINGS)
    assert ok.status == OK, ok.reasons
    assert bad.status == ALERT
    assert bad.coverage < 0.8
    assert {row["series"] for row in bad.per_series} == {"equal_weight_h5", "equal_weight_h21"}
    assert all(row["n"] == 63 for row in bad.per_series)
    failed = [t for t in snapshot.dict()["tests"] if t["status"] == "FAIL"]
    assert failed, "the Evidently coverage tests fail too"
    _, none = compute_forecast_report(_evaluations(0.9).iloc[0:0], SETTINGS)
    assert none.status == OK and none.reasons


def test_holdout_metrics_stand_in_when_the_reference_has_no_predictions(reference):
    features_only = reference.drop(columns=["probability", "label"])
    rng = np.random.default_rng(9)
    current = make_signal_rows(N_CURRENT, rng).drop(columns="label")
    calibration = make_signal_rows(N_CALIBRATION, rng, sharpen=3.0)[["probability", "label"]]
    _, summary = compute_signal_report(features_only, current, calibration, SETTINGS,
                                       holdout_metrics={"ece": 0.02, "brier": 0.24, "log_loss": 0.67})
    assert summary.ece_reference == 0.02 and summary.brier_reference == 0.24
    assert summary.prediction_drift_score is None  # no reference predictions: prediction drift not judged
    assert summary.status == ALERT


def test_empty_or_constant_features_are_skipped_not_scored(reference):
    ref = reference.assign(empty=np.nan, constant=1.0)
    rng = np.random.default_rng(12)
    cur = make_signal_rows(N_CURRENT, rng).drop(columns="label").assign(empty=np.nan, constant=1.0)
    _, summary = compute_signal_report(ref, cur, None, SETTINGS)
    assert set(summary.skipped_features) == {"empty", "constant"}
    assert "empty" not in summary.drift_scores and len(summary.features) == len(FEATURES)
    assert summary.drift_share == 0.0


def test_drift_threshold_rises_to_the_noise_floor_of_small_windows():
    from monitoring.reports import compute_drift_threshold

    s = MonitoringSettings()
    assert compute_drift_threshold(s, 420) == pytest.approx(2.8 / np.sqrt(420))  # ~0.137
    assert compute_drift_threshold(s, 1050) == pytest.approx(0.1)  # large window: the configured threshold
    assert compute_drift_threshold(MonitoringSettings(drift_method="ks", drift_threshold=0.01), 100) == 0.01
    assert compute_drift_threshold(MonitoringSettings(drift_noise_scale=0), 100) == pytest.approx(0.1)
