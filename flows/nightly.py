"""Prefect flow `nightly`: ingest -> features -> signals -> regimes -> forecasts -> evaluation ->
monitoring -> publish the API's read snapshot. Thin: every step is a function of flows.steps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from flows import steps
from flows.monitor import monitor_in_flow
from flows.runtime import AppContext, build_context
from flows.steps import PipelineRun, Skipped, StepFailed
from stores.warehouse import utcnow

# The steps after ingest, in order; each can be left out with `skip`.
STEPS = ("features", "signals", "regimes", "forecasts", "evaluation", "monitoring", "indicators")


def _retry_transient(task, task_run, state) -> bool:
    """Retry I/O hiccups, never a failure a retry cannot fix (missing model, bad input)."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - a result we cannot read: let the retry happen
        return True
    return not isinstance(exc, StepFailed | ValueError | LookupError)


def _task(name: str, retries: int = 1, delay: float = 5):
    return task(name=name, retries=retries, retry_delay_seconds=delay, retry_condition_fn=_retry_transient,
                cache_policy=NO_CACHE)


@_task("ingest", retries=2)
def ingest_task(source: str, path: str | None) -> steps.StepReport:
    return steps.step_ingest(build_context(), source, path)


@_task("features")
def features_task(full: bool) -> steps.StepReport:
    return steps.step_features(build_context(), full)


@_task("score-signals")
def signals_task(start: dt.date | None, end: dt.date | None) -> steps.StepReport:
    return steps.step_signals(build_context(), start, end)


@_task("score-regimes", retries=2)
def regimes_task(start: dt.date | None, end: dt.date | None) -> steps.StepReport:
    return steps.step_regimes(build_context(), start, end)


@_task("score-forecasts")
def forecasts_task(as_of: dt.date | None) -> steps.StepReport:
    return steps.step_forecasts(build_context(), as_of)


@_task("evaluate-forecasts")
def evaluation_task(as_of: dt.date | None) -> steps.StepReport:
    return steps.step_evaluation(build_context(), as_of)


@_task("operating-indicators", retries=0)
def indicators_task(as_of: dt.date, run_id: str, regime_written: dt.datetime | None) -> steps.StepReport:
    return steps.step_indicators(build_context(), as_of, run_id, regime_written)


@_task("publish-snapshot", retries=2, delay=2)
def publish_task(run_id: str) -> steps.StepReport:
    return steps.step_publish(build_context(), pipeline_run=run_id)


def _regime_written(run: PipelineRun) -> dt.datetime | None:
    """When tonight's regime step wrote the session's row to MongoDB (its end), if it wrote one; otherwise
    the indicators read when the row was first written (the mirror's scored_at)."""
    regimes = run.steps.get("regimes") or {}
    end = run.timings.get("regimes", {}).get("finished_at")
    if end is None or "skipped" in regimes or not (regimes.get("mongo_inserted") or regimes.get("mongo_updated")):
        return None
    return dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC)


def _run_step(ctx: AppContext, run: PipelineRun, name: str, as_of: dt.date, full_features: bool) -> dict[str, Any]:
    """Run step `name` of the night and record its report."""
    if name == "monitoring":
        # Monitoring's own tasks: an ALERT or an error fails its task, never the night (tables publish).
        run.steps[name] = monitor_in_flow(ctx, as_of)
        return run.steps[name]
    calls = {
        "indicators": lambda: indicators_task(as_of, run.run_id, _regime_written(run)),
        "features": lambda: features_task(full_features),
        "signals": lambda: signals_task(as_of, as_of),
        "regimes": lambda: regimes_task(as_of, as_of),
        "forecasts": lambda: forecasts_task(as_of),
        "evaluation": lambda: evaluation_task(as_of),
    }
    return run.record(name, calls[name]())


@flow(name="nightly", description="The nightly batch: ingest, features, score, evaluate, monitor, publish.")
def nightly(
    as_of: dt.date | None = None,
    source: str = "sample",
    path: str | None = None,
    full_features: bool = False,
    skip: list[str] | None = None,
) -> dict[str, Any]:
    """Run the night for `as_of` (default: the last session in `bars` after ingest). A failed step fails
    the run with its message; the API keeps serving the previous snapshot until the next success."""
    logger = get_run_logger()
    ctx = build_context()
    skip_set = set(skip or [])
    unknown = skip_set - {"ingest", *STEPS}
    if unknown:
        raise StepFailed(f"unknown step(s) to skip: {', '.join(sorted(unknown))} (steps: ingest, {', '.join(STEPS)})")
    run = PipelineRun("nightly", as_of=as_of)
    run.save(ctx, "running")
    current = "ingest"
    alert = None
    try:
        started = utcnow()
        run.record("ingest", Skipped("ingest", "asked") if "ingest" in skip_set else ingest_task(source, path))
        run.time("ingest", started)
        logger.info(steps.summarise_step("ingest", run.steps["ingest"]))
        current = "as-of date"
        as_of = as_of or steps.latest_bar_date(ctx)
        run.as_of = as_of
        logger.info("nightly as of %s", as_of)
        for current in STEPS:
            if current in skip_set:
                run.record(current, Skipped(current, "asked"))
                continue
            started = utcnow()
            outcome = _run_step(ctx, run, current, as_of, full_features)
            run.time(current, started)
            logger.info(steps.summarise_step(current, outcome))
            if "skipped" in outcome and current != "indicators":
                logger.warning("skipped %s", outcome["skipped"])
            if outcome.get("sla_missed"):
                sla = (outcome.get("indicators") or {}).get("feature_sla", {})
                logger.warning("feature SLA missed for %s: features ready %s, deadline %s (%s)", as_of,
                               sla.get("ready_local"), sla.get("deadline_local"), sla.get("cause"))
            skipped = outcome.get("skipped_symbols")
            if skipped:
                logger.warning("%s: %d symbols skipped for too little history: %s", current, len(skipped),
                               ", ".join(skipped[:20]))
        current = "publish"
        alert = _monitoring_alert(run.steps.get("monitoring"))
        run.save(ctx, "alert" if alert else "ok", alert)
        started = utcnow()
        run.record("publish", publish_task(run.run_id))
        run.time("publish", started)
        logger.info(steps.summarise_step("publish", run.steps["publish"]))
    except Exception as exc:
        message = f"nightly {as_of or ''} failed at step {current!r}: {exc}"
        run.save(ctx, "failed", message)
        _leave_artifacts(run, "failed", message)
        if not isinstance(exc, StepFailed | ValueError | LookupError):
            logger.error("unexpected failure in step %r", current, exc_info=exc)
        # A Failed state, not a raise: the run page shows this one line (with what to do), not Prefect's
        # traceback; a caller of nightly() still gets StepFailed.
        return Failed(message=message, data=StepFailed(message))
    run.save(ctx, "alert" if alert else "ok", alert)
    _leave_artifacts(run, "alert" if alert else "ok", alert)
    if alert:
        # The night's tables are published; the alert is the monitoring task's failure, not the night's.
        logger.error(alert)
    return {"run_id": run.run_id, "as_of": str(as_of), "steps": run.steps}


def _leave_artifacts(run: PipelineRun, status: str, message: str | None) -> None:
    """The night's markdown summary and a link to the newest signal monitoring report, on the run page."""
    indicators = (run.steps.get("indicators") or {}).get("indicators")
    create_markdown_artifact(key="nightly-summary", markdown=steps.compute_night_markdown(run, status, message,
                                                                                         indicators),
                             description=f"Foresight nightly {run.as_of or ''}: {status}")
    for r in (run.steps.get("monitoring") or {}).get("runs", []):
        path = r.get("report_path")
        if path and r.get("model") == "foresight-signal":
            report = f"{path}/report.html" if not str(path).endswith(".html") else path
            create_link_artifact(key="monitoring-report", link=f"file://{report}",
                                 link_text=f"{r.get('model')} v{r.get('version')} {r.get('status')} ({r.get('date')})",
                                 description="Evidently drift and calibration report of the night")


def _monitoring_alert(result: Any) -> str | None:
    if not isinstance(result, dict) or result.get("status") != "ALERT":
        return None
    reasons = [f"{r.get('model')} v{r.get('version')}: {', '.join(r.get('reasons') or [])} ({r.get('report_path')})"
               for r in result.get("runs", []) if r.get("status") == "ALERT"]
    return "monitoring ALERT (tables published): " + "; ".join(reasons) + " - see `foresight monitor`"


__all__ = ["STEPS", "nightly"]
