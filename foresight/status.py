"""`foresight status`: what the warehouse holds (symbols, ranges, counts, quarantine, last runs)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from registry.config import redact_uri
from registry.core import compute_artifact_root
from stores.warehouse import Warehouse

if TYPE_CHECKING:
    from foresight.settings import Settings

# Tables shown with their row counts when they exist (later capabilities add theirs).
COUNTED_TABLES = (
    "bars", "quarantine", "data_quality", "features", "labels", "signals", "regimes",
    "forecasts", "forecast_evaluations", "monitoring_runs", "backtest_runs",
)


def compute_settings_summary(settings: Settings) -> dict[str, Any]:
    """The settings worth showing, with no secret in them (only whether a key is set)."""
    return {
        "home": str(settings.home),
        "calendar": settings.calendar,
        "mlflow_tracking_uri": redact_uri(settings.mlflow.tracking_uri),
        "mlflow_artifact_root": str(compute_artifact_root(settings.mlflow.tracking_uri, settings.mlflow.artifact_root)
                                    or "the tracking server's"),
        "mongodb_uri_set": settings.mongodb.uri is not None,
        "alphavantage_key_set": settings.alphavantage.api_key is not None,
    }


def _columns(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}


def load_status(warehouse: Warehouse, last_runs: int = 5, settings: Settings | None = None) -> dict[str, Any]:
    """Read-only summary of the warehouse as a JSON-ready dict (plus a secret-free settings summary)."""
    out: dict[str, Any] = {"warehouse": str(warehouse.path), "exists": warehouse.path.exists()}
    if settings is not None:
        out["settings"] = compute_settings_summary(settings)
    if not out["exists"]:
        return out
    with warehouse.session(read_only=True) as con:
        existing = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        out["schema_version"] = (
            con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] if "schema_version" in existing else 0
        )
        out["tables"] = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in COUNTED_TABLES if t in existing
        }
        if "bars" not in existing:
            return out
        sym = con.execute(
            """
            SELECT count(DISTINCT symbol), min(date), max(date) FROM bars
            """
        ).fetchall()[0]
        out["bars"] = {"symbols": sym[0], "first_date": str(sym[1]) if sym[1] else None,
                       "last_date": str(sym[2]) if sym[2] else None}
        out["symbols"] = [
            {"symbol": s, "first_date": str(a), "last_date": str(b), "rows": n}
            for s, a, b, n in con.execute(
                "SELECT symbol, min(date), max(date), count(*) FROM bars GROUP BY symbol ORDER BY symbol"
            ).fetchall()
        ]
        # Open quarantine rows only: a row whose symbol and date got a bar later is resolved, not a problem.
        q_cols = _columns(con, "quarantine")
        open_rows = "WHERE resolved_at IS NULL" if "resolved_at" in q_cols else ""
        out["quarantine_open"] = con.execute(f"SELECT count(*) FROM quarantine {open_rows}").fetchall()[0][0]
        out["quarantine_resolved"] = out["tables"].get("quarantine", 0) - out["quarantine_open"]
        out["quarantine_by_reason"] = dict(
            con.execute(f"SELECT reason, count(*) FROM quarantine {open_rows} GROUP BY reason ORDER BY 2 DESC, 1"
                        ).fetchall()
        )
        out["quarantine_by_symbol"] = dict(
            con.execute(
                f"SELECT coalesce(symbol, '?'), count(*) FROM quarantine {open_rows} GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
        )
        out["data_quality_by_check"] = dict(
            con.execute('SELECT "check", count(*) FROM data_quality GROUP BY 1 ORDER BY 2 DESC, 1').fetchall()
        )
        out["suspects_by_verdict"] = dict(
            con.execute(
                """SELECT json_extract_string(evidence, '$.verdict'), count(*) FROM data_quality
                   WHERE "check" = 'spike_reverted' AND evidence IS NOT NULL GROUP BY 1 ORDER BY 1"""
            ).fetchall()
        ) if "evidence" in _columns(con, "data_quality") else {}
        out["last_ingest_runs"] = [
            {
                "run_id": r[0], "source": r[1], "status": r[2], "started_at": str(r[3]),
                "finished_at": str(r[4]) if r[4] else None, "rows_read": r[5], "rows_accepted": r[6],
                "rows_quarantined": r[7], "rows_inserted": r[8], "rows_updated": r[9], "message": r[10],
                "flags": r[11], "rows_unchanged": r[12],
                "quarantined_by_reason": json.loads(r[13]).get("quarantined_by_reason", {}) if r[13] else {},
                "flags_by_check": json.loads(r[13]).get("flags_by_check", {}) if r[13] else {},
                "suspects_by_verdict": json.loads(r[13]).get("suspects_by_verdict", {}) if r[13] else {},
                "status_reason": json.loads(r[13]).get("status_reason") if r[13] else None,
            }
            for r in con.execute(
                """
                SELECT run_id, source, status, started_at, finished_at, rows_read, rows_accepted,
                       rows_quarantined, rows_inserted, rows_updated, message, flags, rows_unchanged, report
                FROM ingest_runs ORDER BY started_at DESC LIMIT ?
                """,
                [last_runs],
            ).fetchall()
        ]
    return out
