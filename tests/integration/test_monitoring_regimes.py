"""Regime monitoring end to end: the regime mirror in a real DuckDB, `run_monitor`, the report files, the
`monitoring_runs` row and the `foresight-regime` project in the Evidently workspace; then the saved report
in Chromium, where the status and its reasons are what a reader sees first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.synthetic import make_regime_params, make_regime_returns, make_regime_rows

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FORESIGHT_CHROMIUM", "/usr/bin/chromium")
REPORTS = Path(os.environ.get("FORESIGHT_TEST_REPORTS", ROOT / "reports"))
REGIME_MODEL, VERSION, CRASH = "foresight-regime", "3", "high_vol_bear"


def _mirror_rows(n_ref: int, n_cur: int, seed: int = 11) -> pd.DataFrame:
    """The mirror of one regime model version: its own world for `n_ref` sessions, then a market twice as
    volatile as its worst state."""
    params = make_regime_params()
    rng = np.random.default_rng(seed)
    _, ref = make_regime_returns(n_ref, rng, params)
    crash = params.means[2] + 2.0 * params.vols[2] * rng.normal(size=n_cur)
    rows = make_regime_rows(np.r_[ref, crash], params)
    states = [c for c in rows.columns if c.startswith("p_")]
    return pd.DataFrame({
        "date": pd.to_datetime(rows["date"]).dt.date, "universe": "default", "regime": rows["regime"],
        "probabilities": [json.dumps({c[2:]: float(v) for c, v in zip(states, r, strict=True)}, sort_keys=True)
                          for r in rows[states].to_numpy()],
        "model_name": REGIME_MODEL, "model_version": VERSION, "scored_at": pd.Timestamp("2026-01-01"),
        "in_sample": False,
    })


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    from foresight.context import build_context
    from monitoring.service import run_monitor
    from stores.warehouse import transaction, upsert

    root = tmp_path_factory.mktemp("regimes")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORESIGHT_HOME", str(root / "home"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlruns/mlflow.db")
        ctx = build_context()
        ctx.warehouse.migrate()
        ms = ctx.settings.monitoring
        rows = _mirror_rows(ms.regime_reference_sessions + 40, ms.regime_window_sessions)
        with ctx.warehouse.session() as con, transaction(con):
            upsert(con, "regimes", rows, ["universe", "date", "model_version"])
        before = run_monitor(ctx, rows["date"].iloc[-ms.regime_window_sessions - 1])
        result = run_monitor(ctx)
        yield ctx, rows, result, before


def test_run_monitor_judges_the_regime_mirror_and_keeps_a_regime_project(monitored):
    from evidently.ui.workspace import Workspace

    from monitoring.store import STATUS_PANEL, load_latest_monitoring

    ctx, rows, result, _ = monitored
    ms = ctx.settings.monitoring
    # no signals and no forecasts: the regime mirror alone is monitored, as of its latest date
    assert result.date == rows["date"].max()
    (run,) = result.runs
    assert (run.model, run.version, run.status) == (REGIME_MODEL, VERSION, "WARN")
    assert CRASH in run.summary["drifted_states"]
    assert run.summary["n_current"] == ms.regime_window_sessions
    assert run.summary["n_reference"] == ms.regime_reference_sessions
    assert run.summary["null"] == "markov"
    # the files and the summary row
    folder = ctx.settings.reports_dir / REGIME_MODEL / result.date.isoformat()
    assert {p.name for p in folder.iterdir()} == {"report.html", "report.json", "summary.json"}
    with ctx.warehouse.session(read_only=True) as con:
        latest = {r["model"]: r for r in load_latest_monitoring(con)}
    assert latest[REGIME_MODEL]["status"] == "WARN" and CRASH in latest[REGIME_MODEL]["reasons"]
    # one project for regimes, its dashboard: status, state probabilities, durations
    ws = Workspace.create(str(ctx.settings.home / ms.workspace_dirname))
    (project,) = ws.search_project(REGIME_MODEL)
    panels = ws.get_dashboard(project.id).panels
    assert [p.title for p in panels][0] == STATUS_PANEL
    metrics = [[v.metric.rsplit(":", 1)[-1] for v in p.values] for p in panels]
    assert metrics == [["MonitoringStatus"], ["MeanValue"], ["RegimeDuration"]]
    # every panel plots a metric type the stored run holds
    saved = json.loads((folder / "report.json").read_text())
    assert {v.metric for p in panels for v in p.values} <= {m["config"]["type"] for m in saved["metrics"]}
    assert len(ws.list_runs(project.id)) == 2


def test_the_status_of_every_run_is_one_series_on_the_dashboard(monitored):
    """The workspace's own storage (what `evidently ui` serves) finds one status series across runs whose
    statuses and reasons differ: the status is data of the run, not a parameter of its metric."""
    import asyncio

    from evidently.ui.service.base import SeriesFilter
    from evidently.ui.service.storage.local.base import InMemoryDataStorage
    from evidently.ui.workspace import Workspace

    ctx, _, result, before = monitored
    path = str(ctx.settings.home / ctx.settings.monitoring.workspace_dirname)
    (project,) = Workspace.create(path).search_project(REGIME_MODEL)
    flt = SeriesFilter(tags=[], metadata={}, metric="evidently:metric_v2:MonitoringStatus", metric_labels={})
    found = asyncio.run(InMemoryDataStorage(path).get_data_series(project.id, [flt], None, None))
    rank = {"OK": 0.0, "WARN": 1.0, "ALERT": 2.0}
    assert [s.values for s in found.series] == [[rank[before.runs[0].status], rank[result.runs[0].status]]]


def test_the_saved_report_shows_the_status_first_in_a_browser(monitored):
    """The page as a person sees it: the status and the reasons at the top, then the state mix, the
    durations after; a screenshot of the top of the page is left in the reports folder."""
    from playwright.sync_api import sync_playwright

    ctx, _, result, _ = monitored
    html = ctx.settings.reports_dir / REGIME_MODEL / result.date.isoformat() / "report.html"
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs Debian's chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"])
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(html.as_uri())
        page.get_by_text("Monitoring status", exact=True).first.wait_for(timeout=30_000)

        def top(text: str) -> float:
            box = page.get_by_text(text).first.bounding_box()
            assert box is not None, text
            return box["y"]

        status, reasons = top("Monitoring status"), top("WARN: the reasons")
        mix, duration = top("State mix"), top(f"Duration of regime '{CRASH}'")
        assert status < reasons < mix < duration
        assert reasons < 1000  # the reasons are on the first screen
        assert page.get_by_text("state-probability drift").first.is_visible()
        REPORTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(REPORTS / "monitoring-regime-report.png"))
        browser.close()
