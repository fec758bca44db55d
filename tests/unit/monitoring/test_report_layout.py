"""What a reader of a saved monitoring report meets first: the status and its reasons, then calibration, then
drift grouped by feature family, worst first; coverage and pinball apart. Checked on the saved JSON (metric
order) and on the saved HTML (widget order), both written by Evidently itself."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from monitoring.config import MonitoringSettings
from monitoring.metrics import compute_drift_groups, compute_feature_family
from monitoring.reports import ALERT, compute_forecast_report, compute_signal_report, compute_status_frame
from monitoring.synthetic import make_signal_rows

FEATS = ("ROC5", "ROC10", "MA5", "MA10", "STD5", "STD10")
SHIFT = {"MA10": 0.9, "STD5": 0.6, "MA5": 0.35}
"""Planted: MA10 drifts most, then STD5, then MA5; the ROC family stays quiet."""


def _kind(metric: dict) -> str:
    return metric["config"]["type"].rsplit(":", 1)[-1]


def _widget_titles(html: str) -> list[str]:
    """The titles of the page's widgets in page order, from the dashboard JSON Evidently embeds in the HTML."""
    start = html.index('{"name": "Report", "widgets": ')
    board, _ = json.JSONDecoder().raw_decode(html[start:])
    out: list[str] = []

    def walk(widgets):
        for w in widgets:
            if w.get("title"):
                out.append(w["title"])
            if w["type"] == "counter" and not w.get("title"):  # Evidently's drift headers: text in the counter
                out.extend(str(c[k]) for c in w["params"]["counters"] for k in ("value", "label") if c[k])
            walk(w.get("widgets") or [])

    walk(board["widgets"])
    return out


@pytest.fixture(scope="module")
def signal_report(tmp_path_factory):
    rng = np.random.default_rng(7)
    reference = make_signal_rows(5000, rng, features=FEATS)
    current = make_signal_rows(1050, rng, features=FEATS, shift=SHIFT).drop(columns="label")
    calibration = make_signal_rows(1260, rng, features=FEATS, sharpen=3.0)[["probability", "label"]]
    snapshot, summary = compute_signal_report(reference, current, calibration, MonitoringSettings())
    out = tmp_path_factory.mktemp("report")
    snapshot.save_json(str(out / "report.json"))
    snapshot.save_html(str(out / "report.html"))
    return summary, json.loads((out / "report.json").read_text()), (out / "report.html").read_text()


def test_saved_json_leads_with_the_status_then_calibration_then_drift_worst_first(signal_report):
    summary, saved, _ = signal_report
    assert summary.status == ALERT
    kinds = [_kind(m) for m in saved["metrics"]]
    # Given a sharpened model and three shifted features, the saved report reads in the page's order
    assert kinds[:7] == ["MonitoringStatus", "ExpectedCalibrationError", "BrierScore", "LogLoss", "ValueDrift",
                         "DriftedColumnsCount", "ValueDrift"]
    assert saved["metrics"][0]["value"] == 2.0  # ALERT
    assert saved["metrics"][4]["config"]["column"] == "probability"
    features = [m["config"]["column"] for m in saved["metrics"][6:]]
    # Then the features come grouped by family, the worst family first and its worst feature first
    assert features[:4] == ["MA10", "MA5", "STD5", "STD10"]
    assert set(features[4:]) == {"ROC5", "ROC10"}
    roc = {c: summary.drift_scores[c] for c in ("ROC5", "ROC10")}
    assert features[4:] == sorted(roc, key=lambda c: -roc[c])
    # the status's reasons travel with the report: nothing needs summary.json to say why
    assert set(summary.drifted_features) >= {"MA10", "STD5"}


def test_saved_html_shows_the_status_and_reasons_before_calibration_before_drift(signal_report):
    summary, _, html = signal_report
    titles = _widget_titles(html)

    def at(prefix: str) -> int:
        return next(i for i, t in enumerate(titles) if t.startswith(prefix))

    assert titles[0] == "Monitoring status"
    assert at(f"{summary.status}: the reasons") == 1
    assert at("Expected calibration error") < at("Reliability curve") < at("Drift in column 'probability'")
    assert at("Drift in column 'probability'") < at("Count of Drifted Columns") < at("Feature drift by group")
    assert at("Feature drift by group") < at("MA: ") < at("Drift in column 'MA10'") < at("Drift in column 'MA5'")
    assert at("Drift in column 'MA5'") < at("STD: ") < at("Drift in column 'STD5'") < at("ROC: ")
    # every reason is on the page, in the reasons table right under the status
    start = html.index('{"name": "Report", "widgets": ')
    board, _ = json.JSONDecoder().raw_decode(html[start:])
    table = board["widgets"][0]["widgets"][1]
    assert [row[0] for row in table["params"]["data"]] == summary.reasons


def test_drift_groups_order_families_by_their_worst_feature():
    scores = {"ROC5": 0.05, "ROC10": 0.30, "MA5": 0.20, "MA10": 0.12, "KMID": 0.01, "KMID2": 0.02}
    thresholds = {c: 0.1 for c in scores}
    thresholds["ROC10"] = 0.6  # a high noise floor: ROC10's 0.30 is half its threshold
    groups = compute_drift_groups(scores, thresholds)
    assert groups == [("MA", ["MA5", "MA10"]), ("ROC", ["ROC10", "ROC5"]), ("KMID", ["KMID2", "KMID"])]
    assert [compute_feature_family(c) for c in ("VSUMP60", "OPEN0", "MKT_VOL21", "KMID")] == [
        "VSUMP", "OPEN", "MKT_VOL", "KMID"]


def _evaluations(n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = [pd.DataFrame({"as_of": pd.bdate_range("2023-01-02", periods=n), "portfolio": "equal_weight",
                            "horizon_days": h, "covered": rng.random(n) < 0.9, "pinball": rng.gamma(2.0, 0.01, n)})
              for h in (5, 21)]
    return pd.concat(frames, ignore_index=True)


def test_forecast_report_puts_coverage_and_pinball_apart_after_the_status():
    snapshot, summary = compute_forecast_report(_evaluations(), MonitoringSettings())
    metrics = snapshot.dict()["metrics"]
    kinds = [(_kind(m), m["config"].get("column")) for m in metrics]
    assert kinds == [("MonitoringStatus", None),
                     ("MeanValue", "covered_equal_weight_h5"), ("MeanValue", "covered_equal_weight_h21"),
                     ("PinballLoss", "pinball_equal_weight_h5"), ("PinballLoss", "pinball_equal_weight_h21")]
    # the pinball metric is the window's mean loss, reported beside the reference's
    by_series = {row["series"]: row for row in summary.per_series}
    assert metrics[4]["value"] == pytest.approx(by_series["equal_weight_h21"]["pinball"])


def test_status_frame_and_its_metric_value_follow_the_status():
    assert compute_status_frame("OK", []).to_dict("records") == [
        {"status_rank": 0.0, "status": "OK", "reason": "no finding"}]
    assert compute_status_frame("WARN", ["a", "b"])["status_rank"].tolist() == [1.0, 1.0]
