"""The morning page in a real browser (Debian's Chromium driven by Playwright) over a demo-like home:
every panel shows the numbers of the JSON routes, nothing is fetched from outside 127.0.0.1, the console
stays clean, and a screenshot is left in the reports folder."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from foresight.api import create_app
from tests.integration.dashboard_home import build_dashboard_home

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FORESIGHT_CHROMIUM", "/usr/bin/chromium")
REPORTS = Path(os.environ.get("FORESIGHT_TEST_REPORTS", ROOT / "reports"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = build_dashboard_home(tmp_path_factory.mktemp("page") / "home")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield base
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"])
        yield b
        b.close()


class Page:
    """A page whose console errors, page errors and outside requests are recorded (outside ones aborted)."""

    def __init__(self, browser, base: str):
        self.base = base
        self.page = browser.new_page(viewport={"width": 1440, "height": 1000})
        self.problems: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.route("**/*", self._only_local)

    def _only_local(self, route) -> None:
        if route.request.url.startswith(("http://127.0.0.1", "data:")):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def value(self, selector: str) -> float:
        return float(self.page.locator(selector).first.get_attribute("data-value"))

    def text(self, selector: str) -> str:
        return self.page.locator(selector).first.inner_text().strip()


def _shown(page: Page, selector: str, expected: float, digits: int) -> None:
    """The element keeps the route's exact value and shows it rounded to `digits`."""
    assert page.value(selector) == pytest.approx(expected, rel=1e-12, abs=1e-15), selector
    assert float(page.text(selector).rstrip("%")) == pytest.approx(expected, abs=0.51 * 10**-digits), selector


@pytest.fixture(scope="module")
def loaded(server, browser):
    page = Page(browser, server)
    page.page.goto(server + "/")
    page.page.wait_for_function("document.body.dataset.ready", timeout=30_000)
    yield page
    page.page.close()


def test_page_loads_without_console_errors_or_outside_requests(loaded):
    assert loaded.page.evaluate("document.body.dataset.ready") == "1"
    assert loaded.problems == []
    assert loaded.outside == []
    # Every chart drew on its canvas.
    for chart in ("chart-skill", "chart-reliability", "chart-coverage", "chart-fan", "chart-price", "chart-attribution"):
        assert loaded.page.evaluate(f"!!Chart.getChart('{chart}')"), chart


def test_regime_panel_matches_the_routes(loaded, server):
    summary = httpx.get(server + "/dashboard/regime").json()
    now = httpx.get(server + "/market-data/regime").json()
    assert summary["regime"] == now
    assert loaded.text("#regime-label") == now["regime"]
    assert loaded.value("#regime-duration") == summary["duration_sessions"]
    assert loaded.text("#regime-since") == summary["since"]
    for name, p in now["probabilities"].items():
        _shown(loaded, f'[data-regime="{name}"]', p, 3)
    assert loaded.page.locator("#regime-strip > div").count() == len(summary["history"])
    last = loaded.page.locator("#regime-strip > div").last.get_attribute("title")
    assert last == f"{now['date']}: {now['regime']}"


def test_kpi_panels_match_the_routes(loaded, server):
    kpis = httpx.get(server + "/dashboard/kpis").json()
    skill = httpx.get(server + "/dashboard/signal-skill").json()
    last = skill["months"][-1]
    _shown(loaded, "#skill-auc", last["auc"], 3)
    _shown(loaded, "#skill-ic", last["ic"], 3)
    _shown(loaded, "#skill-ece", skill["ece"], 3)
    coverage = kpis["panels"]["forecast_coverage"]
    assert coverage, "the demo-like home has matured forecasts"
    for h, row in coverage.items():
        _shown(loaded, f'#coverage-rows tr[data-horizon="{h}"] [data-field="coverage"]', row["coverage"], 3)
        _shown(loaded, f'#coverage-rows tr[data-horizon="{h}"] [data-field="pinball"]', row["pinball"], 4)
    var = kpis["panels"]["forecast"]["var"]
    assert loaded.page.locator("#var-light").get_attribute("class") == f"light {var['basel_zone']}"
    assert loaded.text("#var-zone") == var["basel_zone"]
    assert loaded.value("#var-exceptions") == var["basel_exceptions"]
    assert loaded.value("#var-window") == var["basel_window"]
    _shown(loaded, '#risk-list [data-field="kupiec_p"]', var["var99"]["kupiec_p"], 3)
    _shown(loaded, '#risk-list [data-field="cc_p"]', var["var99"]["cc_p"], 3)
    assert loaded.value('#risk-list [data-field="realized_max_drawdown"]') == pytest.approx(var["realized_max_drawdown"])
    bt = kpis["panels"]["backtest"]
    _shown(loaded, '#backtest-list [data-field="sharpe"]', bt["sharpe"], 2)
    _shown(loaded, '#backtest-list [data-field="baseline_sharpe"]', bt["baseline_sharpe"], 2)
    assert loaded.value('#backtest-list [data-field="sharpe_delta"]') == pytest.approx(bt["sharpe_delta"])
    lo, hi = bt["sharpe_delta_ci"]
    assert loaded.text('#backtest-list [data-field="sharpe_delta"]') == f"{bt['sharpe_delta']:.2f} [{lo:.2f}, {hi:.2f}]"


def test_leading_indicators_are_shown_with_their_values(loaded, server):
    leading = httpx.get(server + "/dashboard/kpis").json()["panels"]["leading_indicators"]
    # The demo-like home's night measured freshness and the regime refresh latency
    assert {"freshness_signals", "regime_latency_from_close"} <= set(leading)
    for name, v in leading.items():
        dd = loaded.page.locator(f'#leading-list [data-field="{name}"]')
        assert dd.count() == 1, name
        shown = dd.get_attribute("data-value")
        assert (shown == "") if v["value"] is None else float(shown) == pytest.approx(v["value"]), name
        assert v["status"] in dd.inner_text() and v["unit"] in dd.inner_text(), name


def test_monitoring_panel_links_each_model_to_its_report(loaded, server):
    kpis = httpx.get(server + "/dashboard/kpis").json()
    for m in kpis["panels"]["monitoring"]:
        row = loaded.page.locator(f'#monitoring-rows tr[data-model="{m["model"]}"]')
        assert row.locator('[data-field="status"]').inner_text() == m["status"]
        if m["reasons"]:
            assert m["reasons"] in row.inner_text()
        link = row.locator("a")
        if m["html_path"]:
            href = link.get_attribute("href")
            r = httpx.get(server + href)
            assert r.status_code == 200 and "drift report" in r.text
        else:
            assert link.count() == 0


def test_fan_shows_the_forecast_and_who_made_it(loaded, server):
    fan = httpx.get(server + "/dashboard/forecast-fan").json()
    forecast = httpx.get(server + "/portfolio/forecast").json()
    assert [{k: f[k] for k in ("horizon_days", "p05", "p50", "p95", "method")} for f in fan["forecasts"]] == \
        [{k: f[k] for k in ("horizon_days", "p05", "p50", "p95", "method")} for f in forecast["forecasts"]]
    for f in fan["forecasts"]:
        row = f'#fan-rows tr[data-horizon="{f["horizon_days"]}"]'
        for q in ("p05", "p50", "p95"):
            _shown(loaded, f'{row} [data-field="{q}"]', f[q], 3)
        assert loaded.text(f'{row} [data-field="method"]') == f"{f['method']} (v{f['model_version']})"
    assert "gaussian" in loaded.text("#fan-model") and forecast["as_of"] in loaded.text("#fan-model")
    points = loaded.page.evaluate("Chart.getChart('chart-fan').data.datasets[0].data.length")
    assert points == len(fan["realised"])


def test_signals_table_and_symbol_page(loaded, server):
    cross = httpx.get(server + "/signals", params={"top": 15}).json()
    rows = loaded.page.locator("#signal-rows tr")
    assert rows.count() == cross["count"]
    for i, s in enumerate(cross["signals"]):
        row = rows.nth(i)
        assert row.get_attribute("data-symbol") == s["symbol"]
        assert float(row.locator('[data-field="probability"]').get_attribute("data-value")) == pytest.approx(s["probability"])
        assert row.locator(".attr .seg").count() == sum(a["contribution"] is not None for a in s["attribution"])
    # The symbol page follows a click on another row.
    pick = cross["signals"][2]["symbol"]
    rows.nth(2).click()
    loaded.page.wait_for_function(f"document.getElementById('symbol-name').textContent === '{pick}'")
    loaded.page.wait_for_function(
        "Chart.getChart('chart-price') && Chart.getChart('chart-price').data.labels.length > 0")
    hist = httpx.get(server + f"/signals/{pick}/history").json()
    one = httpx.get(server + f"/signals/{pick}").json()
    loaded.page.wait_for_function(
        f"document.getElementById('symbol-prob').dataset.value === String({hist['signals'][-1]['probability']})")
    _shown(loaded, "#symbol-close", hist["prices"][-1]["close"], 2)
    _shown(loaded, "#symbol-prob", one["probability"], 3)
    assert loaded.page.evaluate("Chart.getChart('chart-price').data.labels.length") == len(hist["prices"])
    assert loaded.page.evaluate("Chart.getChart('chart-attribution').data.labels.length") == len(hist["signals"])
    assert loaded.problems == []


def test_screenshot_is_left_in_the_reports_folder(loaded):
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / "dashboard.png"
    loaded.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 50_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".swagger-ui .opblock"), ("/redoc", "[data-section-id]")])
def test_api_docs_render_offline(server, browser, path, ready):
    page = Page(browser, server)
    page.page.goto(server + path)
    page.page.wait_for_selector(ready, timeout=30_000)
    # ReDoc's bundle asks for its vendor's logo and drops the image when that fails; nothing else may leave.
    assert [u for u in page.outside if u != "https://cdn.redoc.ly/redoc/logo-mini.svg"] == []
    assert page.page.locator(ready).count() >= 5
    errors = [p for p in page.problems if "error" in p]
    if page.outside:  # the refused logo is the one failed load the console reports
        errors.remove("console error: Failed to load resource: net::ERR_FAILED")
    assert errors == []
    page.page.close()
