"""Monitoring I/O: windows from the warehouse, the model's reference from MLflow, reports on disk,
the local Evidently workspace, and the `monitoring_runs` summary table."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from monitoring.regimes import compute_state_columns
from registry.core import configure
from stores.warehouse import transaction, upsert, utcnow

REFERENCE_ARTIFACT = "reference/reference.parquet"
"""Convention with the signal trainer: the registered version's MLflow run holds this parquet file:
training-window rows (a sample is fine) with the model's feature columns, plus `probability` and `label`
on the out-of-sample (holdout) rows. Optional `symbol`, `date`, `split` columns are ignored by the drift."""
HOLDOUT_METRIC_KEYS = {
    "ece": ("holdout_ece", "holdout.ece", "ece"),
    "brier": ("holdout_brier", "holdout.brier", "brier"),
    "log_loss": ("holdout_log_loss", "holdout.log_loss", "log_loss"),
}
_KEYS = ("model", "version", "date")


class ReferenceUnavailable(RuntimeError):
    """The model version has no reference window (no artifact and none passed in)."""


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(rows[0][0])


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


# -- windows from the warehouse -------------------------------------------------------------------------


def load_latest_signal_date(con: duckdb.DuckDBPyConnection, date: dt.date | None = None) -> dt.date | None:
    """The latest date with signals (at or before `date` when given)."""
    if not _has_table(con, "signals"):
        return None
    if date is None:
        row = con.execute("SELECT max(date) FROM signals").fetchall()[0]
    else:
        row = con.execute("SELECT max(date) FROM signals WHERE date <= ?", [date]).fetchall()[0]
    return row[0]


def load_scored_models(con: duckdb.DuckDBPyConnection, date: dt.date) -> list[tuple[str, str]]:
    """(model_name, model_version) pairs that scored `date`."""
    if not _has_table(con, "signals"):
        return []
    rows = con.execute(
        "SELECT DISTINCT model_name, CAST(model_version AS VARCHAR) FROM signals WHERE date = ? ORDER BY 1, 2",
        [date],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _signal_dates(con, model: str, version: str, date: dt.date) -> list[dt.date]:
    rows = con.execute(
        """SELECT DISTINCT date FROM signals
           WHERE model_name = ? AND CAST(model_version AS VARCHAR) = ? AND date <= ? ORDER BY date""",
        [model, version, date],
    ).fetchall()
    return [r[0] for r in rows]


def load_signal_windows(
    con: duckdb.DuckDBPyConnection,
    model: str,
    version: str,
    date: dt.date,
    *,
    drift_sessions: int,
    calibration_sessions: int,
    horizon: int,
    entry_lag: int = 1,
    feature_set: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(drift window, calibration window) of one model version as of `date`.

    Drift window: the last `drift_sessions` scored dates <= `date`, signals joined to their features.
    Calibration window: the last `calibration_sessions` scored dates whose label had matured by `date`
    (the label spans the `horizon` sessions after the entry, `entry_lag` sessions after the date), joined
    to `labels` for that horizon.
    """
    dates = _signal_dates(con, model, version, date)
    drift_dates = dates[-drift_sessions:] if drift_sessions > 0 else []
    matured = dates[: max(0, len(dates) - (horizon + entry_lag))]
    cal_dates = matured[-calibration_sessions:] if calibration_sessions > 0 else []

    current = pd.DataFrame(columns=["symbol", "date", "probability"])
    if drift_dates:
        feat_join, feat_cols = "", ""
        params: list[Any] = [model, version, drift_dates[0], drift_dates[-1]]
        if _has_table(con, "features"):
            cols = [c for c in _columns(con, "features") if c not in ("symbol", "date", "feature_set")]
            feat_cols = "".join(f', f."{c}"' for c in cols)
            feat_join = "LEFT JOIN features f ON f.symbol = s.symbol AND f.date = s.date"
            if "feature_set" in _columns(con, "features"):
                # the set the row was scored with, else the configured one
                own = "s.feature_set" if "feature_set" in _columns(con, "signals") else "NULL"
                feat_join += f" AND f.feature_set = COALESCE({own}, ?)"
                params.insert(0, feature_set)
        current = con.execute(
            f"""SELECT s.symbol, s.date, s.probability{feat_cols}
                FROM signals s {feat_join}
                WHERE s.model_name = ? AND CAST(s.model_version AS VARCHAR) = ? AND s.date BETWEEN ? AND ?
                ORDER BY s.date, s.symbol""",
            params,
        ).df()

    calibration = pd.DataFrame(columns=["symbol", "date", "probability", "label"])
    if cal_dates and _has_table(con, "labels"):
        own_h = "s.horizon" if "horizon" in _columns(con, "signals") else "NULL"
        calibration = con.execute(
            f"""SELECT s.symbol, s.date, s.probability, CAST(l.label AS DOUBLE) AS label
               FROM signals s JOIN labels l
                 ON l.symbol = s.symbol AND l.date = s.date AND l.horizon = COALESCE({own_h}, ?)
               WHERE s.model_name = ? AND CAST(s.model_version AS VARCHAR) = ? AND s.date BETWEEN ? AND ?
                 AND l.label IS NOT NULL
               ORDER BY s.date, s.symbol""",
            [horizon, model, version, cal_dates[0], cal_dates[-1]],
        ).df()
    return current, calibration


def load_forecast_evaluations(con: duckdb.DuckDBPyConnection, date: dt.date) -> tuple[pd.DataFrame, str]:
    """Matured forecast evaluations with `as_of <= date`, and the forecast model version that made them."""
    if not _has_table(con, "forecast_evaluations"):
        return pd.DataFrame(columns=["as_of", "portfolio", "horizon_days", "covered", "pinball"]), "n/a"
    ev = con.execute(
        """SELECT as_of, portfolio, horizon_days, realized, p05, p50, p95, covered, pinball
           FROM forecast_evaluations WHERE as_of <= ? ORDER BY portfolio, horizon_days, as_of""",
        [date],
    ).df()
    version = "n/a"
    if _has_table(con, "forecasts") and "model_version" in _columns(con, "forecasts"):
        row = con.execute(
            "SELECT CAST(model_version AS VARCHAR) FROM forecasts WHERE as_of <= ? ORDER BY as_of DESC LIMIT 1",
            [date],
        ).fetchall()
        if row and row[0][0] is not None:
            version = row[0][0]
    return ev, version


# -- the model's reference (MLflow) ---------------------------------------------------------------------


def load_reference(
    target,
    model_name: str,
    version: str,
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    feature_set: str | None = None,
    horizon: int = 5,
    max_rows: int = 50_000,
) -> tuple[pd.DataFrame, dict[str, float], str]:
    """(reference frame, holdout metrics, where the frame came from) of a registered model version.

    First choice: the REFERENCE_ARTIFACT of the version's run. Else, with a warehouse connection, the
    training window is rebuilt from the run's params (`fit_start` .. `holdout_end`, logged by the signal
    trainer): features of those dates (a seeded sample), the model's feature columns from its
    `feature_importance.csv`, and where this version's signals exist on the holdout dates, their
    probabilities joined to matured labels. The calibration reference is then the holdout metrics
    (`holdout_ece`, `holdout_brier`, `holdout_log_loss`) unless those signals exist.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = configure(target)
    try:
        mv = client.get_model_version(model_name, str(version))
    except MlflowException as exc:
        raise ReferenceUnavailable(f"{model_name} v{version} is not registered in MLflow: {exc}") from exc
    if not mv.run_id:
        raise ReferenceUnavailable(f"{model_name} v{version} has no MLflow run")
    run = client.get_run(mv.run_id)
    holdout: dict[str, float] = {}
    for key, names in HOLDOUT_METRIC_KEYS.items():
        for name in names:
            if name in run.data.metrics:
                holdout[key] = float(run.data.metrics[name])
                break
    try:
        local = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=REFERENCE_ARTIFACT)
        return pd.read_parquet(local), holdout, "artifact"
    except (MlflowException, OSError) as exc:
        missing = f"{model_name} v{version} (run {mv.run_id}) has no {REFERENCE_ARTIFACT} artifact ({exc})"
    params = run.data.params
    start = params.get("fit_start") or params.get("development_start")
    end = params.get("holdout_end")
    if con is None or not start or not end or not _has_table(con, "features"):
        raise ReferenceUnavailable(f"{missing} and no training window to rebuild it from the warehouse")
    features = None
    try:
        imp = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="feature_importance.csv")
        features = pd.read_csv(imp, index_col=0).index.astype(str).tolist()
    except (MlflowException, OSError, ValueError):
        pass
    frame = load_reference_from_warehouse(
        con, model_name, str(version), dt.date.fromisoformat(start[:10]), dt.date.fromisoformat(end[:10]),
        feature_set=params.get("feature_set") or feature_set, features=features,
        horizon=int(params.get("horizon") or horizon), max_rows=max_rows,
    )
    if frame.empty:
        raise ReferenceUnavailable(f"{missing} and the warehouse has no features in {start}..{end}")
    return frame, holdout, "warehouse"


def load_reference_from_warehouse(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    version: str,
    start: dt.date,
    end: dt.date,
    *,
    feature_set: str | None,
    features: Sequence[str] | None,
    horizon: int,
    max_rows: int = 50_000,
) -> pd.DataFrame:
    """Feature rows of [start, end] (seeded sample of at most `max_rows`), with `probability` + `label`
    where this model version scored those dates and their labels matured."""
    have = [c for c in _columns(con, "features") if c not in ("symbol", "date", "feature_set")]
    cols = [c for c in (features or have) if c in have]
    where, params = "f.date BETWEEN ? AND ?", [start, end]
    if feature_set is not None and "feature_set" in _columns(con, "features"):
        where += " AND f.feature_set = ?"
        params.append(feature_set)
    sel = "".join(f', f."{c}"' for c in cols)
    prob = "NULL::DOUBLE AS probability, NULL::DOUBLE AS label"
    joins = ""
    if _has_table(con, "signals") and _has_table(con, "labels"):
        prob = "s.probability, CAST(l.label AS DOUBLE) AS label"
        joins = (
            "LEFT JOIN signals s ON s.symbol = f.symbol AND s.date = f.date AND s.model_name = ? "
            "AND CAST(s.model_version AS VARCHAR) = ? "
            "LEFT JOIN labels l ON l.symbol = f.symbol AND l.date = f.date AND l.horizon = ?"
        )
        params = [model_name, version, horizon, *params]
    frame = con.execute(
        f"""SELECT f.symbol, f.date{sel}, {prob}
            FROM features f {joins}
            WHERE {where}
            ORDER BY f.date, f.symbol""",
        params,
    ).df()
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=0).sort_values(["date", "symbol"], kind="stable")
    return frame.reset_index(drop=True)


def log_reference_artifact(frame: pd.DataFrame, tmp_dir: Path) -> None:
    """For the trainer, inside its active MLflow run: log `frame` as REFERENCE_ARTIFACT."""
    import mlflow

    path = Path(tmp_dir) / Path(REFERENCE_ARTIFACT).name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    mlflow.log_artifact(str(path), artifact_path=str(Path(REFERENCE_ARTIFACT).parent))


def load_regime_versions(
    con: duckdb.DuckDBPyConnection, universe: str, date: dt.date | None
) -> tuple[dt.date | None, list[str]]:
    """The latest date of the regime mirror at or before `date` (None: the latest) for `universe`, and the
    model versions that scored it."""
    if not _has_table(con, "regimes"):
        return None, []
    sql, params = "SELECT max(date) FROM regimes WHERE universe = ?", [universe]
    if date is not None:
        sql += " AND date <= ?"
        params.append(date)
    last = con.execute(sql, params).fetchall()[0][0]
    if last is None:
        return None, []
    rows = con.execute(
        "SELECT DISTINCT model_version FROM regimes WHERE universe = ? AND date = ? ORDER BY 1", [universe, last]
    ).fetchall()
    return last, [str(r[0]) for r in rows]


def load_regime_windows(
    con: duckdb.DuckDBPyConnection,
    universe: str,
    version: str,
    date: dt.date,
    *,
    current_sessions: int,
    reference_sessions: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, current) windows of one regime model version's rows in the mirror, as of `date`.

    Current: its last `current_sessions` rows with date <= `date`; reference: the `reference_sessions` rows
    before them. One row per session in date order: `date`, `regime`, `in_sample` and one `p_<state>` column
    per state (the filtered probabilities, `monitoring.regimes.compute_state_columns`)."""
    frame = con.execute(
        """SELECT date, regime, probabilities, in_sample FROM regimes
           WHERE universe = ? AND model_version = ? AND date <= ?
           ORDER BY date DESC LIMIT ?""",
        [universe, str(version), date, int(current_sessions) + int(reference_sessions)],
    ).df().iloc[::-1].reset_index(drop=True)
    states = compute_state_columns(frame["probabilities"])
    frame = pd.concat([frame.drop(columns="probabilities"), states], axis=1)
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    cut = max(0, len(frame) - int(current_sessions))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


# -- report files ----------------------------------------------------------------------------------------


def report_dir(reports_root: Path, model: str, date: dt.date) -> Path:
    """$FORESIGHT_HOME/reports/<model>/<date>/"""
    return Path(reports_root) / model / date.isoformat()


def save_report_files(
    snapshot, summary: Mapping[str, Any], reports_root: Path, model: str, date: dt.date, keep_html: int = 1
) -> tuple[Path | None, Path]:
    """Write report.html + report.json (Evidently) + summary.json; keep HTML only for the newest dates."""
    out = report_dir(reports_root, model, date)
    out.mkdir(parents=True, exist_ok=True)
    html_path = None
    if snapshot is not None:
        html_path = out / "report.html"
        snapshot.save_html(str(html_path))
        snapshot.save_json(str(out / "report.json"))
    json_path = out / "summary.json"
    json_path.write_text(json.dumps(summary, indent=2, default=str, sort_keys=True))
    prune_html(Path(reports_root) / model, keep_html)
    return (html_path if html_path is not None and html_path.exists() else None), json_path


def prune_html(model_dir: Path, keep: int) -> list[Path]:
    """Delete report.html of all but the newest `keep` date folders (JSON stays); returns what went."""
    dated = sorted(p for p in Path(model_dir).iterdir() if p.is_dir() and (p / "report.html").exists())
    gone = []
    for d in dated[: max(0, len(dated) - max(keep, 0))]:
        (d / "report.html").unlink()
        gone.append(d / "report.html")
    return gone


# -- Evidently workspace ---------------------------------------------------------------------------------


STATUS_PANEL = "Monitoring status (0 OK, 1 WARN, 2 ALERT)"


def _dashboard_panels(kind: str) -> list:
    """The panels of a project's dashboard, by kind of model (`signal`, `forecast`, `regime`); every kind
    leads with the status."""
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    status = line_plot_panel(title=STATUS_PANEL, values=[PanelMetric(legend="status", metric="MonitoringStatus")])
    if kind == "signal":
        return [
            status,
            line_plot_panel(
                title="Share of drifted features",
                values=[PanelMetric(legend="share", metric="DriftedColumnsCount",
                                    metric_labels={"value_type": "share"})],
                size="half",
            ),
            line_plot_panel(
                title="Prediction drift (probability)",
                values=[PanelMetric(legend="drift score", metric="ValueDrift",
                                    metric_labels={"column": "probability"})],
                size="half",
            ),
            line_plot_panel(
                title="Calibration: ECE, Brier, log-loss (matured window)",
                values=[
                    PanelMetric(legend="ECE", metric="ExpectedCalibrationError"),
                    PanelMetric(legend="Brier", metric="BrierScore"),
                    PanelMetric(legend="log-loss", metric="LogLoss"),
                ],
            ),
        ]
    if kind == "regime":
        return [
            status,
            line_plot_panel(
                title="State probabilities: each state's mean filtered probability over the window",
                values=[PanelMetric(legend="{{column}}", metric="MeanValue")],
            ),
            line_plot_panel(
                title="Regime durations: sessions per exit over the window",
                values=[PanelMetric(legend="{{state}}", metric="RegimeDuration")],
            ),
        ]
    return [
        status,
        line_plot_panel(
            title="Forecast band coverage (p05-p95, nominal 0.90)",
            values=[PanelMetric(legend="coverage {{column}}", metric="MeanValue")],
        ),
        line_plot_panel(
            title="Forecast pinball loss",
            values=[PanelMetric(legend="pinball {{column}}", metric="PinballLoss")],
        ),
    ]


def _ensure_panels(ws, project, kind: str) -> None:
    """Add the kind's panels the project's dashboard lacks (by title), in order: a new project gets all of
    them, a project made by an older Foresight gets the newer ones appended."""
    have = {p.title for p in ws.get_dashboard(project.id).panels}
    for panel in _dashboard_panels(kind):
        if panel.title not in have:
            project.dashboard.add_panel(panel)


_WORKSPACE_INDEX = "foresight-runs.json"
_FULL_WORKSPACE_ONLY = frozenset({"datasets", "dataset_links", "artifacts", "prompts", "configs"})


def _open_workspace(path: Path):
    """The local Evidently workspace at `path`, opened on its project/run files only.

    Why not `Workspace.create(path)`: in evidently 0.7.x its `__init__` also builds a DatasetManager whose
    project manager (`create_local_project_manager`) json-parses EVERY stored snapshot of every project
    (~12 MB, 0.3-1 s per signal snapshot: 14-20 s with 20 of them), growing every night. Projects,
    dashboards and runs all go through `self.state` (`LocalState`: one small file per project/dashboard,
    `listdir` for runs), which is all `add_to_workspace` needs. The files written are the ones
    `Workspace.create` / `evidently ui --workspace` read. Datasets, artifacts, prompts and configs are
    not available on this handle (touching them raises); use `Workspace.create` for those.
    """
    from evidently.ui.storage.local.base import LocalState
    from evidently.ui.workspace import Workspace

    class _State(LocalState):
        def write_snapshot(self, project_id, snapshot_id, snapshot) -> None:
            # same JSON as upstream; json.dumps takes the C encoder, json.dump (upstream) the pure-Python
            # one: ~0.4 s instead of ~1.4 s for a 12 MB signal snapshot
            from evidently.legacy.utils import NumpyEncoder

            text = json.dumps(snapshot.dict(), cls=NumpyEncoder)
            self.location.makedirs(self._snapshot_dir(project_id))
            with self.location.open(self._snapshot_path(project_id, snapshot_id), "w") as f:
                f.write(text)

    class _RunsOnlyWorkspace(Workspace):
        def __init__(self, path: str):  # deliberately not super().__init__: see _open_workspace
            self.path = path
            self.state = _State(path)

        def __getattr__(self, name: str):
            if name in _FULL_WORKSPACE_ONLY:
                raise AttributeError(
                    f"{name!r} is not loaded on Foresight's runs-only workspace handle (it would parse every "
                    f"snapshot); open evidently.ui.workspace.Workspace.create({self.path!r}) for it"
                )
            raise AttributeError(name)

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return _RunsOnlyWorkspace(str(path))


def _uuid7_ms(run_id: str) -> int:
    """Insertion time (ms since epoch) of an Evidently run id (uuid7: the first 48 bits); 0 if not a uuid."""
    try:
        return int(str(run_id).replace("-", "")[:12], 16)
    except ValueError:
        return 0


def _run_order(run_id: str, key: str | None) -> tuple:
    """Sort key, oldest first: runs the index names sort by the as-of date in their key (then run id);
    runs the index does not name (older versions, hand-added) come before all of them, by insertion time.

    Insertion time is not comparable with the as-of date (a backfill inserts old dates today), so unnamed
    runs are not interleaved with named ones; they go first, which prunes them first.
    """
    if key is not None:
        parts = key.split("|")
        return (1, parts[-1] if len(parts) >= 3 else "", str(run_id))
    return (0, f"{_uuid7_ms(run_id):016d}", str(run_id))


def _write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def prune_workspace_runs(ws, project_id: str, index: dict[str, str], keep_runs: int) -> list[str]:
    """Delete the oldest runs of the project beyond `keep_runs` (order: `_run_order`) and their index keys
    (`index` is changed in place). Returns the deleted run ids. Reads no snapshot."""
    runs = [str(r) for r in ws.list_runs(project_id)]
    surplus = len(runs) - max(int(keep_runs), 0)
    if surplus <= 0:
        return []
    key_of = {rid: key for key, rid in index.items()}
    gone = sorted(runs, key=lambda rid: _run_order(rid, key_of.get(rid)))[:surplus]
    for rid in gone:
        with contextlib.suppress(FileNotFoundError):
            ws.delete_run(project_id, rid)
        if rid in key_of:
            index.pop(key_of[rid], None)
    return gone


def add_to_workspace(
    workspace_path: Path,
    project_name: str,
    snapshot,
    kind: str,
    run_key: str,
    keep_runs: int | None = None,
) -> tuple[str, str]:
    """Add the run to the project `project_name` (created on first use; its dashboard gets the panels of
    `kind` it lacks, see `_dashboard_panels`).

    `run_key` (model|version|YYYY-MM-DD) names the run in a small index file beside the workspace: a re-run of
    the same key replaces its earlier run, so the dashboard never shows a date twice. With `keep_runs`, the
    project then keeps only its newest `keep_runs` runs (by the date in the key; see `prune_workspace_runs`);
    None keeps all. Opening the workspace reads no snapshot (see `_open_workspace`).
    Returns (project id, run id).
    """
    workspace_path = Path(workspace_path)
    ws = _open_workspace(workspace_path)
    found = ws.search_project(project_name)
    if found:
        project = found[0]
    else:
        project = ws.create_project(project_name, description=f"Foresight monitoring of {project_name}")
    _ensure_panels(ws, project, kind)
    project_id = str(project.id)
    index_path = workspace_path / _WORKSPACE_INDEX
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    previous = index.get(run_key)
    if previous:
        with contextlib.suppress(Exception):  # a run already gone is what we want
            ws.delete_run(project_id, previous)
    ref = ws.add_run(project_id, snapshot, include_data=False)
    index[run_key] = str(ref.id)
    if keep_runs is not None:
        prune_workspace_runs(ws, project_id, index, keep_runs)
    _write_json_atomic(index_path, index)
    return project_id, str(ref.id)


# -- monitoring_runs -------------------------------------------------------------------------------------


def save_monitoring_run(con: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
    """Upsert one summary row (re-runs of the same model/version/date replace it)."""
    frame = pd.DataFrame([{**row, "created_at": row.get("created_at") or utcnow()}])
    if "summary" in frame and not isinstance(frame.loc[0, "summary"], str):
        frame["summary"] = [json.dumps(row["summary"], default=str, sort_keys=True)]
    with transaction(con):
        upsert(con, "monitoring_runs", frame, _KEYS, ignore_in_compare=("created_at",))


def load_monitoring_runs(
    con: duckdb.DuckDBPyConnection, model: str | None = None, limit: int | None = None
) -> pd.DataFrame:
    """monitoring_runs, newest first (optionally one model)."""
    sql = "SELECT * FROM monitoring_runs"
    params: list[Any] = []
    if model:
        sql += " WHERE model = ?"
        params.append(model)
    sql += " ORDER BY date DESC, model, version"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return con.execute(sql, params).df()


def load_latest_monitoring(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """For the dashboard: the newest monitoring row per model (status, drift share, ECE, coverage, report).

    `report_path` is the report folder (summary.json, report.json); `html_path` is set while the HTML of that
    date is kept. Returns [] when monitoring never ran (or the table does not exist yet).
    """
    if not _has_table(con, "monitoring_runs"):
        return []
    df = con.execute(
        """SELECT model, version, date, status, drift_share, ece, ece_reference, coverage, pinball,
                  prediction_drift, drifted_features, reasons, report_path, json_path, created_at
           FROM monitoring_runs
           QUALIFY row_number() OVER (PARTITION BY model ORDER BY date DESC, created_at DESC) = 1
           ORDER BY model"""
    ).df()
    out = []
    for rec in df.to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, float) and v != v:
                v = None
            elif k == "drifted_features":
                v = list(v) if v is not None else []
            elif isinstance(v, pd.Timestamp):
                v = v.to_pydatetime()
            clean[k] = v
        if isinstance(clean.get("date"), dt.datetime):
            clean["date"] = clean["date"].date()
        html = Path(clean["report_path"]) / "report.html" if clean.get("report_path") else None
        clean["html_path"] = str(html) if html is not None and html.exists() else None
        out.append(clean)
    return out


__all__: Sequence[str] = [
    "REFERENCE_ARTIFACT",
    "STATUS_PANEL",
    "ReferenceUnavailable",
    "add_to_workspace",
    "load_forecast_evaluations",
    "load_latest_monitoring",
    "load_latest_signal_date",
    "load_monitoring_runs",
    "load_regime_versions",
    "load_regime_windows",
    "load_reference",
    "load_reference_from_warehouse",
    "load_scored_models",
    "load_signal_windows",
    "log_reference_artifact",
    "prune_html",
    "prune_workspace_runs",
    "report_dir",
    "save_monitoring_run",
    "save_report_files",
]
