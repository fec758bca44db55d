"""run_monitor end to end: real DuckDB (tables from the migrations), real MLflow sqlite registry with the
reference artifact, Evidently workspace, Prefect flow with the alert artifact."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.store import REFERENCE_ARTIFACT, load_latest_monitoring, load_monitoring_runs
from monitoring.synthetic import make_signal_rows

MODEL = "foresight-signal"
FEATS = ("KMID", "ROC5", "MA5", "STD5", "MKT_VOL21", "CORR20")
N_SYMBOLS, N_SESSIONS, CHANGE_AT = 30, 160, 100


def _dates() -> list[dt.date]:
    return [d.date() for d in pd.bdate_range("2025-01-02", periods=N_SESSIONS)]


def _register_reference(ctx) -> str:
    """A registered `foresight-signal` version whose run holds the training-window reference + holdout metrics."""
    import mlflow

    from monitoring.store import log_reference_artifact
    from registry.core import configure, ensure_experiment

    client = configure(ctx.mlflow)
    ensure_experiment(ctx.mlflow, "signals")
    ref = make_signal_rows(4000, np.random.default_rng(0), features=FEATS)
    ref.loc[:2999, ["probability", "label"]] = np.nan  # only the holdout rows carry out-of-sample predictions
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        log_reference_artifact(ref, Path(tmp))
        mlflow.log_metrics({"holdout_ece": 0.02, "holdout_brier": 0.24, "holdout_log_loss": 0.67})
    client.create_registered_model(MODEL)
    mv = client.create_model_version(MODEL, source=f"{run.info.artifact_uri}/reference", run_id=run.info.run_id)
    return str(mv.version)


def _fill_warehouse(ctx, version: str) -> list[dt.date]:
    """Signals/features/labels for 30 symbols x 160 sessions: quiet and calibrated before session 100,
    then three features shifted and the probabilities sharpened; forecast evaluations with good coverage."""
    from stores.warehouse import transaction, upsert, utcnow

    dates, rng = _dates(), np.random.default_rng(42)
    feats, sigs, labels = [], [], []
    for i, d in enumerate(dates):
        changed = i >= CHANGE_AT
        rows = make_signal_rows(N_SYMBOLS, rng, features=FEATS,
                                shift={"ROC5": 0.7, "MA5": 0.7, "STD5": 0.7} if changed else None,
                                sharpen=3.0 if changed else 1.0)
        symbols = [f"S{k:02d}" for k in range(N_SYMBOLS)]
        feats.append(rows[list(FEATS)].assign(symbol=symbols, date=d, feature_set="alpha158"))
        sigs.append(pd.DataFrame({
            "symbol": symbols, "date": d, "model_name": MODEL, "model_version": version,
            "probability": rows["probability"], "raw_score": 0.0, "feature_set": "alpha158", "horizon": 5,
            "run_id": "test", "scored_at": utcnow(),
        }))
        if i < N_SESSIONS - 6:  # the last sessions' labels have not matured
            labels.append(pd.DataFrame({"symbol": symbols, "date": d, "horizon": 5, "fwd_return": 0.0,
                                        "label": rows["label"].astype(int), "entry_lag": 1}))
    ev_rng = np.random.default_rng(7)
    evaluations = pd.DataFrame({
        "as_of": dates[:120], "portfolio": "equal_weight", "horizon_days": 5,
        "realized": 1.0, "p05": 0.9, "p50": 1.0, "p95": 1.1, "covered": ev_rng.random(120) < 0.9,
        "pinball": ev_rng.gamma(2.0, 0.01, 120), "evaluated_at": utcnow(), "realized_on": dates[5:125],
        "start_equity": 1.0,
    })
    feature_rows, label_rows = pd.concat(feats, ignore_index=True), pd.concat(labels, ignore_index=True)
    with ctx.warehouse.session() as con, transaction(con):
        # features / labels carry no primary key (the feature store's choice): plain inserts into fresh tables
        for table, rows in (("features", feature_rows), ("labels", label_rows)):
            con.register("_rows", rows)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
            con.unregister("_rows")
        upsert(con, "signals", pd.concat(sigs, ignore_index=True), ["symbol", "date", "model_name", "model_version"])
        upsert(con, "forecast_evaluations", evaluations, ["as_of", "portfolio", "horizon_days"])
    return dates


@pytest.fixture(scope="module")
def mlflow_env(tmp_path_factory):
    """One MLflow sqlite store for the module (creating it costs seconds) and a FORESIGHT_HOME factory."""
    root = tmp_path_factory.mktemp("monitoring")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlruns/mlflow.db")
        mp.setenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", str(root / "mlruns" / "artifacts"))

        def new_home(name: str):
            from foresight.context import build_context

            mp.setenv("FORESIGHT_HOME", str(root / name))
            ctx = build_context()
            ctx.warehouse.migrate()
            return ctx

        yield new_home


@pytest.fixture(scope="module")
def monitored(mlflow_env):
    """The scenario monitored twice: a quiet date, then the latest date (default)."""
    from monitoring.service import run_monitor

    ctx = mlflow_env("home")
    version = _register_reference(ctx)
    dates = _fill_warehouse(ctx, version)
    quiet = run_monitor(ctx, dates[CHANGE_AT - 10])
    latest = run_monitor(ctx)
    return ctx, version, dates, quiet, latest


def test_quiet_date_is_ok_and_shift_plus_sharpening_alert(monitored):
    ctx, version, dates, quiet, result = monitored
    # Given a quiet date: the signal model is OK
    sig = {r.model: r for r in quiet.runs}[MODEL]
    assert sig.status == "OK", sig.reasons
    assert sig.version == version
    # When the latest date is monitored (default date): shifted features and sharpened probabilities
    assert result.date == dates[-1]
    by_model = {r.model: r for r in result.runs}
    sig = by_model[MODEL]
    assert sig.status == "ALERT"
    assert set(sig.summary["drifted_features"]) == {"ROC5", "MA5", "STD5"}
    assert sig.summary["n_current"] == N_SYMBOLS * 21
    assert sig.summary["n_calibration"] == N_SYMBOLS * 63
    assert sig.summary["ece"] > sig.summary["ece_reference"] + 0.05
    assert any(r.startswith("calibration") for r in sig.reasons)
    assert by_model["foresight-forecast"].status in ("OK", "WARN")


def test_reports_rows_workspace_and_idempotent_rerun(monitored):
    from evidently.ui.workspace import Workspace

    from monitoring.service import run_monitor

    ctx, version, dates, _, _ = monitored
    quiet_day, last_day = dates[CHANGE_AT - 10], dates[-1]
    # JSON for every date, HTML only for the newest one
    root = ctx.settings.reports_dir / MODEL
    assert (root / last_day.isoformat() / "report.html").exists()
    assert not (root / quiet_day.isoformat() / "report.html").exists()
    for day in (quiet_day, last_day):
        summary = json.loads((root / day.isoformat() / "summary.json").read_text())
        assert summary["model"] == MODEL and summary["date"] == day.isoformat()
        assert (root / day.isoformat() / "report.json").exists()

    # the summary rows
    with ctx.warehouse.session(read_only=True) as con:
        runs = load_monitoring_runs(con, MODEL)
        latest = load_latest_monitoring(con)
    assert runs["date"].tolist() == [pd.Timestamp(last_day), pd.Timestamp(quiet_day)]
    assert runs["status"].tolist() == ["ALERT", "OK"]
    assert sorted(runs.iloc[0]["drifted_features"]) == ["MA5", "ROC5", "STD5"]
    latest_by_model = {r["model"]: r for r in latest}
    assert latest_by_model[MODEL]["status"] == "ALERT"
    assert latest_by_model[MODEL]["html_path"].endswith("report.html")
    assert latest_by_model["foresight-forecast"]["coverage"] is not None

    # one Evidently project per model, one run per monitored date
    ws = Workspace(str(ctx.settings.home / ctx.settings.monitoring.workspace_dirname))
    projects = {p.name: p for p in ws.list_projects()}
    assert set(projects) == {MODEL, "foresight-forecast"}
    assert len(ws.list_runs(projects[MODEL].id)) == 2

    # re-running a date changes nothing: same rows, no duplicate point on the dashboard
    before = runs.drop(columns=["created_at"])
    run_monitor(ctx, last_day)
    with ctx.warehouse.session(read_only=True) as con:
        after = load_monitoring_runs(con, MODEL).drop(columns=["created_at"])
    pd.testing.assert_frame_equal(before, after)
    assert len(Workspace(str(ctx.settings.home / "evidently")).list_runs(projects[MODEL].id)) == 2

    # the workspace keeps the newest `workspace_keep_runs` dates per model (history stays in the table)
    from foresight.context import AppContext

    ms = ctx.settings.monitoring.model_copy(update={"workspace_keep_runs": 1})
    run_monitor(AppContext(settings=ctx.settings.model_copy(update={"monitoring": ms})), quiet_day)
    index = json.loads((ctx.settings.home / "evidently" / "foresight-runs.json").read_text())
    assert [k for k in index if k.startswith(MODEL)] == [f"{MODEL}|{version}|{last_day}"]
    assert len(Workspace(str(ctx.settings.home / "evidently")).list_runs(projects[MODEL].id)) == 1


def test_model_version_without_reference_is_reported_not_crashed(mlflow_env):
    from monitoring.service import run_monitor

    ctx = mlflow_env("home-unregistered")
    _fill_warehouse(ctx, "7")  # version 7 is not in the registry
    result = run_monitor(ctx)
    sig = {r.model: r for r in result.runs}[MODEL]
    assert sig.status == "WARN"
    assert "not monitored" in sig.reasons[0]
    assert REFERENCE_ARTIFACT in sig.reasons[0] or "not registered" in sig.reasons[0]


def test_reference_rebuilt_from_the_warehouse_when_the_run_has_no_artifact(mlflow_env):
    """The signal trainer logs fit_start / holdout_end / feature_set params and feature_importance.csv:
    that is enough to rebuild the training window from the features table."""
    import mlflow

    from monitoring.service import run_monitor
    from registry.core import configure, ensure_experiment

    ctx = mlflow_env("home-fallback")
    client = configure(ctx.mlflow)
    ensure_experiment(ctx.mlflow, "signals")
    dates = _dates()
    with mlflow.start_run() as run:
        mlflow.log_params({"fit_start": dates[0].isoformat(), "holdout_end": dates[59].isoformat(),
                           "feature_set": "alpha158", "horizon": 5})
        mlflow.log_text("feature,importance\nROC5,3\nMA5,2\nKMID,1\nCORR20,1\n", "feature_importance.csv")
        mlflow.log_metrics({"holdout_ece": 0.02, "holdout_brier": 0.24, "holdout_log_loss": 0.67})
    mv = client.create_model_version(MODEL, source=f"{run.info.artifact_uri}", run_id=run.info.run_id)
    _fill_warehouse(ctx, str(mv.version))

    result = run_monitor(ctx)
    sig = {r.model: r for r in result.runs}[MODEL]
    # the model's four features only, the first 60 sessions as reference
    assert sig.summary["features"] == ["ROC5", "MA5", "KMID", "CORR20"]
    assert sig.summary["n_reference"] == 60 * N_SYMBOLS
    assert set(sig.summary["drifted_features"]) == {"ROC5", "MA5"}
    # this version scored those dates too: its probabilities + matured labels are the calibration reference
    assert sig.summary["ece_reference"] != 0.02 and sig.summary["ece_reference"] < 0.05
    assert sig.summary["prediction_drift_score"] is not None
    assert sig.status == "ALERT"
