"""The nightly flow and the deployments under Prefect's test harness (one ephemeral API per session)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from flows import steps
from flows.deploy import SCHEDULES, TIMEZONE, build_deployments
from foresight.settings import Settings
from stores.snapshots import SnapshotReader, read_pointer, snapshot_dir
from stores.warehouse import Warehouse
from tests.unit.foresight.serving_data import SYMBOLS, ensure_contract_tables, write_night

# The scoring steps are skipped here so the flow's own wiring is what is tested.
SCORING_STEPS = ["features", "signals", "regimes", "forecasts", "evaluation", "monitoring"]


def _pipeline_runs(home) -> list[dict]:
    with Warehouse(Settings(home=home).duckdb_path).session(read_only=True) as con:
        cur = con.execute("SELECT flow, as_of, status, message, steps FROM pipeline_runs ORDER BY started_at")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_deployments_have_their_flows_and_schedules(prefect_harness):
    deps = {d.name: d for d in build_deployments()}
    assert set(deps) == {s.name for s in SCHEDULES}
    expected = {
        "nightly": ("nightly", "30 17 * * 1-5"),
        "train-signals-weekly": ("train-signals", "0 6 * * 6"),
        "monitor-daily": ("monitor", "0 7 * * *"),
    }
    for name, (flow_name, cron) in expected.items():
        d = deps[name]
        assert d.flow_name == flow_name
        assert [(s.schedule.cron, s.schedule.timezone) for s in d.schedules] == [(cron, TIMEZONE)]
    # 17:30 on weekdays in New York: after a Friday noon come Friday 17:30, then Monday 17:30.
    import asyncio
    from zoneinfo import ZoneInfo

    from prefect.server.schemas.schedules import CronSchedule

    sched = CronSchedule(cron=deps["nightly"].schedules[0].schedule.cron, timezone=TIMEZONE)
    fri = dt.datetime(2025, 12, 5, 12, 0, tzinfo=ZoneInfo(TIMEZONE))
    runs = asyncio.run(sched.get_dates(2, start=fri))
    assert [(r.weekday(), r.hour, r.minute) for r in runs] == [(4, 17, 30), (0, 17, 30)]


def test_nightly_publishes_a_snapshot_of_the_committed_night(prefect_harness, home):
    from flows.nightly import nightly

    wh = Warehouse(Settings().duckdb_path)
    ensure_contract_tables(wh)
    write_night(wh, dt.date(2025, 12, 30))
    result = nightly(source="none", skip=SCORING_STEPS)
    assert result["as_of"] == "2025-12-30"
    assert result["steps"]["publish"]["as_of"] == "2025-12-30"
    info = read_pointer(snapshot_dir(home))
    assert info is not None and info.tables["signals"] == len(SYMBOLS)
    reader = SnapshotReader(snapshot_dir(home))
    with reader.cursor() as con:
        status = con.execute("SELECT status FROM pipeline_runs").fetchall()
    reader.close()
    assert status == [("ok",)]


def test_nightly_without_a_champion_fails_with_an_actionable_message(prefect_harness, home):
    from flows.nightly import nightly

    wh = Warehouse(Settings().duckdb_path)
    ensure_contract_tables(wh)
    write_night(wh, dt.date(2025, 12, 30))
    with pytest.raises(steps.StepFailed) as err:
        nightly(source="none", skip=["features", "regimes", "forecasts", "evaluation", "monitoring"])
    assert "signals" in str(err.value) and "foresight train signals" in str(err.value)
    runs = _pipeline_runs(home)
    assert runs[-1]["status"] == "failed" and "foresight train signals" in runs[-1]["message"]
    # Nothing was published: the API keeps the previous snapshot (here: none).
    assert read_pointer(snapshot_dir(home)) is None


def test_an_unknown_step_to_skip_is_refused(prefect_harness, home):
    from flows.nightly import nightly

    with pytest.raises(steps.StepFailed, match="unknown step.*nope"):
        nightly(source="none", skip=["nope"])


def test_pipeline_run_audit_row(home):
    ctx_settings = Settings()
    from foresight.context import AppContext

    ctx = AppContext(ctx_settings)
    run = steps.PipelineRun("nightly", as_of=dt.date(2025, 12, 30))
    run.steps["ingest"] = {"inserted": 3}
    run.save(ctx, "running")
    run.save(ctx, "ok")
    rows = _pipeline_runs(home)
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    assert json.loads(rows[0]["steps"]) == {"ingest": {"inserted": 3}}


def test_deployment_passes_the_nightly_source():
    deps = {d.name: d for d in build_deployments(nightly_source="csv", nightly_path="/data/bars")}
    assert deps["nightly"].parameters == {"source": "csv", "path": "/data/bars"}
    assert not deps["monitor-daily"].parameters


def test_score_command_validates_the_range(home):
    from typer.testing import CliRunner

    from foresight.cli import app

    bad = CliRunner().invoke(app, ["score", "--start", "2025-12-31", "--end", "2025-12-01"])
    assert bad.exit_code == 2 and "after" in bad.output
    bad_date = CliRunner().invoke(app, ["score", "--start", "2025-02-30"])
    assert bad_date.exit_code == 2


def test_untrained_optional_products_are_skipped_by_type(home):
    from foresight.context import AppContext

    ctx = AppContext(Settings())
    ensure_contract_tables(ctx.warehouse)
    write_night(ctx.warehouse, dt.date(2025, 12, 30))
    # Given no registered regime or forecast model, the optional products are skipped with the reason
    out = steps.step_regimes(ctx, None, None)
    assert isinstance(out, steps.Skipped)
    assert out.as_dict() == {"skipped": "score regimes: no 'champion' version of foresight-regime: "
                                        "run `foresight train regimes` first"}
    assert isinstance(steps.step_forecasts(ctx, None), steps.Skipped)
    # while the required product fails the night with what to run
    with pytest.raises(steps.StepFailed, match="foresight train signals"):
        steps.step_signals(ctx, None, None)
