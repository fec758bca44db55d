"""`run_monitor`: the monitoring use case after each nightly run (signal drift + calibration, forecast coverage,
regime state-probability and duration drift)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from monitoring.reports import (
    ALERT,
    OK,
    WARN,
    compute_forecast_report,
    compute_regime_report,
    compute_signal_report,
    worst_status,
)
from monitoring.store import (
    ReferenceUnavailable,
    add_to_workspace,
    load_forecast_evaluations,
    load_latest_signal_date,
    load_reference,
    load_regime_versions,
    load_regime_windows,
    load_scored_models,
    load_signal_windows,
    save_monitoring_run,
    save_report_files,
)
from registry.core import FORECAST_MODEL, REGIME_MODEL


@dataclass(frozen=True)
class ModelMonitoring:
    """The outcome for one model version on one date."""

    model: str
    version: str
    date: dt.date
    status: str
    reasons: list[str]
    report_path: str | None
    json_path: str | None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitorResult:
    """Every model monitored in one run; `status` is the worst of them."""

    date: dt.date | None
    runs: list[ModelMonitoring]

    @property
    def status(self) -> str:
        return worst_status(*(r.status for r in self.runs)) if self.runs else OK

    @property
    def alerts(self) -> list[ModelMonitoring]:
        return [r for r in self.runs if r.status == ALERT]

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat() if self.date else None,
            "status": self.status,
            "runs": [
                {"model": r.model, "version": r.version, "date": r.date.isoformat(), "status": r.status,
                 "reasons": r.reasons, "report_path": r.report_path, "json_path": r.json_path}
                for r in self.runs
            ],
        }


def _as_date(value: dt.date | str | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value))


def run_monitor(
    ctx,
    date: dt.date | str | None = None,
    *,
    reference: pd.DataFrame | None = None,
    holdout_metrics: dict[str, float] | None = None,
    workspace: bool = True,
) -> MonitorResult:
    """Monitor every signal model version scored on `date` (default: the latest scored date), the
    forecast coverage and every regime model version in the mirror's latest date up to it, write reports +
    workspace runs + `monitoring_runs` rows, and return the outcome.

    The reference of a signal model version is its training window, read from the MLflow run of the
    registered version (`monitoring.store.REFERENCE_ARTIFACT`) unless `reference` is passed explicitly.
    Never raises on an ALERT: the caller decides (the Prefect flow marks a failed monitoring task).
    """
    s = ctx.settings
    ms = s.monitoring
    ctx.warehouse.migrate()
    requested = _as_date(date)
    windows: list[tuple[str, str, pd.DataFrame, pd.DataFrame]] = []
    with ctx.warehouse.session(read_only=True) as con:
        signal_date = load_latest_signal_date(con, requested)
        run_date = requested or signal_date
        if signal_date is not None:
            for model, version in load_scored_models(con, signal_date):
                current, calibration = load_signal_windows(
                    con, model, version, run_date,
                    drift_sessions=ms.current_window_sessions,
                    calibration_sessions=ms.calibration_window_sessions,
                    horizon=s.signals.horizon, entry_lag=s.features.entry_lag,
                    feature_set=s.features.feature_set,
                )
                windows.append((model, version, current, calibration))
        if run_date is None:
            # no signals at all: monitor the forecasts as of their latest evaluation
            evaluations, fc_version = load_forecast_evaluations(con, dt.date.max)
            if not evaluations.empty:
                run_date = _as_date(pd.Timestamp(evaluations["as_of"].max()).date())
        else:
            evaluations, fc_version = load_forecast_evaluations(con, run_date)
        regime_date, regime_versions = load_regime_versions(con, s.universe, run_date)
        run_date = run_date or regime_date
        regime_windows = [
            (version, *load_regime_windows(con, s.universe, version, regime_date,
                                           current_sessions=ms.regime_window_sessions,
                                           reference_sessions=ms.regime_reference_sessions))
            for version in regime_versions
        ]

    runs: list[ModelMonitoring] = []
    if run_date is None:
        return MonitorResult(None, runs)
    stamp = dt.datetime.combine(run_date, dt.time(23, 0))

    for model, version, current, calibration in windows:
        try:
            if reference is not None:
                ref, holdout = reference, dict(holdout_metrics or {})
            else:
                with ctx.warehouse.session(read_only=True) as con:
                    ref, holdout, _source = load_reference(
                        ctx.mlflow, model, version, con, feature_set=s.features.feature_set,
                        horizon=s.signals.horizon, max_rows=ms.max_reference_rows,
                    )
        except ReferenceUnavailable as exc:
            runs.append(_record(ctx, model, version, run_date, WARN, [f"not monitored: {exc}"], None, {}, None))
            continue
        snapshot, summary = compute_signal_report(
            ref, current, calibration, ms, holdout_metrics=holdout, max_reference_rows=ms.max_reference_rows,
            hac_lags=s.signals.horizon,
            run_info={"timestamp": stamp, "name": f"{model} v{version} {run_date}",
                      "tags": [f"version:{version}"], "metadata": {"model": model, "version": str(version)}},
        )
        sd = summary.to_dict()
        runs.append(_record(ctx, model, version, run_date, summary.status, summary.reasons, snapshot, sd,
                            "signal" if workspace else None))

    if not evaluations.empty:
        snapshot, fsum = compute_forecast_report(
            evaluations, ms, run_info={"timestamp": stamp, "name": f"{FORECAST_MODEL} {run_date}",
                                       "metadata": {"model": FORECAST_MODEL, "version": fc_version}},
        )
        runs.append(_record(ctx, FORECAST_MODEL, fc_version, run_date, fsum.status, fsum.reasons, snapshot,
                            fsum.to_dict(), "forecast" if workspace else None))

    for version, reference_window, current_window in regime_windows:
        snapshot, rsum = compute_regime_report(
            reference_window, current_window, ms,
            run_info={"timestamp": stamp, "name": f"{REGIME_MODEL} v{version} {run_date}",
                      "tags": [f"version:{version}"], "metadata": {"model": REGIME_MODEL, "version": str(version)}},
        )
        runs.append(_record(ctx, REGIME_MODEL, version, run_date, rsum.status, rsum.reasons, snapshot,
                            rsum.to_dict(), "regime" if workspace else None))
    return MonitorResult(run_date, runs)


def _record(ctx, model, version, date, status, reasons, snapshot, summary, kind) -> ModelMonitoring:
    """Save files, the workspace run and the `monitoring_runs` row of one model."""
    s = ctx.settings
    full = {"model": model, "version": version, "date": date.isoformat(), "status": status,
            "reasons": reasons, **summary}
    html, js = save_report_files(snapshot, full, s.reports_dir, model, date, keep_html=s.monitoring.keep_html)
    project_id = None
    if snapshot is not None and kind is not None:
        project_id, _ = add_to_workspace(
            s.home / s.monitoring.workspace_dirname, model, snapshot, kind, run_key=f"{model}|{version}|{date}",
            keep_runs=s.monitoring.workspace_keep_runs or None,
        )
    row = {
        "model": model, "version": str(version), "date": date,
        "drift_share": summary.get("drift_share"), "ece": summary.get("ece"), "coverage": summary.get("coverage"),
        "status": status, "report_path": str(js.parent), "json_path": str(js),
        "prediction_drift": summary.get("prediction_drift_score"),
        "drifted_features": list(summary.get("drifted_features") or []),
        "ece_reference": summary.get("ece_reference"), "ece_pvalue": summary.get("ece_pvalue"),
        "brier": summary.get("brier"), "brier_reference": summary.get("brier_reference"),
        "log_loss": summary.get("log_loss"), "log_loss_reference": summary.get("log_loss_reference"),
        "pinball": summary.get("pinball"), "n_reference": summary.get("n_reference"),
        "n_current": summary.get("n_current"), "n_calibration": summary.get("n_calibration"),
        "reasons": "; ".join(reasons), "summary": full,
        "workspace_project": project_id,
    }
    with ctx.warehouse.session() as con:
        save_monitoring_run(con, row)
    return ModelMonitoring(model, str(version), date, status, list(reasons),
                           str(html) if html else None, str(js), full)


__all__ = ["FORECAST_MODEL", "REGIME_MODEL", "ModelMonitoring", "MonitorResult", "run_monitor"]
