"""Prefect flow `monitor`: drift and calibration reports after the nightly run; an ALERT fails a task."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.runtime import build_context
from monitoring.service import run_monitor


class MonitoringAlert(RuntimeError):
    """Raised by the alert task so the Prefect run shows a failed monitoring task."""


@task(name="monitor-models", cache_policy=NO_CACHE)
def monitor_models(ctx, date: dt.date | None = None) -> dict[str, Any]:
    """Run the monitoring use case; returns MonitorResult.as_dict()."""
    result = run_monitor(ctx, date)
    logger = get_run_logger()
    for r in result.runs:
        logger.info("%s v%s %s: %s %s", r.model, r.version, r.date, r.status, "; ".join(r.reasons))
    return result.as_dict()


def compute_alert_markdown(result: dict[str, Any]) -> str:
    """The markdown body of the alert artifact: one section per model with its reasons and report links."""
    lines = [f"# Monitoring {result['status']} on {result['date']}", ""]
    for r in result["runs"]:
        lines.append(f"## {r['model']} v{r['version']}: **{r['status']}**")
        lines += [f"- {reason}" for reason in r["reasons"]] or ["- no finding"]
        if r.get("report_path"):
            lines.append(f"- report: [{r['report_path']}](file://{r['report_path']})")
        if r.get("json_path"):
            lines.append(f"- summary: [{r['json_path']}](file://{r['json_path']})")
        lines.append("")
    return "\n".join(lines)


@task(name="monitoring-alert", retries=0, cache_policy=NO_CACHE)
def raise_on_alert(result: dict[str, Any]) -> str:
    """Publish a markdown artifact when a model is on ALERT and fail this task (never the night's tables)."""
    if result["status"] != "ALERT":
        return result["status"]
    create_markdown_artifact(
        key="monitoring-alert", markdown=compute_alert_markdown(result),
        description=f"Foresight monitoring ALERT {result['date']}",
    )
    alerted = [f"{r['model']} v{r['version']}" for r in result["runs"] if r["status"] == "ALERT"]
    raise MonitoringAlert(f"monitoring ALERT for {', '.join(alerted)} on {result['date']}")


def monitor_in_flow(ctx, date: dt.date | None = None) -> dict[str, Any]:
    """The monitoring tasks for use inside any flow (the nightly one). Neither an ALERT nor an error in
    monitoring raises here: the failed task shows in the run and the calling flow goes on (publishes)."""
    state = monitor_models(ctx, date, return_state=True)
    if state.is_failed():
        return {"date": str(date) if date else None, "status": "ERROR", "error": str(state.message), "runs": []}
    result = state.result()
    raise_on_alert(result, return_state=True)
    return result


@flow(name="monitor", log_prints=True)
def monitor_flow(date: dt.date | None = None) -> dict[str, Any]:
    """Monitor the models scored on `date` (default: the latest scored date)."""
    return monitor_in_flow(build_context(), date)


__all__ = ["MonitoringAlert", "compute_alert_markdown", "monitor_flow", "monitor_in_flow"]
