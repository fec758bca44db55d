"""Batch signal scoring (`run_score_signals`): the champion's calibrated probability, raw score and TreeSHAP
attribution per symbol and date, upserted into `signals`. The scores themselves are
`models.signals.compute_signal_scores`, the same code the registered pyfunc runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import features
from models.signals import compute_signal_scores
from registry.core import SIGNAL_MODEL, NoChampionError
from registry.signals import load_signal_model
from stores.warehouse import transaction, upsert, utcnow

SIGNAL_COLUMNS = [
    "symbol", "date", "model_name", "model_version", "probability", "raw_score", "base_value",
    "attribution", "feature_set", "horizon", "run_id", "scored_at",
]
SIGNAL_KEYS = ["symbol", "date", "model_name", "model_version"]


@dataclass
class SignalScoreReport:
    """What `run_score_signals` did."""

    model_name: str
    model_version: str
    run_id: str
    rows_written: int
    rows_scored: int
    inserted: int
    updated: int
    unchanged: int
    dates: int
    symbols: int
    start: dt.date | None
    end: dt.date | None
    skipped_symbols: list[str] = field(default_factory=list)
    """Symbols left out entirely for too little history (fewer than min_history_sessions bars)."""
    skipped_rows: int = 0
    """Rows (symbol, date) left out because the symbol had too little history at that date."""

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in self.__dict__.items()}


def run_score_signals(
    ctx,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    symbols: Sequence[str] | None = None,
    dates: Sequence[dt.date] | None = None,
    alias: str = "champion",
    batch_dates: int = 250,
) -> SignalScoreReport:
    """Score the `champion` of `foresight-signal` over [start, end] (or `dates`) and upsert into `signals`.

    `ctx` is a `foresight.context.AppContext` (settings, warehouse, mlflow). start/end None = every date of
    the features table. Symbols with fewer than `settings.scoring.min_history_sessions` bars up to a date
    are skipped for that date and reported. Idempotent: a re-run with the same model changes nothing.
    Raises NoChampionError when no model has been trained and promoted yet.
    """

    settings = ctx.settings
    bundle = load_signal_model(ctx.mlflow, alias=alias)
    if bundle is None:
        raise NoChampionError(SIGNAL_MODEL, alias, f"none in the MLflow registry at {ctx.mlflow.tracking_uri}; "
                              "train one first with `foresight train signals`")
    model = bundle.model
    min_hist = settings.scoring.min_history_sessions
    top_k = settings.scoring.top_k_attribution
    wh = ctx.warehouse
    wh.migrate()
    with wh.session() as con:
        if dates is not None:
            all_dates = sorted(pd.to_datetime(pd.Series(list(dates))).dt.date.unique())
        else:
            # A joined set ("alpha158+market") has rows under each part: its dates are the first part's.
            where, params = ["feature_set = ?"], [bundle.feature_set.split("+")[0]]
            if start is not None:
                where.append("date >= ?")
                params.append(start)
            if end is not None:
                where.append("date <= ?")
                params.append(end)
            rows = con.execute(
                f"SELECT DISTINCT date FROM features WHERE {' AND '.join(where)} ORDER BY date", params
            ).fetchall()
            all_dates = [r[0] for r in rows]
        hist = con.execute(
            "SELECT symbol, date, row_number() OVER (PARTITION BY symbol ORDER BY date) AS n FROM bars"
        ).df()
        hist["date"] = pd.to_datetime(hist["date"]).dt.date
        totals = {"ins": 0, "upd": 0, "same": 0, "scored": 0, "skipped": 0}
        seen_symbols: set[str] = set()
        considered: set[str] = set()
        for i in range(0, len(all_dates), batch_dates):
            chunk = all_dates[i : i + batch_dates]
            # Whole cross-sections are loaded even for a few `symbols`: the model ranks features per date.
            frame = features.load_feature_frame(con, bundle.feature_set, dates=chunk)
            if frame.empty:
                continue
            frame["date"] = pd.to_datetime(frame["date"]).dt.date
            frame = frame.merge(hist, on=["symbol", "date"], how="left")
            considered.update(set(frame["symbol"]) & set(symbols) if symbols else set(frame["symbol"]))
            ok = frame["n"].fillna(0).to_numpy() >= min_hist
            totals["skipped"] += int((~ok).sum())
            frame = frame.loc[ok]
            if frame.empty:
                continue
            seen_symbols.update(frame["symbol"].unique())
            scores = compute_signal_scores(model, frame, top_k)
            if symbols:
                scores = scores[scores["symbol"].isin(set(symbols))]
                seen_symbols.intersection_update(set(symbols))
            scores["model_name"] = SIGNAL_MODEL
            scores["model_version"] = str(bundle.version)
            scores["feature_set"] = bundle.feature_set
            scores["horizon"] = int(bundle.horizon)
            scores["run_id"] = bundle.run_id
            scores["scored_at"] = utcnow()
            with transaction(con):
                res = upsert(con, "signals", scores[SIGNAL_COLUMNS], SIGNAL_KEYS, ignore_in_compare=["scored_at"])
            totals["ins"] += res.inserted
            totals["upd"] += res.updated
            totals["same"] += res.unchanged
            totals["scored"] += len(scores)
    return SignalScoreReport(
        model_name=SIGNAL_MODEL,
        model_version=str(bundle.version),
        run_id=bundle.run_id,
        rows_written=totals["ins"] + totals["upd"],
        rows_scored=totals["scored"],
        inserted=totals["ins"],
        updated=totals["upd"],
        unchanged=totals["same"],
        dates=len(all_dates),
        symbols=len(seen_symbols),
        start=all_dates[0] if all_dates else start,
        end=all_dates[-1] if all_dates else end,
        skipped_symbols=sorted(considered - seen_symbols),
        skipped_rows=totals["skipped"],
    )



# -- readers (the API, monitoring and the dashboard read the signal of a date here) -------------------------
# Several model versions can score one symbol and date (a backfill beside the nightly): the most recently
# scored row wins, then the higher version.
SIGNAL_ROW_ORDER = "scored_at DESC, TRY_CAST(model_version AS INTEGER) DESC NULLS LAST, model_version DESC"


def _records(con, sql: str, args: list) -> list[dict[str, Any]]:
    cur = con.execute(sql, args)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def load_signal(con, symbol: str, date: dt.date | None = None) -> dict[str, Any] | None:
    """The `signals` row of `symbol` on `date` (default: its latest date), or None."""
    rows = _records(con, f"""
        SELECT * FROM signals WHERE symbol = ? AND (CAST(? AS DATE) IS NULL OR date = ?)
        ORDER BY date DESC, {SIGNAL_ROW_ORDER} LIMIT 1""", [symbol, date, date])
    return rows[0] if rows else None


def load_signal_cross_section(con, date: dt.date | None = None,
                              top: int | None = None) -> tuple[dt.date | None, list[dict[str, Any]]]:
    """(date, rows): every symbol's signal on `date` (default: the latest scored date), one row per symbol,
    ranked by probability (highest first), at most `top`."""
    if date is None:
        date = con.execute("SELECT max(date) FROM signals").fetchall()[0][0]
        if date is None:
            return None, []
    rows = _records(con, f"""
        SELECT * FROM signals WHERE date = ?
        QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY {SIGNAL_ROW_ORDER}) = 1
        ORDER BY probability DESC, symbol LIMIT ?""", [date, top if top is not None else 2**31 - 1])
    return date, rows

__all__ = [
    "SIGNAL_ROW_ORDER",
    "load_signal",
    "load_signal_cross_section",
    "SIGNAL_COLUMNS",
    "NoChampionError",
    "SignalScoreReport",
    "run_score_signals",
]
