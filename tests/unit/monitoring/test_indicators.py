"""Operating indicators: the SLA verdict against the New York deadline, compliance windows, regime latency,
freshness against the exchange calendar, and the stored history a re-run replaces (real DuckDB)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from monitoring.config import OperationsSettings
from monitoring.indicators import (
    compute_deadline,
    compute_feature_sla,
    compute_regime_latency,
    compute_sla_compliance,
    load_leading_indicators,
    load_sla_history,
    run_indicators,
)
from stores.warehouse import Warehouse, transaction, upsert

S = OperationsSettings()
UTC = dt.UTC


def test_deadline_is_19_new_york_on_the_session_day_in_both_offsets():
    assert compute_deadline(dt.date(2025, 12, 30), S) == dt.datetime(2025, 12, 31, 0, 0, tzinfo=UTC)  # EST
    assert compute_deadline(dt.date(2025, 7, 1), S) == dt.datetime(2025, 7, 1, 23, 0, tzinfo=UTC)  # EDT


def test_sla_met_and_missed_with_the_cause():
    day = dt.date(2025, 12, 30)
    arrived = dt.datetime(2025, 12, 30, 22, 40, tzinfo=UTC)  # 17:40 New York
    met = compute_feature_sla(day, arrived, arrived + dt.timedelta(minutes=12), S)
    assert (met.value, met.status, met.detail["met"]) == (12.0, "OK", True)
    late = compute_feature_sla(day, arrived, dt.datetime(2025, 12, 31, 0, 5, tzinfo=UTC), S)
    assert late.status == "WARN" and late.detail["late_by_min"] == 5.0 and late.detail["cause"] == "features were late"
    after = dt.datetime(2025, 12, 31, 1, 0, tzinfo=UTC)
    data_late = compute_feature_sla(day, after, after + dt.timedelta(minutes=1), S)
    assert data_late.status == "WARN" and data_late.detail["cause"] == "the bars arrived after the deadline"
    assert compute_feature_sla(day, None, arrived, S) is None


def test_compliance_over_the_last_n_nights():
    history = [False] * 10 + [True] * 19 + [False]
    c20 = compute_sla_compliance(history, 20, 95.0)
    assert (c20.name, c20.value, c20.status, c20.detail["nights"]) == ("feature_sla_compliance_20", 95.0, "OK", 20)
    c60 = compute_sla_compliance(history, 60, 95.0)
    assert c60.value == round(100 * 19 / 30, 1) and c60.status == "WARN" and c60.detail["nights"] == 30


def test_regime_latency_from_close_and_from_ingest():
    close = dt.datetime(2025, 12, 30, 21, 0, tzinfo=UTC)
    arrived = close + dt.timedelta(minutes=100)
    written = arrived + dt.timedelta(minutes=3)
    out = {i.name: i for i in compute_regime_latency(close, arrived, written, compute_deadline(close.date(), S))}
    assert out["regime_latency_from_close"].value == 103.0 and out["regime_latency_from_close"].target == 180.0
    assert out["regime_latency_from_ingest"].value == 3.0
    assert out["regime_latency_from_close"].status == "OK"


def _night(wh: Warehouse, day: dt.date, arrived: dt.datetime, ready: dt.datetime) -> None:
    bars = pd.DataFrame([{"symbol": "AAA", "date": day, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                          "adj_close": 1.0, "volume": 1.0, "source": "test", "ingested_at": arrived}])
    runs = pd.DataFrame([{"run_id": f"f{day}", "mode": "incremental", "last_date": day, "started_at": ready,
                          "finished_at": ready}])
    with wh.session() as con, transaction(con):
        upsert(con, "bars", bars, ["symbol", "date"])
        upsert(con, "feature_runs", runs, ["run_id"])


def test_each_night_is_stored_with_history_and_judged_in_monitoring(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    now = dt.datetime(2025, 12, 31, 12, 0, tzinfo=UTC)
    # Given two nights: the 29th met its deadline (features at 18:00 New York), the 30th missed it (19:30)
    _night(wh, dt.date(2025, 12, 29), dt.datetime(2025, 12, 29, 22, 0), dt.datetime(2025, 12, 29, 23, 0))
    run_indicators(wh, dt.date(2025, 12, 29), S, now=now)
    _night(wh, dt.date(2025, 12, 30), dt.datetime(2025, 12, 30, 22, 0), dt.datetime(2025, 12, 31, 0, 30))
    report = run_indicators(wh, dt.date(2025, 12, 30), S, now=now)
    assert report.sla_missed
    with wh.session(read_only=True) as con:
        assert load_sla_history(con) == [True, False]
        panel = load_leading_indicators(con)
        status = con.execute("SELECT date, status, reasons FROM monitoring_runs WHERE model = 'feature-pipeline' "
                             "ORDER BY date").fetchall()
    # Then the panel serves the newest night, with compliance over the stored history
    assert panel["feature_sla"]["as_of"] == "2025-12-30" and panel["feature_sla"]["status"] == "WARN"
    assert panel["feature_sla"]["value"] == 150.0 and panel["feature_sla"]["late_by_min"] == 30.0
    assert panel["feature_sla_compliance_20"]["value"] == 50.0
    assert panel["freshness_bars"]["value"] == 0.0 and panel["freshness_bars"]["status"] == "OK"
    # and a missed SLA is a WARN in monitoring, a met one OK
    assert [(d.isoformat(), s) for d, s, _ in status] == [("2025-12-29", "OK"), ("2025-12-30", "WARN")]
    assert status[1][2].startswith("feature SLA missed")
    # A re-run of the same night replaces its rows instead of adding history
    run_indicators(wh, dt.date(2025, 12, 30), S, now=now)
    with wh.session(read_only=True) as con:
        assert load_sla_history(con) == [True, False]
        n = con.execute("SELECT count(*) FROM operating_indicators WHERE name = 'feature_sla'").fetchall()[0][0]
    assert n == 2


def test_freshness_counts_sessions_behind_the_exchange(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    _night(wh, dt.date(2025, 12, 26), dt.datetime(2025, 12, 26, 22, 0), dt.datetime(2025, 12, 26, 22, 5))
    # On Wednesday 31 Dec after the close, the 29th, 30th and 31st are sessions the bars lack.
    report = run_indicators(wh, dt.date(2025, 12, 26), S, now=dt.datetime(2025, 12, 31, 22, 0, tzinfo=UTC))
    fresh = {i.name: i for i in report.indicators}["freshness_bars"]
    assert fresh.value == 3.0 and fresh.status == "WARN" and fresh.detail["last_session"] == "2025-12-31"
