"""Prefect flow `nightly`: ingest -> features -> signals -> regimes -> forecasts -> evaluation ->
monitoring -> publish the API's read snapshot. Thin: every step is a function of flows.steps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import steps
from flows.steps import PipelineRun, StepFailed, StepUnavailable
from foresight.context import AppContext, build_context

# Steps that belong to other areas: skipped with a log line when not in this build.
OPTIONAL_STEPS = ("features", "signals", "regimes", "forecasts", "evaluation", "monitoring")


def _retry_transient(task, task_run, state) -> bool:
    """Retry I/O hiccups, never a failure a retry cannot fix (missing model, bad input, absent step)."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # pragma: no cover - a result we cannot read: let the retry happen
        return True
    if isinstance(exc, StepFailed | StepUnavailable | ValueError | LookupError):
        return False
    return type(exc).__name__ not in ("NoChampionError",)


def _ctx() -> AppContext:
    return build_context()


@task(name="ingest", retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_transient, cache_policy=NO_CACHE)
def ingest_task(source: str, path: str | None) -> dict[str, Any]:
    return steps.step_ingest(_ctx(), source, path)


@task(name="features", retries=1, retry_delay_seconds=5, retry_condition_fn=_retry_transient, cache_policy=NO_CACHE)
def features_task(full: bool) -> Any:
    return steps.step_features(_ctx(), full)


@task(name="score-signals", retries=1, retry_delay_seconds=5, retry_condition_fn=_retry_transient,
      cache_policy=NO_CACHE)
def signals_task(start: dt.date | None, end: dt.date | None) -> Any:
    return steps.step_signals(_ctx(), start, end)


@task(name="score-regimes", retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_transient,
      cache_policy=NO_CACHE)
def regimes_task(start: dt.date | None, end: dt.date | None) -> Any:
    return steps.step_regimes(_ctx(), start, end)


@task(name="score-forecasts", retries=1, retry_condition_fn=_retry_transient, cache_policy=NO_CACHE)
def forecasts_task(as_of: dt.date | None) -> Any:
    return steps.step_forecasts(_ctx(), as_of)


@task(name="evaluate-forecasts", retries=1, retry_condition_fn=_retry_transient, cache_policy=NO_CACHE)
def evaluation_task(as_of: dt.date | None) -> Any:
    return steps.step_evaluation(_ctx(), as_of)


@task(name="monitor", retries=1, retry_condition_fn=_retry_transient, cache_policy=NO_CACHE)
def monitoring_task(as_of: dt.date | None) -> Any:
    return steps.step_monitoring(_ctx(), as_of)


def _monitoring(as_of: dt.date | None) -> Any:
    """The monitoring area's in-flow tasks when they exist (its alert task fails on ALERT without failing
    the night), else the plain step as one task."""
    try:
        from flows.monitor import monitor_in_flow
    except ImportError:
        return monitoring_task(as_of)
    return monitor_in_flow(_ctx(), as_of)


@task(name="publish-snapshot", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_task(run_id: str) -> dict[str, Any]:
    return steps.step_publish(_ctx(), pipeline_run=run_id)


def _optional(name: str, call) -> Any:
    logger = get_run_logger()
    try:
        steps.find_step(name)
    except StepUnavailable as exc:
        logger.warning("skipped %s: %s", name, exc)
        return {"skipped": str(exc)}
    return call()


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
    ctx = _ctx()
    skip_set = set(skip or [])
    run = PipelineRun("nightly", as_of=as_of)
    run.save(ctx, "running")
    current = "ingest"
    try:
        run.steps["ingest"] = {"skipped": "asked"} if "ingest" in skip_set else ingest_task(source, path)
        as_of = as_of or steps.latest_bar_date(ctx)
        run.as_of = as_of
        logger.info("nightly as of %s", as_of)
        plan = {
            "features": lambda: features_task(full_features),
            "signals": lambda: signals_task(as_of, as_of),
            "regimes": lambda: regimes_task(as_of, as_of),
            "forecasts": lambda: forecasts_task(as_of),
            "evaluation": lambda: evaluation_task(as_of),
            "monitoring": lambda: _monitoring(as_of),
        }
        for current in OPTIONAL_STEPS:
            if current in skip_set:
                run.steps[current] = {"skipped": "asked"}
                continue
            run.steps[current] = _optional(current, plan[current])
            outcome = run.steps[current] if isinstance(run.steps[current], dict) else {}
            if "skipped" in outcome:
                logger.warning("skipped %s: %s", current, outcome["skipped"])
            skipped = outcome.get("skipped_symbols")
            if skipped:
                logger.warning("%s: %d symbols skipped for too little history: %s", current, len(skipped),
                               ", ".join(skipped[:20]))
        current = "publish"
        alert = _monitoring_alert(run.steps.get("monitoring"))
        run.save(ctx, "alert" if alert else "ok", alert)
        run.steps["publish"] = publish_task(run.run_id)
    except Exception as exc:
        message = f"nightly {as_of or ''} failed at step {current!r}: {exc}"
        run.save(ctx, "failed", message)
        logger.error(message)
        raise StepFailed(message) from exc
    run.save(ctx, "alert" if alert else "ok", alert)
    if alert:
        # The night's tables are published; the alert is the monitoring task's failure, not the night's.
        logger.error(alert)
    return {"run_id": run.run_id, "as_of": str(as_of), "steps": run.steps}


def _monitoring_alert(result: Any) -> str | None:
    if not isinstance(result, dict) or result.get("status") != "ALERT":
        return None
    reasons = [f"{r.get('model')} v{r.get('version')}: {', '.join(r.get('reasons') or [])} ({r.get('report_path')})"
               for r in result.get("runs", []) if r.get("status") == "ALERT"]
    return "monitoring ALERT (tables published): " + "; ".join(reasons) + " - see `foresight monitor`"


__all__ = ["OPTIONAL_STEPS", "nightly"]
