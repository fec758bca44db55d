"""The API's promises beyond each route's answer: one error shape, every field described, docs current and
offline, answers computed once per snapshot, and the page's own numbers on known data."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from foresight.api import create_app
from foresight.apidocs import compute_api_markdown, compute_openapi
from foresight.services import DashboardService, MLSignalService, ServiceFactory
from foresight.settings import Settings
from stores.snapshots import SnapshotReader, publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import Warehouse, transaction, upsert, utcnow
from tests.unit.foresight.serving_data import ensure_contract_tables, fit_columns, write_night

DOCS = Path(__file__).resolve().parents[3] / "docs"
DATES = [dt.date(2025, 12, 24), dt.date(2025, 12, 26), dt.date(2025, 12, 29), dt.date(2025, 12, 30)]


@pytest.fixture
def home(tmp_path):
    settings = Settings(home=tmp_path / "home")
    wh = Warehouse(settings.duckdb_path)
    ensure_contract_tables(wh)
    # Regime labels high_vol_bear, calm_bull, calm_bull, calm_bull (label = seed parity).
    for d, seed in zip(DATES, (1, 0, 2, 4), strict=True):
        write_night(wh, d, seed=seed)
    publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
    return settings, wh


class _Broken:
    def signal(self, *_):
        raise RuntimeError("disk on fire")


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/no/such/route", 404, "not_found"),
        ("POST", "/signals/SYM001", 405, "method_not_allowed"),
        ("GET", "/signals?top=ten", 422, "invalid"),
        ("GET", "/signals/SYM$1", 422, "invalid"),
        ("GET", "/market-data/regime/history?start=2025-12-30&end=2025-12-01", 422, "invalid"),
        ("GET", "/signals/ZZZ", 404, "not_found"),
        ("GET", "/dashboard/reports/foresight-signal", 404, "not_found"),
    ],
)
def test_every_error_has_the_one_shape(home, method, path, status, error):
    with TestClient(create_app(home[0])) as client:
        r = client.request(method, path)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == error and isinstance(body["detail"], str)


def test_503_and_500_have_the_one_shape_too(home, tmp_path):
    with TestClient(create_app(Settings(home=tmp_path / "empty"))) as client:
        r = client.get("/signals")
    assert r.status_code == 503 and set(r.json()) == {"error", "detail"}
    factory = ServiceFactory.default(SnapshotReader(snapshot_dir(home[0].home)), home[0])
    factory.register("MLSignalService", lambda f: _Broken())
    with TestClient(create_app(factory=factory), raise_server_exceptions=False) as client:
        r = client.get("/signals/SYM001")
    assert r.status_code == 500
    assert r.json() == {"error": "internal", "detail": "internal error (RuntimeError)"}


def test_every_response_field_is_described_and_every_answer_typed():
    spec = compute_openapi()
    undocumented = [f"{name}.{field}" for name, model in spec["components"]["schemas"].items()
                    for field, node in model.get("properties", {}).items() if not node.get("description")]
    assert undocumented == []
    for path, ops in spec["paths"].items():
        for status, resp in ops["get"]["responses"].items():
            schema = resp.get("content", {}).get("application/json", {}).get("schema")
            if path == "/dashboard/reports/{model}" and status == "200":
                assert "text/html" in resp["content"]
                continue
            assert schema is not None, (path, status)
            assert "$ref" in schema or "$ref" in schema.get("items", {}), (path, status, schema)
            if status != "200" and path != "/health":
                assert schema["$ref"].endswith("/ErrorOut"), (path, status)
    assert spec["paths"]["/backtest/runs"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "items"]["$ref"].endswith("/BacktestRunOut")


def test_docs_folder_is_generated_from_the_code():
    spec = compute_openapi()
    stale = "stale: run `make docs` (python -m foresight.apidocs docs)"
    assert json.loads((DOCS / "openapi.json").read_text()) == spec, stale
    assert (DOCS / "api.md").read_text() == compute_api_markdown(spec), stale


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_use_local_assets_only(home, page):
    with TestClient(create_app(home[0])) as client:
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html) + re.findall(r'url: ?["\']([^"\']+)', html)
        assert assets, html
        for url in assets:
            assert not url.startswith(("http:", "https:", "//")), url
            assert client.get(url).status_code == 200, url


def test_the_page_and_its_assets_are_served(home):
    with TestClient(create_app(home[0])) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        scripts = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(/[^"]+)"', page.text)
        assert "/dashboard/static/chart.umd.min.js" in scripts
        for url in scripts:
            assert client.get(url).status_code == 200, url
    assert "/" not in compute_openapi()["paths"]


def test_each_answer_is_computed_once_per_snapshot(home, monkeypatch):
    settings, wh = home
    calls = {"kpis": 0, "signal": 0, "route": 0}
    real_kpis, real_route = DashboardService._kpis, DashboardService.kpis
    real_signal, real_latest = MLSignalService._signal, MLSignalService._latest_signals

    def counting_kpis(self):
        calls["kpis"] += 1
        return real_kpis(self)

    def counting_signal(self, *a):
        calls["signal"] += 1
        return real_signal(self, *a)

    def counting_route(self):
        calls["route"] += 1
        return real_route(self)

    monkeypatch.setattr(DashboardService, "kpis", counting_route)
    monkeypatch.setattr(DashboardService, "_kpis", counting_kpis)
    def counting_latest(self, *a):
        calls["signal"] += 1
        return real_latest(self, *a)

    monkeypatch.setattr(MLSignalService, "_signal", counting_signal)
    monkeypatch.setattr(MLSignalService, "_latest_signals", counting_latest)
    with TestClient(create_app(settings)) as client:
        first = [client.get("/dashboard/kpis") for _ in range(5)]
        assert {r.content for r in first} == {first[0].content}
        sig = [client.get("/signals/SYM001").content for _ in range(5)]
        assert len(set(sig)) == 1
        # The HTTP layer replays the first answer: the route ran once, and so did the computation.
        assert calls == {"kpis": 1, "signal": 1, "route": 1}
        write_night(wh, dt.date(2025, 12, 31), seed=6)
        publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
        # served once its answers are prepared (test_http_cache.py): each computed once on it, then replayed
        deadline = time.monotonic() + 30
        while client.get("/dashboard/kpis").json()["panels"]["signals"]["latest_date"] != "2025-12-31":
            assert time.monotonic() < deadline, "the published snapshot was never served"
            time.sleep(0.02)
        assert client.get("/signals/SYM001").json()["date"] == "2025-12-31"
        client.get("/dashboard/kpis")
        assert calls == {"kpis": 2, "signal": 2, "route": 2}
    # Without the HTTP layer the services keep their own answer per snapshot too.
    factory = ServiceFactory.default(SnapshotReader(snapshot_dir(settings.home)), settings)
    dash = factory.get("DashboardService")
    assert dash.kpis() is dash.kpis() and calls["kpis"] == 3 and calls["route"] == 4


def test_every_latest_signal_is_the_row_a_single_look_up_picks(home):
    settings, wh = home
    # A re-scored symbol (newer version) and a symbol whose latest date is older than the others'.
    write_night(wh, DATES[-1], symbols=["SYM001"], seed=9)
    with wh.session() as con:
        con.execute("UPDATE signals SET model_version = '2', scored_at = scored_at + INTERVAL 1 HOUR "
                    "WHERE symbol = 'SYM001' AND date = ?", [DATES[-1]])
        con.execute("DELETE FROM signals WHERE symbol = 'SYM002' AND date = ?", [DATES[-1]])
    publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
    service = ServiceFactory.default(SnapshotReader(snapshot_dir(settings.home)), settings).get("MLSignalService")
    with service.reader.cursor() as con:
        latest = service._latest_signals(con)
        single = {s: service._signal(con, s, None) for s in latest}
    assert latest == single and len(latest) == 7 and "SYM002" not in latest
    assert service.signal("SYM002")["date"] == DATES[-2].isoformat()


def test_regime_summary_counts_the_current_run(home):
    with TestClient(create_app(home[0])) as client:
        body = client.get("/dashboard/regime").json()
    assert body["regime"]["regime"] == "calm_bull"
    assert body["duration_sessions"] == 3 and body["since"] == "2025-12-26"
    assert [h["regime"] for h in body["history"]] == ["high_vol_bear", "calm_bull", "calm_bull", "calm_bull"]
    assert body["history"][-1]["probability"] == 0.8


def _planted_home(tmp_path, sign: float) -> Settings:
    """Bars of 6 symbols over 40 sessions; each signal's probability is a monotone function of its
    5-session forward return (sign=+1: perfect skill, -1: perfectly wrong)."""
    settings = Settings(home=tmp_path / f"planted{int(sign)}")
    wh = Warehouse(settings.duckdb_path)
    ensure_contract_tables(wh)
    rng = np.random.default_rng(5)
    days = pd.bdate_range("2025-10-01", periods=40).date
    symbols = [f"S{i}" for i in range(6)]
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (len(days), len(symbols))), axis=0))
    bars = pd.DataFrame({"symbol": np.tile(symbols, len(days)), "date": np.repeat(days, len(symbols)),
                         "open": close.ravel(), "high": close.ravel(), "low": close.ravel(), "close": close.ravel(),
                         "adj_close": close.ravel(), "volume": 1.0, "source": "t", "ingested_at": utcnow()})
    fwd = close[5:] / close[:-5] - 1
    rows = [{"symbol": s, "date": days[i], "model_name": "foresight-signal", "model_version": "1",
             "probability": float(0.5 + 0.45 * np.tanh(sign * 30 * fwd[i, j])), "raw_score": 0.0,
             "attribution": "[]", "run_id": "t", "scored_at": utcnow()}
            for i in range(len(fwd)) for j, s in enumerate(symbols)]
    with wh.session() as con, transaction(con):
        upsert(con, "bars", fit_columns(con, "bars", bars), ["symbol", "date"])
        upsert(con, "signals", fit_columns(con, "signals", pd.DataFrame(rows)),
               ["symbol", "date", "model_name", "model_version"])
    publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
    return settings


@pytest.mark.parametrize(("sign", "auc", "ic"), [(1.0, 1.0, 1.0), (-1.0, 0.0, -1.0)])
def test_signal_skill_known_answer(tmp_path, sign, auc, ic):
    with TestClient(create_app(_planted_home(tmp_path, sign))) as client:
        body = client.get("/dashboard/signal-skill").json()
    assert body["horizon"] == 5 and [m["month"] for m in body["months"]] == ["2025-10", "2025-11"]
    for m in body["months"]:
        assert m["auc"] == pytest.approx(auc) and m["ic"] == pytest.approx(ic)
    assert sum(m["n"] for m in body["months"]) == 35 * 6 == body["n_calibration"]
    bins = body["reliability"]
    assert sum(b["count"] for b in bins) == body["n_calibration"]
    if sign > 0:  # high probabilities are exactly the rises
        assert bins[-1]["observed_frequency"] == 1.0 and bins[0]["observed_frequency"] == 0.0


def test_forecast_answers_say_which_model_made_them(home):
    with TestClient(create_app(home[0])) as client:
        fc = client.get("/portfolio/forecast").json()
        fan = client.get("/dashboard/forecast-fan").json()
    assert {f["method"] for f in fc["forecasts"]} == {"test"}  # the fixture's filler for the NOT NULL column
    assert [f["horizon_days"] for f in fan["forecasts"]] == [5, 21]
    assert [p["date"] for p in fan["realised"]] == [d.isoformat() for d in DATES]
    assert all(f["target_date"] > fan["as_of"] for f in fan["forecasts"])


def test_symbol_history_is_oldest_first_and_404_for_unknown(home):
    with TestClient(create_app(home[0])) as client:
        body = client.get("/signals/sym001/history").json()
        assert client.get("/signals/NOPE/history").status_code == 404
    assert body["symbol"] == "SYM001"
    assert [p["date"] for p in body["prices"]] == [d.isoformat() for d in DATES]
    assert [s["date"] for s in body["signals"]] == [d.isoformat() for d in DATES]
    assert [a["feature"] for a in body["signals"][-1]["attribution"]] == ["ret_10d", "other"]
