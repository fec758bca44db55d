"""The `monitor` Prefect flow under the test harness: an ALERT fails the alert task and leaves a markdown
artifact linking the report, while the flow itself completes (the night's tables are never blocked)."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd


def _write_evaluations(ctx, coverage: float) -> None:
    from stores.warehouse import transaction, upsert, utcnow

    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2025-01-02", periods=120)
    frame = pd.DataFrame({
        "as_of": dates.date, "portfolio": "equal_weight", "horizon_days": 5, "realized": 1.0,
        "p05": 0.9, "p50": 1.0, "p95": 1.1, "covered": rng.random(120) < coverage,
        "pinball": rng.gamma(2.0, 0.01, 120), "evaluated_at": utcnow(), "realized_on": dates.date,
        "start_equity": 1.0,
    })
    with ctx.warehouse.session() as con, transaction(con):
        upsert(con, "forecast_evaluations", frame, ["as_of", "portfolio", "horizon_days"])


def test_alert_fails_the_monitoring_task_and_publishes_an_artifact(prefect_harness, home):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
    )
    from prefect.client.schemas.sorting import ArtifactSort, TaskRunSort

    from flows.monitor import monitor_flow
    from foresight.context import build_context

    # Given forecast bands that cover only ~60% of outcomes (nominal 90%)
    ctx = build_context()
    ctx.warehouse.migrate()
    _write_evaluations(ctx, coverage=0.6)

    state = monitor_flow(return_state=True)

    # Then the flow completes and returns the ALERT, the alert task failed, and the artifact links the report
    assert state.is_completed()
    result = state.result()
    assert result["status"] == "ALERT"
    assert result["runs"][0]["model"] == "foresight-forecast"
    flow_run_id = state.state_details.flow_run_id
    async def _read():
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=50,
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            )
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["monitoring-alert"])),
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                task_run_filter=TaskRunFilter(), sort=ArtifactSort.CREATED_DESC, limit=10,
            )
            return runs, arts

    task_runs, artifacts = asyncio.run(_read())
    states = {tr.name.rsplit("-", 1)[0]: tr.state.type.value for tr in task_runs}
    assert states["monitor-models"] == "COMPLETED"
    assert states["monitoring-alert"] == "FAILED"
    assert artifacts, "an ALERT leaves a markdown artifact"
    body = artifacts[0].data
    assert "ALERT" in body and "foresight-forecast" in body and "report.html" in body

    # And a calm night leaves the alert task completed
    _write_evaluations(ctx, coverage=0.9)
    calm = monitor_flow(return_state=True)
    assert calm.result()["status"] in ("OK", "WARN")
