"""`foresight status`'s operating view: the last run of every flow, each model's champion (version, what it
was trained on, when and why it was promoted), product freshness and the feature-pipeline SLA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from foresight.settings import Settings
from monitoring.indicators import load_indicator_history, load_leading_indicators
from registry.core import CHAMPION, MLflowTarget, configure, version_by_alias
from stores.warehouse import Warehouse
from training.promotion import MODELS

# Where each flow's runs are recorded: (table, time column, status column or None, extra columns).
FLOW_RUNS = {
    "nightly": ("pipeline_runs", "started_at", "status", ["run_id", "as_of", "finished_at", "message"]),
    "ingest": ("ingest_runs", "started_at", "status", ["run_id", "source", "finished_at", "message"]),
    "features": ("feature_runs", "started_at", None, ["run_id", "mode", "last_date", "finished_at"]),
    "monitor": ("monitoring_runs", "created_at", "status", ["model", "version", "date", "reasons"]),
    "backtest": ("backtest_runs", "created_at", None, ["run_id", "strategy", "model_version", "end_date",
                                                       "sharpe_delta"]),
}
TRAINED_ON_KEYS = ("train_start", "train_end", "holdout_start", "holdout_end", "data_end", "rows", "symbols",
                   "data_source", "feature_set")


def _iso(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def load_last_runs(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any] | None]:
    """The newest recorded run of every flow (None for a flow that never ran)."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    out: dict[str, dict[str, Any] | None] = {}
    for flow, (table, at, status, extra) in FLOW_RUNS.items():
        if table not in tables:
            out[flow] = None
            continue
        cols = [at, *([status] if status else []), *extra]
        cur = con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {at} DESC LIMIT 1")
        row = cur.fetchone()
        if row is None:
            out[flow] = None
            continue
        rec = {c: _iso(v) for c, v in zip(cols, row, strict=True)}
        rec["outcome"] = rec.get(status, "ok") if status else "ok"
        out[flow] = rec
    return out


def load_champions(target: MLflowTarget) -> dict[str, dict[str, Any] | None]:
    """Each registered model's champion: version, what it was trained on, when and why it was promoted
    (the `promotion.*` tags, or a person's `override`). None for a model with no champion."""
    if target.tracking_uri.startswith("sqlite:///") and not Path(target.tracking_uri.removeprefix("sqlite:///")).exists():
        return dict.fromkeys(MODELS)
    client = configure(target)
    out: dict[str, dict[str, Any] | None] = {}
    for name in MODELS:
        mv = version_by_alias(client, name, CHAMPION)
        if mv is None:
            out[name] = None
            continue
        tags = dict(mv.tags)
        run = client.get_run(mv.run_id) if mv.run_id else None
        found = {**(run.data.params if run else {}), **(run.data.tags if run else {}), **tags}
        out[name] = {
            "version": str(mv.version),
            "registered_at": _ms(mv.creation_timestamp),
            "trained_on": {k: found[k] for k in TRAINED_ON_KEYS if k in found},
            "promoted_at": tags.get("promotion.decided_at") or _ms(mv.last_updated_timestamp),
            "why": tags.get("override") or tags.get("promotion.reason") or "no promotion recorded",
            "promotion": {k.removeprefix("promotion."): v for k, v in tags.items() if k.startswith("promotion.")},
            "description": mv.description,
        }
    return out


def _ms(ms: int | None) -> str | None:
    import datetime as dt

    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def load_operations(warehouse: Warehouse, target: MLflowTarget, settings: Settings) -> dict[str, Any]:
    """Last runs, champions, freshness, SLA (latest night and compliance) and the other indicators."""
    out: dict[str, Any] = {"last_runs": {}, "indicators": {}, "sla_history": []}
    if warehouse.path.exists():
        with warehouse.session(read_only=True) as con:
            out["last_runs"] = load_last_runs(con)
            out["indicators"] = load_leading_indicators(con)
            out["sla_history"] = load_indicator_history(con, "feature_sla", max(settings.operations.compliance_windows))
    ind = out["indicators"]
    out["freshness"] = {k.removeprefix("freshness_"): v for k, v in ind.items() if k.startswith("freshness_")}
    out["sla"] = {k: v for k, v in ind.items() if k.startswith("feature_sla")}
    out["champions"] = load_champions(target)
    return out


def dumps(info: dict[str, Any]) -> str:
    return json.dumps(info, indent=2, default=str)


__all__ = ["FLOW_RUNS", "dumps", "load_champions", "load_last_runs", "load_operations"]
