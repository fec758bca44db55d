"""Use case `run_score_regimes` (nightly / backfill to MongoDB + the DuckDB mirror) and mirror read helpers.

Write order: MongoDB (the system of record) first, in idempotent batches; then the DuckDB mirror is
filled from what MongoDB holds, in one transaction. A Mongo failure raises `MongoUnavailable` before
DuckDB is touched, so the mirror never holds a row MongoDB lacks; re-running completes the work.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass

import pandas as pd

from features.series import load_market_series
from models.regimes import compute_regime_frame, compute_regime_sharpe
from registry.core import REGIME_MODEL, NoChampionError
from registry.regimes import load_regime_model
from stores.mongo import (
    MongoUnavailable,
    compute_regime_documents,
    load_regime_documents,
    open_mongo,
    save_regime_documents,
)
from stores.warehouse import transaction, upsert, utcnow

MIRROR_COLUMNS = [
    "date", "universe", "regime", "probabilities", "model_name", "model_version", "scored_at",
    "regime_probability", "raw_regime", "raw_probability", "regime_age", "market_return", "in_sample",
    "enter_threshold", "leave_threshold", "run_id", "fit_end",
]
_KEY = ["universe", "date", "model_version"]


@dataclass(frozen=True)
class ScoreRegimesReport:
    """What a regimes scoring run wrote."""

    universe: str
    start: dt.date
    end: dt.date
    model_version: str
    rows: int
    mongo_inserted: int
    mongo_updated: int
    mongo_unchanged: int
    duckdb_inserted: int
    duckdb_updated: int
    duckdb_unchanged: int
    last_regime: str | None

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()}


def compute_mirror_rows(frame: pd.DataFrame, series: pd.DataFrame, *, universe: str, model_name: str,
                        model_version: str, run_id: str, train_end: str | None,
                        scored_at: dt.datetime) -> pd.DataFrame:
    """Rows of the `regimes` contract from a scored frame (pure)."""
    out = frame.drop(columns=["log_density"]).copy()
    out["market_return"] = series["ret"].to_numpy()
    out["universe"] = universe
    out["model_name"] = model_name
    out["model_version"] = str(model_version)
    out["run_id"] = run_id
    out["scored_at"] = scored_at
    if "fit_end" not in out:
        cut = dt.date.fromisoformat(train_end) if train_end else None
        out["fit_end"] = cut
        out["in_sample"] = [bool(cut is not None and d <= cut) for d in out["date"]]
    # in_sample: the parameters in force were fitted on data including this day (filtered, not out of sample)
    out["regime_age"] = out["regime_age"].astype("int64")
    return out[MIRROR_COLUMNS]


def _mirror_from_documents(docs: list[dict]) -> pd.DataFrame:
    rows = []
    for d in docs:
        row = {c: d.get(c) for c in MIRROR_COLUMNS}
        row["date"] = d["date"].date() if isinstance(d["date"], dt.datetime) else d["date"]
        row["probabilities"] = json.dumps(d["probabilities"], sort_keys=True)
        if isinstance(row["fit_end"], dt.datetime):
            row["fit_end"] = row["fit_end"].date()
        rows.append(row)
    frame = pd.DataFrame(rows, columns=MIRROR_COLUMNS)
    return frame


def run_score_regimes(ctx, start: dt.date | None = None, end: dt.date | None = None, *,
                      mongo_db=None, alias: str = "champion") -> ScoreRegimesReport:
    """Score regimes for [start, end] with the `alias` model and write MongoDB, then the DuckDB mirror.

    Nightly: no arguments = the last session in `bars` (the as-of date). Backfill: a range. The forward
    filter always runs from the first session of history so a day's row is the same whether it was
    written by the nightly run or a backfill, and uses sessions <= that day only; each day uses the
    model's walk-forward parameters in force (fitted on earlier sessions; `fit_end`, `in_sample`). Re-runs change nothing
    (identical rows are left untouched, scored_at included). `mongo_db`: a pymongo Database to use instead
    of opening one from settings (tests, flows holding a connection)."""

    s = ctx.settings
    cfg = s.regimes
    ctx.warehouse.migrate()
    model = load_regime_model(ctx.mlflow, alias)
    if model is None:
        raise NoChampionError(REGIME_MODEL, alias, "run `foresight train regimes` first")
    params = model.params
    benchmark = params.extra.get("benchmark_symbol", cfg.benchmark_symbol)
    vol_window = int(params.extra.get("vol_window", cfg.vol_window))
    with ctx.warehouse.session(read_only=True) as con:
        series = load_market_series(con, benchmark, vol_window, end=end)
    series = series.dropna(subset=["ret"]).reset_index(drop=True)
    if series.empty:
        raise ValueError("no market returns to score")
    last = series["date"].iloc[-1].date()
    end_d = min(pd.Timestamp(end).date(), last) if end is not None else last
    start_d = pd.Timestamp(start).date() if start is not None else end_d
    if start_d > end_d:
        # e.g. a nightly run on a holiday: no session in [start, end], nothing to write
        return ScoreRegimesReport(s.universe, start_d, end_d, model.version, 0, 0, 0, 0, 0, 0, 0, None)
    frame = compute_regime_frame(series["date"], series["ret"].to_numpy(), params)
    rows = compute_mirror_rows(
        frame, series, universe=s.universe, model_name=REGIME_MODEL, model_version=model.version,
        run_id=model.run_id, train_end=params.train_end, scored_at=utcnow(),
    )
    rows = rows[(rows["date"] >= start_d) & (rows["date"] <= end_d)].reset_index(drop=True)
    docs = compute_regime_documents(rows.to_dict("records"))

    def _write(db):
        from pymongo.errors import PyMongoError

        res = save_regime_documents(db, docs, cfg.mongo_batch_size)
        try:
            stored = load_regime_documents(db, s.universe, start_d, end_d, model.version)
        except PyMongoError as exc:
            raise MongoUnavailable(
                f"MongoDB read-back of regimes failed ({type(exc).__name__}); the DuckDB mirror was not "
                "changed. Re-run once the server answers (writes are idempotent)."
            ) from exc
        return res, stored

    if mongo_db is not None:
        mres, stored = _write(mongo_db)
    else:
        with open_mongo(s.mongodb, s.home) as db:
            mres, stored = _write(db)
    mirror = _mirror_from_documents(stored)
    with ctx.warehouse.session() as con, transaction(con):
        dres = upsert(con, "regimes", mirror, _KEY, ignore_in_compare=("scored_at",))
    return ScoreRegimesReport(
        universe=s.universe, start=start_d, end=end_d, model_version=model.version, rows=len(rows),
        mongo_inserted=mres.inserted, mongo_updated=mres.updated, mongo_unchanged=mres.unchanged,
        duckdb_inserted=dres.inserted, duckdb_updated=dres.updated, duckdb_unchanged=dres.unchanged,
        last_regime=str(rows["regime"].iloc[-1]) if len(rows) else None,
    )


# -- read helpers (the API / DashboardService read the DuckDB mirror) --------------------------------------
# Several model versions can score one date (each version's backfill, the nightly champion): the row that
# is "the regime of the date" is the out-of-sample one first (its parameters never saw the day), then the
# most recently scored version, then the higher version. The API, the backtest and forecasts read it so.
REGIME_ROW_ORDER = ("in_sample IS TRUE, scored_at DESC NULLS LAST, "
                    "TRY_CAST(model_version AS INTEGER) DESC NULLS LAST, model_version DESC")


def _latest_version_clause() -> str:
    return f"QUALIFY row_number() OVER (PARTITION BY date ORDER BY {REGIME_ROW_ORDER}) = 1"


def _version_filter(sql: str, args: list, model_version: str | None) -> str:
    if model_version is None:
        return sql
    args.append(str(model_version))
    return sql + " AND model_version = ?"


def load_regime_history(con, universe: str, start=None, end=None, model_version: str | None = None) -> pd.DataFrame:
    """Mirror rows of `universe` between start and end inclusive (one per date by REGIME_ROW_ORDER, or the
    rows of `model_version`), oldest first; `probabilities` decoded to dicts."""
    args: list = [universe]
    sql = _version_filter("SELECT * FROM regimes WHERE universe = ?", args, model_version)
    if start is not None:
        sql += " AND date >= ?"
        args.append(pd.Timestamp(start).date())
    if end is not None:
        sql += " AND date <= ?"
        args.append(pd.Timestamp(end).date())
    df = con.execute(sql + f" {_latest_version_clause()} ORDER BY date", args).df()
    if not df.empty:
        df["date"] = pd.to_datetime(df["date"]).dt.date
        df["probabilities"] = [json.loads(p) if isinstance(p, str) else p for p in df["probabilities"]]
    return df


def load_current_regime(con, universe: str, date=None, model_version: str | None = None) -> dict | None:
    """The regime as of `date` (the latest row with date <= `date`; None = the latest row), or None.

    Keys: date, universe, regime, probability (of that regime), probabilities, raw_regime, age_sessions,
    model_name, model_version, scored_at, in_sample. `date` in the answer tells whether it is an exact hit."""
    args: list = [universe]
    sql = _version_filter("SELECT * FROM regimes WHERE universe = ?", args, model_version)
    if date is not None:
        sql += " AND date <= ?"
        args.append(pd.Timestamp(date).date())
    rows = con.execute(sql + f" {_latest_version_clause()} ORDER BY date DESC LIMIT 1", args).df()
    if rows.empty:
        return None
    r = rows.iloc[0]
    probs = r["probabilities"]

    def known(value, cast):  # a column a row may lack (rows written before it existed): None
        return None if pd.isna(value) else cast(value)

    return {
        "date": pd.Timestamp(r["date"]).date(),
        "universe": r["universe"],
        "regime": r["regime"],
        "probability": known(r["regime_probability"], float),
        "probabilities": json.loads(probs) if isinstance(probs, str) else probs,
        "raw_regime": known(r["raw_regime"], str),
        "age_sessions": known(r["regime_age"], int),
        "model_name": r["model_name"],
        "model_version": r["model_version"],
        "scored_at": known(r["scored_at"], lambda v: pd.Timestamp(v).to_pydatetime()),
        "in_sample": known(r["in_sample"], bool),
    }


def load_regime_sharpe(con, universe: str, end=None, model_version: str | None = None) -> pd.DataFrame:
    """Each regime's historical annualised Sharpe of the market return (regime known at t-1, return at t),
    over the mirror's history up to `end`: columns regime, sessions, mean, vol, sharpe."""
    hist = load_regime_history(con, universe, None, end, model_version)
    if hist.empty:
        return pd.DataFrame(columns=["regime", "sessions", "mean", "vol", "sharpe"])
    idx = pd.to_datetime(hist["date"])
    return compute_regime_sharpe(pd.Series(hist["market_return"].to_numpy(), index=idx),
                                 pd.Series(hist["regime"].to_numpy(), index=idx))


__all__ = ["REGIME_ROW_ORDER", "ScoreRegimesReport", "compute_mirror_rows", "load_current_regime", "load_regime_history",
           "load_regime_sharpe", "run_score_regimes"]
