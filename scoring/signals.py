"""Batch signal scoring (`run_score_signals`): the champion's calibrated probability, raw score and TreeSHAP
attribution per symbol and date, upserted into `signals`. The scores themselves are
`models.signals.compute_signal_scores`, the same code the registered pyfunc runs."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import features
from executors import Executor
from models.signals import compute_signal_scores
from registry.core import SIGNAL_MODEL, NoChampionError, latest_version_tags
from registry.signals import load_signal_model
from stores.warehouse import UpsertResult, transaction, upsert, utcnow

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


def load_signal_chunk(con, feature_set: str, dates: Sequence[dt.date]) -> pd.DataFrame:
    """The inputs of one chunk of dates: symbol, date, the set's feature columns (whole cross-sections) and
    `n`, the symbol's count of bars up to and including the date. Read-only."""
    frame = features.load_feature_frame(con, feature_set, dates=list(dates))
    if frame.empty:
        frame["n"] = pd.Series(dtype="int64")
        return frame
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    lo, hi = min(frame["date"]), max(frame["date"])
    hist = con.execute(
        "SELECT symbol, date, n FROM (SELECT symbol, date, "
        "row_number() OVER (PARTITION BY symbol ORDER BY date) AS n FROM bars WHERE date <= ?) "
        "WHERE date >= ?", [hi, lo],
    ).df()
    hist["date"] = pd.to_datetime(hist["date"]).dt.date
    return frame.merge(hist, on=["symbol", "date"], how="left")


@dataclass(frozen=True)
class SignalChunk:
    """One scored chunk: the rows to upsert (SIGNAL_COLUMNS) and what was left out."""

    rows: pd.DataFrame
    skipped_rows: int
    """Rows (symbol, date) left out because the symbol had too little history at that date."""
    scored_symbols: frozenset[str]
    considered_symbols: frozenset[str]


def compute_signal_chunk(
    model,
    frame: pd.DataFrame,
    *,
    stamp: dict[str, Any],
    top_k: int,
    min_history: int,
    symbols: Sequence[str] | None = None,
    n_jobs: int = 0,
) -> SignalChunk:
    """Score one chunk of dates: `frame` from `load_signal_chunk` (whole cross-sections), `model` a
    `models.signals.SignalModel`, `stamp` the columns every row carries (model_name, model_version,
    feature_set, horizon, run_id, scored_at). Pure: no I/O; chunks are independent of each other, so a
    backfill may score them anywhere and in any order, then write them with `write_signal_chunk`."""
    wanted = set(symbols) if symbols else None
    considered = set(frame["symbol"]) & wanted if wanted else set(frame["symbol"])
    ok = frame["n"].fillna(0).to_numpy() >= min_history
    skipped = int((~ok).sum())
    if not ok.all():
        frame = frame.loc[ok]
    if frame.empty:
        return SignalChunk(pd.DataFrame(columns=SIGNAL_COLUMNS), skipped, frozenset(), frozenset(considered))
    scores = compute_signal_scores(model, frame, top_k, n_jobs=n_jobs)
    if wanted:
        scores = scores[scores["symbol"].isin(wanted)]
    for k in ("model_name", "model_version", "feature_set", "horizon", "run_id", "scored_at"):
        scores[k] = stamp[k]
    return SignalChunk(scores[SIGNAL_COLUMNS].reset_index(drop=True), skipped,
                       frozenset(scores["symbol"].unique()), frozenset(considered))


def write_signal_chunk(con, rows: pd.DataFrame) -> UpsertResult:
    """Upsert one chunk's rows into `signals` in its own transaction (idempotent: identical rows, apart from
    `scored_at`, are left as they are)."""
    with transaction(con):
        return upsert(con, "signals", rows, SIGNAL_KEYS, ignore_in_compare=["scored_at"])


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

    Chunks of `batch_dates` dates: while one chunk is written, the next one is read and scored. With a
    distributed `executor` (default `ctx.executor`: Dask workers when settings name them) the chunks are
    scored on its workers, as many at once as it has, and written here as they come back: the warehouse
    keeps one writer, and the rows do not depend on where they were scored.
    """

    settings = ctx.settings
    bundle = load_signal_model(ctx.mlflow, alias=alias)
    if bundle is None:
        newest = latest_version_tags(ctx.mlflow, SIGNAL_MODEL)
        why = (f"none in the MLflow registry at {ctx.mlflow.display_uri}" if newest is None else
               f"the newest version, v{newest[0]}, was not promoted: "
               f"{newest[1].get('promotion.reason', 'no promotion decision recorded')}")
        raise NoChampionError(SIGNAL_MODEL, alias, f"{why}; no signals are served until a version passes the "
                              "promotion gate: train one with `foresight train signals`")
    model = bundle.model
    min_hist = settings.scoring.min_history_sessions
    top_k = settings.scoring.top_k_attribution
    stamp = {"model_name": SIGNAL_MODEL, "model_version": str(bundle.version), "feature_set": bundle.feature_set,
             "horizon": int(bundle.horizon), "run_id": bundle.run_id}
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
        totals = {"ins": 0, "upd": 0, "same": 0, "scored": 0, "skipped": 0}
        seen_symbols: set[str] = set()
        considered: set[str] = set()
        chunks = [all_dates[i : i + batch_dates] for i in range(0, len(all_dates), batch_dates)]

        def load(chunk_dates) -> pd.DataFrame:
            # Whole cross-sections are loaded even for a few `symbols`: the model ranks features per date.
            cur = con.cursor()
            try:
                return load_signal_chunk(cur, bundle.feature_set, chunk_dates)
            finally:
                cur.close()

        def score(frame: pd.DataFrame) -> SignalChunk:
            return compute_signal_chunk(model, frame, stamp={**stamp, "scored_at": utcnow()}, top_k=top_k,
                                        min_history=min_hist, symbols=symbols)

        run_on = executor or ctx.executor
        if run_on.distributed and len(chunks) > 1:
            scored = _score_on(run_on, con, bundle, chunks, stamp, top_k, min_hist, symbols,
                               retries=settings.executor.chunk_retries)
        else:
            scored = _score_here(load, score, chunks)
        for chunk in scored:
            totals["skipped"] += chunk.skipped_rows
            considered.update(chunk.considered_symbols)
            seen_symbols.update(chunk.scored_symbols)
            if chunk.rows.empty:
                continue
            res = write_signal_chunk(con, chunk.rows)
            totals["ins"] += res.inserted
            totals["upd"] += res.updated
            totals["same"] += res.unchanged
            totals["scored"] += len(chunk.rows)
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


def _score_here(load, score, chunks) -> Iterator[SignalChunk]:
    """The chunks in this process, in order, in three overlapping stages: while one chunk is written (by the
    caller), the next is scored and the one after is read. A chunk's frame is read once and dropped once
    scored: at most three chunks are held at a time."""
    if not chunks:
        return
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as scorer:
        frames = deque(reader.submit(load, c) for c in chunks[:2])
        pending = scorer.submit(_score_loaded, score, frames.popleft())
        for i in range(len(chunks)):
            chunk = pending.result()
            if i + 2 < len(chunks):
                frames.append(reader.submit(load, chunks[i + 2]))
            pending = scorer.submit(_score_loaded, score, frames.popleft()) if frames else None
            yield chunk


def _score_loaded(score, frame: Future) -> SignalChunk:
    return score(frame.result())


def _score_on(executor: Executor, con, bundle, chunks, stamp, top_k, min_hist, symbols, *,
              retries: int) -> Iterator[SignalChunk]:
    """The chunks scored on `executor`'s workers, in the order they finish. This process reads each chunk's
    inputs (the warehouse has one process) only when a worker is ready for it, and ships the model once."""
    model = executor.share(bundle.model)
    threads = executor.threads

    def calls():
        for chunk_dates in chunks:
            # Whole cross-sections are loaded even for a few `symbols`: the model ranks features per date.
            frame = load_signal_chunk(con, bundle.feature_set, chunk_dates)
            yield model, frame, {**stamp, "scored_at": utcnow()}, top_k, min_hist, symbols, threads

    for _, chunk in executor.run_unordered(_compute_signal_chunk_call, calls(), name="score-signals",
                                           retries=retries):
        yield chunk


def _compute_signal_chunk_call(model, frame, stamp, top_k, min_history, symbols, n_jobs) -> SignalChunk:
    """`compute_signal_chunk` with positional arguments: the form an executor call takes."""
    return compute_signal_chunk(model, frame, stamp=stamp, top_k=top_k, min_history=min_history, symbols=symbols,
                                n_jobs=n_jobs)


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
    "load_signal_chunk",
    "run_score_signals",
    "write_signal_chunk",
]
