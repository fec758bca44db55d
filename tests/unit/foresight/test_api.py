"""Contract of every route: status codes, shapes, 404 for unknown symbol/date, 422 for malformed input."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient

from foresight.api import create_app
from foresight.services import PortfolioService, ServiceFactory
from foresight.settings import Settings
from stores.snapshots import SnapshotReader, publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import Warehouse
from tests.unit.foresight.serving_data import SYMBOLS, ensure_contract_tables, write_night

DATES = [dt.date(2025, 12, 26), dt.date(2025, 12, 29), dt.date(2025, 12, 30)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("api") / "home"
    settings = Settings(home=home)
    wh = Warehouse(settings.duckdb_path)
    ensure_contract_tables(wh)
    for i, d in enumerate(DATES):
        write_night(wh, d, seed=i)
    from monitoring.store import save_monitoring_run

    with wh.session() as con:
        for d, status in ((DATES[0], "OK"), (DATES[-1], "ALERT")):
            save_monitoring_run(con, {"model": "foresight-signal", "version": "1", "date": d, "status": status,
                                      "drift_share": 0.5, "ece": 0.04, "drifted_features": ["ret_10d"],
                                      "reasons": "drift share 0.50", "report_path": str(home / "reports" / "x")})
    publish_warehouse_snapshot(wh, snapshot_dir(home))
    app = create_app(settings)
    with TestClient(app) as client:
        yield client, app


def test_factory_registers_every_service(served):
    _, app = served
    f: ServiceFactory = app.state.factory
    assert {"MarketDataService", "MLSignalService", "RegimeService", "PortfolioService", "ForecastService",
            "DashboardService", "BacktestService"} <= set(f.names)
    assert isinstance(f.get("ForecastService"), PortfolioService)
    assert f.get("ForecastService") is f.get("PortfolioService")
    with pytest.raises(KeyError):
        f.get("NoSuchService")


def test_health_reports_the_snapshot(served):
    client, _ = served
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["snapshot"]["as_of"] == "2025-12-30"
    assert body["snapshot"]["tables"]["signals"] == len(DATES) * len(SYMBOLS)


def test_health_is_503_before_any_snapshot(tmp_path):
    app = create_app(Settings(home=tmp_path / "empty"))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 503
        r = client.get("/signals/SYM001")
        assert r.status_code == 503 and "foresight score" in r.json()["detail"]


def test_signal_of_a_symbol_latest_and_dated(served):
    client, _ = served
    r = client.get("/signals/SYM001")
    assert r.status_code == 200
    body = r.json()
    assert body["symbol"] == "SYM001" and body["date"] == "2025-12-30"
    assert 0.0 < body["probability"] < 1.0
    assert body["model_name"] == "foresight-signal" and body["model_version"] == "1"
    assert [a["feature"] for a in body["attribution"]] == ["ret_10d", "other"]
    # base 0 here: the attribution sums to the raw score
    assert sum(a["contribution"] for a in body["attribution"]) == pytest.approx(body["raw_score"])
    dated = client.get("/signals/sym001", params={"date": "2025-12-26"})
    assert dated.status_code == 200 and dated.json()["date"] == "2025-12-26"


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/signals/ZZZ", {}, 404),
        ("/signals/SYM001", {"date": "2025-12-27"}, 404),
        ("/signals", {"date": "2024-01-02"}, 404),
        ("/market-data/regime", {"date": "2024-01-02"}, 404),
        ("/portfolio/forecast", {"horizon": 7}, 404),
        ("/signals/SYM$01", {}, 422),
        ("/signals/SYM001' OR '1'='1", {}, 422),
        ("/signals/ABCDEFGHIJKLMNOPQRS", {}, 422),
        ("/signals/SYM001", {"date": "2025-13-45"}, 422),
        ("/signals/SYM001", {"date": "2025-12-30' OR 1=1 --"}, 422),
        ("/signals", {"top": 0}, 422),
        ("/signals", {"top": "ten"}, 422),
        ("/market-data/regime/history", {"start": "2025-12-30", "end": "2025-12-01"}, 422),
        ("/portfolio/forecast", {"horizon": -1}, 422),
    ],
)
def test_errors_are_json_with_the_right_status(served, path, params, status):
    client, _ = served
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert ("error" in body) if status == 404 else ("detail" in body)


def test_cross_section_is_ranked_and_complete(served):
    client, _ = served
    full = client.get("/signals", params={"date": "2025-12-29"}).json()
    assert full["count"] == len(SYMBOLS)
    probs = [s["probability"] for s in full["signals"]]
    assert probs == sorted(probs, reverse=True)
    assert [s["rank"] for s in full["signals"]] == list(range(1, len(SYMBOLS) + 1))
    top = client.get("/signals", params={"top": 3}).json()
    assert top["date"] == "2025-12-30" and top["count"] == 3


def test_regime_routes(served):
    client, _ = served
    cur = client.get("/market-data/regime").json()
    assert cur["date"] == "2025-12-30" and cur["regime"] == "calm_bull" and cur["universe"] == "default"
    assert client.get("/market-data/regime", params={"date": "2025-12-29"}).json()["regime"] == "high_vol_bear"
    hist = client.get("/market-data/regime/history", params={"start": "2025-12-27", "end": "2025-12-30"}).json()
    assert hist["count"] == 2 and [r["date"] for r in hist["regimes"]] == ["2025-12-29", "2025-12-30"]


def test_forecast_and_kpis(served):
    client, _ = served
    fc = client.get("/portfolio/forecast").json()
    assert fc["as_of"] == "2025-12-30" and [f["horizon_days"] for f in fc["forecasts"]] == [5, 21]
    assert all(f["p05"] <= f["p50"] <= f["p95"] for f in fc["forecasts"])
    one = client.get("/portfolio/forecast", params={"horizon": 21}).json()
    assert [f["horizon_days"] for f in one["forecasts"]] == [21]
    k = client.get("/dashboard/kpis").json()
    assert k["regime"]["regime"] == "calm_bull"
    assert k["panels"]["signals"]["latest_date"] == "2025-12-30" and k["panels"]["signals"]["symbols"] == len(SYMBOLS)
    assert k["panels"]["freshness"]["snapshot_published_at"]
    [mon] = k["panels"]["monitoring"]
    assert (mon["model"], mon["date"], mon["status"]) == ("foresight-signal", "2025-12-30", "ALERT")
    assert mon["drifted_features"] == ["ret_10d"] and mon["drift_share"] == 0.5 and mon["html_path"] is None


def test_openapi_documents_routes_with_examples(served):
    client, _ = served
    spec = client.get("/openapi.json").json()
    for route in ("/signals/{symbol}", "/signals", "/market-data/regime", "/market-data/regime/history",
                  "/portfolio/forecast", "/dashboard/kpis", "/health"):
        assert route in spec["paths"], route
    assert "404" in spec["paths"]["/signals/{symbol}"]["get"]["responses"]
    assert spec["components"]["schemas"]["SignalOut"]["examples"][0]["symbol"] == "SYM001"


def test_reader_switches_to_a_new_snapshot(tmp_path):
    settings = Settings(home=tmp_path / "home")
    wh = Warehouse(settings.duckdb_path)
    ensure_contract_tables(wh)
    write_night(wh, DATES[0])
    publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/signals").json()["date"] == "2025-12-26"
        assert client.get("/signals/SYM001").json()["date"] == "2025-12-26"
        write_night(wh, DATES[1], seed=1)
        # Not published yet: the API still serves the previous night (answers are memoised per snapshot).
        assert client.get("/signals").json()["date"] == "2025-12-26"
        assert client.get("/signals/SYM001").json()["date"] == "2025-12-26"
        publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
        # Published: the API moves to it once its answers are prepared (a background pass, see
        # test_http_cache.py), then answers every route from it.
        deadline = time.monotonic() + 30
        while client.get("/signals").json()["date"] != "2025-12-29":
            assert time.monotonic() < deadline, "the published snapshot was never served"
            time.sleep(0.02)
        assert client.get("/signals/SYM001").json()["date"] == "2025-12-29"
    assert isinstance(app.state.factory.reader, SnapshotReader)
