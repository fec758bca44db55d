"""The nightly batch's steps as plain functions over an AppContext; flows wrap them as Prefect tasks.

Steps owned by other areas are looked up when the step runs: one that has not landed yet is skipped
with a log line saying so, and the rest of the night runs.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from foresight.context import AppContext
from stores.snapshots import publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import transaction, upsert, utcnow

# (module, function) candidates per pluggable step, first found wins.
PLUGGABLE: dict[str, tuple[tuple[str, str], ...]] = {
    "features": (("features", "run_features"), ("features.store", "run_features"), ("features.jobs", "run_features")),
    "signals": (("scoring.signals", "run_score_signals"),),
    "regimes": (("scoring.regimes", "run_score_regimes"), ("models.regimes", "run_score_regimes")),
    "forecasts": (("scoring.forecasts", "run_score_forecasts"), ("scoring.forecast_jobs", "run_score_forecasts")),
    "evaluation": (("scoring.forecasts", "run_evaluate_forecasts"),
                   ("scoring.forecast_jobs", "run_evaluate_forecasts")),
    "monitoring": (("monitoring.service", "run_monitor"),),
}


class StepUnavailable(LookupError):
    """The area providing a step has not landed in this build."""


class StepFailed(RuntimeError):
    """A step failed; the message says what to do."""


def find_step(name: str) -> Callable[..., Any]:
    """The function implementing pluggable step `name`, or StepUnavailable."""
    for module_name, fn_name in PLUGGABLE[name]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        fn = getattr(module, fn_name, None)
        if callable(fn):
            return fn
    tried = ", ".join(f"{m}.{f}" for m, f in PLUGGABLE[name])
    raise StepUnavailable(f"step {name!r} not available in this build (looked for {tried})")


def _summary(result: Any) -> Any:
    if result is None:
        return None
    for attr in ("as_dict", "model_dump", "to_dict"):
        if hasattr(result, attr):
            try:
                return json.loads(json.dumps(getattr(result, attr)(), default=str))
            except (TypeError, ValueError):
                break
    if hasattr(result, "__dict__"):
        return json.loads(json.dumps(vars(result), default=str))
    return json.loads(json.dumps(result, default=str))


def _call(fn: Callable[..., Any], available: dict[str, Any]) -> Any:
    """Call `fn` with the arguments it names among `available` (areas' signatures differ a little)."""
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in available.items() if k in params}
    return fn(**kwargs)


# -- steps ------------------------------------------------------------------------------------------
def step_ingest(ctx: AppContext, source: str = "sample", path: str | None = None) -> dict[str, Any]:
    """Ingest new bars (idempotent: bars already stored are left untouched)."""
    from marketdata.ingest import run_ingest

    s = ctx.settings
    if source == "sample":
        from marketdata.sources import SampleSource

        src = SampleSource(s.sample, s.calendar)
    elif source == "csv":
        from marketdata.csvsource import CsvSource

        if not path:
            raise StepFailed("ingest: the csv source needs a path (nightly parameter `path`)")
        src = CsvSource(path)
    elif source == "alphavantage":
        from marketdata.alphavantage import AlphaVantageSource

        if s.alphavantage.api_key is None:
            raise StepFailed("ingest: set ALPHAVANTAGE_API_KEY to ingest from alphavantage")
        with ctx.warehouse.session(read_only=True) as con:
            symbols = [r[0] for r in con.execute("SELECT DISTINCT symbol FROM bars ORDER BY symbol").fetchall()]
        src = AlphaVantageSource(symbols, s.alphavantage, ctx.warehouse)
    elif source == "none":
        return {"skipped": "source none"}
    else:
        raise StepFailed(f"ingest: unknown source {source!r} (sample | csv | alphavantage | none)")
    report = run_ingest(ctx.warehouse, src, s.guardrails, s.calendar)
    if report.status not in ("ok", "success", "partial", "done", "completed"):
        raise StepFailed(f"ingest run {report.run_id} ended {report.status}: {report.errors[:3]}; "
                         "see `foresight status` and the quarantine table")
    return {"run_id": report.run_id, "status": report.status, "inserted": report.rows_inserted,
            "updated": report.rows_updated, "quarantined": report.rows_quarantined, "errors": report.errors[:5]}


def latest_bar_date(ctx: AppContext) -> dt.date:
    with ctx.warehouse.session(read_only=True) as con:
        d = con.execute("SELECT max(date) FROM bars").fetchall()[0][0]
    if d is None:
        raise StepFailed("no bars in the warehouse: run `foresight ingest` first")
    return d


def step_features(ctx: AppContext, full: bool = False) -> Any:
    fn = find_step("features")
    return _summary(_call(fn, {"warehouse": ctx.warehouse, "settings": ctx.settings.features,
                                "cfg": ctx.settings.features, "fs": ctx.settings.features,
                                "feature_settings": ctx.settings.features, "full": full, "ctx": ctx}))


def step_signals(ctx: AppContext, start: dt.date | None, end: dt.date | None) -> Any:
    fn = find_step("signals")
    try:
        report = fn(ctx, start=start, end=end)
    except RuntimeError as exc:
        if type(exc).__name__ == "NoChampionError":
            raise StepFailed(f"score signals: {exc}") from exc
        raise
    return _summary(report)


def _untrained(step: str, exc: LookupError) -> dict[str, str]:
    """Regimes and forecasts are optional products: without a trained champion the night goes on
    without them (said in the result and the log); any other lookup failure fails the step."""
    if "foresight train" in str(exc):
        return {"skipped": f"{step}: {exc}"}
    raise StepFailed(f"{step}: {exc}") from exc


def step_regimes(ctx: AppContext, start: dt.date | None, end: dt.date | None) -> Any:
    fn = find_step("regimes")
    try:
        return _summary(fn(ctx, start=start, end=end))
    except LookupError as exc:
        return _untrained("score regimes", exc)


def step_forecasts(ctx: AppContext, as_of: dt.date | None) -> Any:
    try:
        return _summary(_call(find_step("forecasts"), {"ctx": ctx, "as_of": as_of}))
    except StepUnavailable:
        raise
    except LookupError as exc:
        return _untrained("score forecasts", exc)


def step_evaluation(ctx: AppContext, as_of: dt.date | None) -> Any:
    return _summary(_call(find_step("evaluation"), {"ctx": ctx, "as_of": as_of}))


def step_monitoring(ctx: AppContext, as_of: dt.date | None) -> Any:
    """Drift and calibration reports; an ALERT is returned (status) and judged by the flow."""
    return _summary(_call(find_step("monitoring"), {"ctx": ctx, "as_of": as_of, "date": as_of}))


def step_publish(ctx: AppContext, **extra: Any) -> dict[str, Any]:
    """Publish the committed state as the API's new read snapshot."""
    info = publish_warehouse_snapshot(ctx.warehouse, snapshot_dir(ctx.settings.home), **extra)
    return {"file": info.path.name, "published_at": info.published_at, "as_of": info.as_of, "tables": info.tables}


# -- audit ------------------------------------------------------------------------------------------
@dataclass
class PipelineRun:
    """One run of a flow, recorded in `pipeline_runs` (status running -> ok | failed)."""

    flow: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    as_of: dt.date | None = None
    started_at: dt.datetime = field(default_factory=utcnow)
    steps: dict[str, Any] = field(default_factory=dict)

    def save(self, ctx: AppContext, status: str, message: str | None = None) -> None:
        import pandas as pd

        ctx.warehouse.migrate()
        row = pd.DataFrame([{
            "run_id": self.run_id, "flow": self.flow, "as_of": self.as_of, "started_at": self.started_at,
            "finished_at": None if status == "running" else utcnow(), "status": status, "message": message,
            "steps": json.dumps(self.steps, default=str),
        }])
        with ctx.warehouse.session() as con, transaction(con):
            upsert(con, "pipeline_runs", row, ["run_id"])


__all__ = [
    "PLUGGABLE",
    "PipelineRun",
    "StepFailed",
    "StepUnavailable",
    "find_step",
    "latest_bar_date",
    "step_evaluation",
    "step_features",
    "step_forecasts",
    "step_ingest",
    "step_monitoring",
    "step_publish",
    "step_regimes",
    "step_signals",
]
