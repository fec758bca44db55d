"""The nightly batch's steps as plain functions over an AppContext; flows/nightly.py wraps them as tasks.

Each step calls the use case it names (imported here: a missing one fails at import, never at night),
returns a report with `as_dict()` (what `pipeline_runs.steps` stores), and raises typed exceptions:
`StepFailed` with a message saying what to do, or, for the optional products (regimes, forecasts), a
`Skipped` report when no champion has been trained yet (registry.core.NoChampionError).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from features import FeatureRunSummary, run_features
from flows.runtime import AppContext
from marketdata.alphavantage import AlphaVantageSource
from marketdata.csvsource import CsvSource
from marketdata.ingest import IngestReport, run_ingest
from marketdata.sources import SampleSource
from monitoring.indicators import IndicatorReport, run_indicators
from monitoring.service import MonitorResult, run_monitor
from registry.core import NoChampionError
from scoring.forecasts import ForecastRunReport, run_evaluate_forecasts, run_score_forecasts
from scoring.regimes import ScoreRegimesReport, run_score_regimes
from scoring.signals import SignalScoreReport, run_score_signals
from stores.snapshots import SnapshotInfo, publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import transaction, upsert, utcnow

SOURCES = ("sample", "csv", "alphavantage", "none")
INGEST_OK = ("ok", "partial")


class StepReport(Protocol):
    """What every step returns: one way to serialise it."""

    def as_dict(self) -> dict[str, Any]: ...


class StepFailed(RuntimeError):
    """A step failed; the message says what failed and what to do."""


@dataclass(frozen=True)
class Skipped:
    """A step the night went on without, and why (asked by --skip, or an optional product not trained)."""

    step: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"skipped": f"{self.step}: {self.reason}"}


@dataclass(frozen=True)
class Published:
    """The read snapshot a night published."""

    info: SnapshotInfo

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.info.path.name, "published_at": self.info.published_at, "as_of": self.info.as_of,
                "tables": self.info.tables}


# -- steps ------------------------------------------------------------------------------------------
def step_ingest(ctx: AppContext, source: str = "sample", path: str | None = None) -> IngestReport | Skipped:
    """Ingest new bars from `source` (idempotent: bars already stored are left untouched)."""
    s = ctx.settings
    if source == "none":
        return Skipped("ingest", "source none")
    if source == "sample":
        src = SampleSource(s.sample, s.calendar)
    elif source == "csv":
        if not path:
            raise StepFailed("ingest: the csv source needs a path (nightly parameter `path`)")
        src = CsvSource(path)
    elif source == "alphavantage":
        if s.alphavantage.api_key is None:
            raise StepFailed("ingest: set ALPHAVANTAGE_API_KEY to ingest from alphavantage")
        with ctx.warehouse.session(read_only=True) as con:
            symbols = [r[0] for r in con.execute("SELECT DISTINCT symbol FROM bars ORDER BY symbol").fetchall()]
        src = AlphaVantageSource(symbols, s.alphavantage, ctx.warehouse)
    else:
        raise StepFailed(f"ingest: unknown source {source!r} (use one of {', '.join(SOURCES)})")
    report = run_ingest(ctx.warehouse, src, s.guardrails, s.calendar)
    if report.status not in INGEST_OK:
        why = report.status_reason or "; ".join(report.errors[:3]) or "no reason recorded"
        raise StepFailed(f"ingest run {report.run_id} ended {report.status}: {why}; "
                         "see `foresight status` and the quarantine table")
    return report


def latest_bar_date(ctx: AppContext) -> dt.date:
    """The last session in `bars`: the night's as-of date."""
    ctx.warehouse.migrate()
    with ctx.warehouse.session(read_only=True) as con:
        d = con.execute("SELECT max(date) FROM bars").fetchall()[0][0]
    if d is None:
        raise StepFailed("no bars in the warehouse: run `foresight ingest` first")
    return d


def step_features(ctx: AppContext, full: bool = False) -> FeatureRunSummary:
    """Update every configured feature set and the labels (incremental unless `full`)."""
    return run_features(ctx.warehouse, ctx.settings.features, full=full)


def step_signals(ctx: AppContext, start: dt.date | None, end: dt.date | None) -> SignalScoreReport:
    """Score the signal champion over [start, end]; without a champion the night fails (D1 is required)."""
    try:
        return run_score_signals(ctx, start=start, end=end)
    except NoChampionError as exc:
        raise StepFailed(f"score signals: {exc}") from exc


def step_regimes(ctx: AppContext, start: dt.date | None, end: dt.date | None) -> ScoreRegimesReport | Skipped:
    """Score regimes over [start, end] into MongoDB and the mirror; skipped until a champion exists."""
    try:
        return run_score_regimes(ctx, start=start, end=end)
    except NoChampionError as exc:
        return Skipped("score regimes", str(exc))


def step_forecasts(ctx: AppContext, as_of: dt.date | None) -> ForecastRunReport | Skipped:
    """Publish the forecast champion's fan for `as_of`; skipped until a champion exists."""
    try:
        return run_score_forecasts(ctx, as_of)
    except NoChampionError as exc:
        return Skipped("score forecasts", str(exc))


def step_evaluation(ctx: AppContext, as_of: dt.date | None) -> ForecastRunReport:
    """Score every stored forecast that matured by `as_of`."""
    return run_evaluate_forecasts(ctx, as_of)


def step_monitoring(ctx: AppContext, as_of: dt.date | None) -> MonitorResult:
    """Drift and calibration reports; an ALERT is in the result's status, judged by the flow."""
    return run_monitor(ctx, as_of)


def step_indicators(ctx: AppContext, as_of: dt.date, run_id: str | None = None,
                    regime_written: dt.datetime | None = None) -> IndicatorReport:
    """Measure and store the night's operating indicators (feature SLA, regime latency, freshness, skill)."""
    s = ctx.settings
    return run_indicators(ctx.warehouse, as_of, s.operations, calendar=s.calendar, horizon=s.signals.horizon,
                          run_id=run_id, regime_written=regime_written)


def step_publish(ctx: AppContext, **extra: Any) -> Published:
    """Publish the committed state as the API's new read snapshot."""
    return Published(publish_warehouse_snapshot(ctx.warehouse, snapshot_dir(ctx.settings.home), **extra))


# -- audit ------------------------------------------------------------------------------------------
@dataclass
class PipelineRun:
    """One run of a flow, recorded in `pipeline_runs` (status running -> ok | alert | failed); `steps`
    holds each step's `as_dict()`."""

    flow: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    as_of: dt.date | None = None
    started_at: dt.datetime = field(default_factory=utcnow)
    steps: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per step: started_at, finished_at (naive UTC, ISO) and seconds (`pipeline_runs.timings`)."""

    def record(self, name: str, report: StepReport) -> dict[str, Any]:
        """Keep `report` (as a dict) under step `name`; returns the dict."""
        self.steps[name] = json.loads(json.dumps(report.as_dict(), default=str))
        return self.steps[name]

    def time(self, name: str, started: dt.datetime, finished: dt.datetime | None = None) -> None:
        """Record when step `name` ran."""
        finished = finished or utcnow()
        self.timings[name] = {"started_at": started.isoformat(), "finished_at": finished.isoformat(),
                              "seconds": round((finished - started).total_seconds(), 3)}

    def save(self, ctx: AppContext, status: str, message: str | None = None) -> None:
        ctx.warehouse.migrate()
        row = pd.DataFrame([{
            "run_id": self.run_id, "flow": self.flow, "as_of": self.as_of, "started_at": self.started_at,
            "finished_at": None if status == "running" else utcnow(), "status": status, "message": message,
            "steps": json.dumps(self.steps, default=str), "timings": json.dumps(self.timings),
        }])
        with ctx.warehouse.session() as con, transaction(con):
            upsert(con, "pipeline_runs", row, ["run_id"])


# -- what a person reads on the run page ------------------------------------------------------------------
_SUMMARY_KEYS = ("status", "rows_inserted", "rows_updated", "rows_quarantined", "rows_written", "inserted",
                 "updated", "dates", "symbols", "rows", "last_regime", "mongo_inserted", "mongo_updated",
                 "forecasts_written", "evaluations_written", "model_version", "as_of", "mode", "sla_missed")


def summarise_step(name: str, outcome: dict[str, Any]) -> str:
    """One line for the run log: what the step did (its counts), or why it was skipped."""
    if "skipped" in outcome:
        return f"{name}: skipped ({outcome['skipped']})"
    if name == "monitoring":
        runs = ", ".join(f"{r.get('model')} v{r.get('version')} {r.get('status')}" for r in outcome.get("runs", []))
        return f"monitoring: {outcome.get('status')}" + (f" ({runs})" if runs else "")
    if name == "indicators":
        shown = [f"{k} {v.get('value')}{(' ' + v['unit']) if v.get('unit') else ''} {v.get('status')}"
                 for k, v in (outcome.get("indicators") or {}).items()
                 if k.startswith(("feature_sla", "regime_latency"))]
        return "indicators: " + ("; ".join(shown) or "no SLA measured (no new bars or features)")
    if name == "publish":
        return f"publish: snapshot {outcome.get('file')} as of {outcome.get('as_of')}"
    parts = [f"{k}={outcome[k]}" for k in _SUMMARY_KEYS if k in outcome and outcome[k] not in (None, "", [])]
    return f"{name}: " + (", ".join(parts) or "done")


def compute_night_markdown(run: PipelineRun, status: str, message: str | None,
                           indicators: dict[str, Any] | None = None) -> str:
    """The night's markdown artifact: outcome, each step (what it wrote, seconds), warnings, indicators and
    the monitoring reports."""
    lines = [f"# Nightly {run.as_of or ''}: {status}", "",
             f"run `{run.run_id}`, started {run.started_at.isoformat(timespec='seconds')} UTC", ""]
    if message:
        lines += [f"**{message}**", ""]
    lines += ["| step | outcome | seconds |", "|---|---|---:|"]
    for name, outcome in run.steps.items():
        secs = run.timings.get(name, {}).get("seconds")
        text = summarise_step(name, outcome).split(": ", 1)[-1].replace("|", "/")
        lines.append(f"| {name} | {text} | {'' if secs is None else f'{secs:.2f}'} |")
    warnings = [summarise_step(n, o) for n, o in run.steps.items() if "skipped" in o]
    warnings += [f"{n}: {len(o['skipped_symbols'])} symbols skipped for too little history"
                 for n, o in run.steps.items() if o.get("skipped_symbols")]
    monitoring = run.steps.get("monitoring") or {}
    warnings += [f"monitoring {r.get('status')} {r.get('model')} v{r.get('version')}: {'; '.join(r.get('reasons') or [])}"
                 for r in monitoring.get("runs", []) if r.get("status") != "OK"]
    if indicators:
        warnings += [f"{k}: {v.get('status')}" + (f" ({v.get('cause')})" if v.get("cause") else "")
                     for k, v in indicators.items() if v.get("status") not in (None, "OK")]
    lines += ["", "## Warnings", ""] + ([f"- {w}" for w in warnings] or ["- none"])
    if indicators:
        lines += ["", "## Leading indicators", "", "| indicator | value | target | status |", "|---|---:|---:|---|"]
        for k, v in indicators.items():
            value = v.get("value")
            lines.append(f"| {k} | {'-' if value is None else value} {v.get('unit') or ''} | "
                         f"{'' if v.get('target') is None else v['target']} | {v.get('status')} |")
    reports = [r for r in monitoring.get("runs", []) if r.get("report_path") or r.get("json_path")]
    if reports:
        lines += ["", "## Monitoring reports", ""]
        for r in reports:
            path = r.get("report_path") or r.get("json_path")
            lines.append(f"- {r.get('model')} v{r.get('version')} ({r.get('status')}): [{path}](file://{path}); "
                         f"with `foresight api` running: `/dashboard/reports/{r.get('model')}`")
    return "\n".join(lines) + "\n"


__all__ = [
    "SOURCES",
    "compute_night_markdown",
    "step_indicators",
    "summarise_step",
    "PipelineRun",
    "Published",
    "Skipped",
    "StepFailed",
    "StepReport",
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
