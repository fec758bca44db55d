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
from executors import Executor, InProcessExecutor
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


@dataclass
class SignalChunk:
    """What scoring one chunk of dates produced (`compute_signal_chunk`): plain data, so it can come back
    from another process."""

    rows: pd.DataFrame
    """SIGNAL_COLUMNS without `scored_at` (the writer stamps it)."""
    skipped_rows: int
    considered: set[str]
    scored: set[str]


def compute_signal_chunk(model, frame: pd.DataFrame, labels: dict[str, Any], *, top_k: int, min_history: int,
                         symbols: Sequence[str] | None = None) -> SignalChunk:
    """Score one chunk: `frame` holds whole cross-sections (features of some dates, plus `n`, the symbol's
    count of bars up to the date). Rows with `n < min_history` are skipped; `labels` (model_name,
    model_version, feature_set, horizon, run_id) go on every row. Pure: the same inputs give the same rows
    in any process, which is what lets a backfill run its chunks anywhere."""
    keep = set(symbols) if symbols else None
    considered = set(frame["symbol"]) & keep if keep else set(frame["symbol"])
    ok = frame["n"].fillna(0).to_numpy() >= min_history
    frame = frame.loc[ok]
    if frame.empty:
        return SignalChunk(pd.DataFrame(columns=SIGNAL_COLUMNS[:-1]), int((~ok).sum()), considered, set())
    scored = set(frame["symbol"].unique())
    scores = compute_signal_scores(model, frame, top_k)
    if keep:
        scores = scores[scores["symbol"].isin(keep)]
        scored &= keep
    for key, value in labels.items():
        scores[key] = value
    return SignalChunk(scores[SIGNAL_COLUMNS[:-1]].reset_index(drop=True), int((~ok).sum()), considered, scored)


def save_signal_rows(con, rows: pd.DataFrame):
    """Upsert scored rows into `signals` in one transaction (the one writer); `scored_at` is stamped here and
    not compared, so re-writing identical rows changes nothing. Returns the `UpsertResult`."""
    rows = rows.assign(scored_at=utcnow())
    with transaction(con):
        return upsert(con, "signals", rows[SIGNAL_COLUMNS], SIGNAL_KEYS, ignore_in_compare=["scored_at"])


def run_score_signals(
    ctx,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    symbols: Sequence[str] | None = None,
    dates: Sequence[dt.date] | None = None,
    alias: str = "champion",
    batch_dates: int = 250,
    executor: Executor | None = None,
) -> SignalScoreReport:
    """Score the `champion` of `foresight-signal` over [start, end] (or `dates`) and upsert into `signals`.

    `ctx` is a `foresight.context.AppContext` (settings, warehouse, mlflow). start/end None = every date of
    the features table. Symbols with fewer than `settings.scoring.min_history_sessions` bars up to a date
    are skipped for that date and reported. Idempotent: a re-run with the same model changes nothing.
    Raises NoChampionError when no model has been trained and promoted yet.

    The dates are cut into chunks of `batch_dates`; each chunk is scored by `compute_signal_chunk` on
    `executor` (default `ctx.executor`: this process, or Dask workers when settings name them) and written
    here as it comes back, so the warehouse keeps one writer and the rows do not depend on where they were
    scored. A single chunk is scored in this process (shipping it would only add latency).
    """

    settings = ctx.settings
    bundle = load_signal_model(ctx.mlflow, alias=alias)
    if bundle is None:
        raise NoChampionError(SIGNAL_MODEL, alias, f"none in the MLflow registry at {ctx.mlflow.display_uri}; "
                              "train one first with `foresight train signals`")
    labels = {"model_name": SIGNAL_MODEL, "model_version": str(bundle.version), "feature_set": bundle.feature_set,
              "horizon": int(bundle.horizon), "run_id": bundle.run_id}
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
        chunks = [all_dates[i : i + batch_dates] for i in range(0, len(all_dates), batch_dates)]
        run_on = executor or ctx.executor
        if len(chunks) <= 1:
            run_on = InProcessExecutor()
        model = run_on.share(bundle.model)

        def calls():
            for chunk in chunks:
                # Whole cross-sections are loaded even for a few `symbols`: the model ranks features per date.
                frame = features.load_feature_frame(con, bundle.feature_set, dates=chunk)
                if frame.empty:
                    continue
                frame["date"] = pd.to_datetime(frame["date"]).dt.date
                yield model, frame.merge(hist, on=["symbol", "date"], how="left"), labels, top_k, min_hist, symbols

        totals = {"ins": 0, "upd": 0, "same": 0, "scored": 0, "skipped": 0}
        seen_symbols: set[str] = set()
        considered: set[str] = set()
        for _, out in run_on.run_unordered(_score_chunk, calls(), name="score-signals",
                                           retries=settings.executor.chunk_retries):
            totals["skipped"] += out.skipped_rows
            considered |= out.considered
            seen_symbols |= out.scored
            if out.rows.empty:
                continue
            res = save_signal_rows(con, out.rows)
            totals["ins"] += res.inserted
            totals["upd"] += res.updated
            totals["same"] += res.unchanged
            totals["scored"] += len(out.rows)
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


def _score_chunk(model, frame, labels, top_k, min_history, symbols) -> SignalChunk:
    """`compute_signal_chunk` with positional arguments: the form an executor call takes."""
    return compute_signal_chunk(model, frame, labels, top_k=top_k, min_history=min_history, symbols=symbols)



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
    "SignalChunk",
    "SignalScoreReport",
    "compute_signal_chunk",
    "save_signal_rows",
    "run_score_signals",
]
