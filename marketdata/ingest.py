"""Ingest use case: source -> guardrails -> idempotent upserts into the warehouse, with an audit row."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pandas as pd

from marketdata.calendar import sessions
from marketdata.config import GuardrailSettings
from marketdata.guardrails import SERIES_CHECKS, compute_row_checks, compute_series_checks, empty_flags
from marketdata.sources import Source
from stores.warehouse import Warehouse, transaction, upsert, utcnow

HISTORY_SESSIONS = 30
"""Stored sessions read before a batch so series checks see across the boundary."""


@dataclass
class IngestReport:
    """What one ingest did, per reason; printed and stored in `ingest_runs.report`."""

    run_id: str
    source: str
    symbols: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    flags: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    flags_by_check: dict[str, int] = field(default_factory=dict)
    flags_cleared: int = 0
    rows_retracted: int = 0
    """Stored bars moved to quarantine because this batch showed them to be reverted spikes."""
    """Stored flags inside a re-ingested span that the new data no longer raises (e.g. a corrected tick)."""
    errors: list[str] = field(default_factory=list)
    status: str = "running"

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), default=str)


def _load_history(con, accepted: pd.DataFrame) -> pd.DataFrame:
    """The last HISTORY_SESSIONS stored bars of each symbol before that symbol's first date in the batch."""
    firsts = accepted.groupby("symbol", sort=False)["date"].min().reset_index().rename(columns={"date": "first"})
    con.register("_firsts", firsts)
    try:
        return con.execute(
            """
            SELECT symbol, date, open, high, low, close, adj_close, volume, vwap, dividend, split_coefficient
            FROM (
                SELECT b.*, row_number() OVER (PARTITION BY b.symbol ORDER BY b.date DESC) AS rn
                FROM bars b JOIN _firsts f ON b.symbol = f.symbol AND b.date < f."first"
            ) WHERE rn <= ? ORDER BY symbol, date
            """,
            [HISTORY_SESSIONS],
        ).df()
    finally:
        con.unregister("_firsts")


def _drop_rejected(accepted: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Accepted rows minus the (symbol, date) keys the series checks moved to quarantine."""
    bad = pd.MultiIndex.from_arrays([rejected["symbol"].astype(str), rejected["date"].astype(str)])
    key = pd.MultiIndex.from_arrays(
        [accepted["symbol"].astype(str), pd.to_datetime(accepted["date"]).dt.strftime("%Y-%m-%d")]
    )
    return accepted[~key.isin(bad)]


def _insert_quarantine(con, rejected: pd.DataFrame, source: str, run_id: str, now) -> int:
    """Append rejected rows unless the same row was already quarantined for the same reason."""
    if rejected.empty:
        return 0
    q = rejected.assign(source=source, run_id=run_id, ingested_at=now)
    q = q.drop_duplicates(["symbol", "date", "source", "reason", "raw"])
    con.register("_q", q)
    try:
        before = con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0]
        con.execute(
            """
            INSERT INTO quarantine (symbol, date, source, reason, detail, raw, run_id, ingested_at)
            SELECT q.symbol, q.date, q.source, q.reason, q.detail, q.raw, q.run_id, q.ingested_at FROM _q q
            WHERE NOT EXISTS (
                SELECT 1 FROM quarantine x
                WHERE x.symbol IS NOT DISTINCT FROM q.symbol AND x.date IS NOT DISTINCT FROM q.date
                  AND x.source = q.source AND x.reason = q.reason AND x.raw IS NOT DISTINCT FROM q.raw
            )
            """
        )
        return con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] - before
    finally:
        con.unregister("_q")


def _stored_keys(rejected: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """The rejected (symbol, date) keys that are stored bars (from `history`), not rows of this batch."""
    if history.empty:
        return pd.DataFrame({"symbol": [], "date": []})
    keys = rejected[["symbol", "date"]].assign(date=lambda f: pd.to_datetime(f["date"]))
    stored = history[["symbol", "date"]].assign(date=lambda f: pd.to_datetime(f["date"]))
    return keys.merge(stored, on=["symbol", "date"], how="inner")


def _retract_bars(con, keys: pd.DataFrame) -> int:
    """Delete stored bars now known to be bad ticks (their rows are in quarantine)."""
    con.register("_retract", keys)
    try:
        before = con.execute("SELECT count(*) FROM bars").fetchall()[0][0]
        con.execute(
            "DELETE FROM bars b WHERE EXISTS "
            "(SELECT 1 FROM _retract r WHERE r.symbol = b.symbol AND r.date = b.date)"
        )
        return before - con.execute("SELECT count(*) FROM bars").fetchall()[0][0]
    finally:
        con.unregister("_retract")


def _clear_stale_flags(con, accepted: pd.DataFrame, flags: pd.DataFrame | None) -> int:
    """Delete series flags inside each symbol's span in this batch that the checks no longer raise.

    Flags still raised are left alone (then upserted unchanged), so a re-run keeps the table identical.
    """
    spans = accepted.groupby("symbol", sort=False)["date"].agg(["min", "max"]).reset_index()
    keep = (flags if flags is not None else empty_flags())[["symbol", "date", "check"]].astype(
        {"symbol": object, "check": object}
    )
    keep = keep.assign(date=pd.to_datetime(keep["date"]))
    con.register("_spans", spans)
    con.register("_keep", keep)
    try:
        before = con.execute("SELECT count(*) FROM data_quality").fetchall()[0][0]
        con.execute(
            f"""
            DELETE FROM data_quality d
            WHERE d."check" IN ({", ".join(f"'{c}'" for c in SERIES_CHECKS)})
              AND EXISTS (SELECT 1 FROM _spans s
                          WHERE s.symbol = d.symbol AND d.date BETWEEN s."min" AND s."max")
              AND NOT EXISTS (SELECT 1 FROM _keep k
                              WHERE k.symbol = d.symbol AND k.date = d.date AND k."check" = d."check")
            """
        )
        return before - con.execute("SELECT count(*) FROM data_quality").fetchall()[0][0]
    finally:
        con.unregister("_spans")
        con.unregister("_keep")


def run_ingest(
    warehouse: Warehouse,
    source: Source,
    guard: GuardrailSettings,
    calendar: str = "XNYS",
    on_batch: Callable[[str, int], None] | None = None,
) -> IngestReport:
    """Ingest every batch of `source`; each batch is one transaction (a crash keeps what was stored).

    Re-ingesting the same input changes no table but `ingest_runs`; corrected values for stored dates
    update the row and count as updates.
    """
    warehouse.migrate()
    report = IngestReport(run_id=uuid.uuid4().hex[:12], source=source.name)
    started = utcnow()
    q_reasons: Counter[str] = Counter()
    f_checks: Counter[str] = Counter()
    symbols: set[str] = set()
    with warehouse.session() as con:
        con.execute(
            "INSERT INTO ingest_runs (run_id, source, started_at, status) VALUES (?, ?, ?, 'running')",
            [report.run_id, source.name, started],
        )
        try:
            for batch in source.batches():
                if batch.error is not None:
                    report.errors.append(str(batch.error))
                    if on_batch:
                        on_batch(batch.label, 0)
                    continue
                raw = batch.frame
                report.rows_read += len(raw)
                checked = compute_row_checks(raw)
                accepted = checked.accepted
                rejected = [checked.rejected]
                flags = None
                retract = None
                if not accepted.empty:
                    history = _load_history(con, accepted)
                    first = pd.Timestamp(accepted["date"].min())
                    if len(history):
                        first = min(first, pd.Timestamp(history["date"].min()))
                    cal = sessions(first.date(), pd.Timestamp(accepted["date"].max()).date(), calendar)
                    series = compute_series_checks(accepted, history, cal, guard)
                    flags = series.flags
                    if not series.rejected.empty:
                        rejected.append(series.rejected)
                        accepted = _drop_rejected(accepted, series.rejected)
                        retract = _stored_keys(series.rejected, history)
                nonempty = [r for r in rejected if not r.empty]
                rejected_all = pd.concat(nonempty, ignore_index=True) if nonempty else checked.rejected
                now = utcnow()
                with transaction(con):
                    bars = accepted.assign(source=source.name, ingested_at=now)
                    res = upsert(con, "bars", bars, ["symbol", "date"], ignore_in_compare=["ingested_at", "source"])
                    _insert_quarantine(con, rejected_all, source.name, report.run_id, now)
                    if retract is not None and not retract.empty:
                        report.rows_retracted += _retract_bars(con, retract)
                    if not accepted.empty:
                        report.flags_cleared += _clear_stale_flags(con, accepted, flags)
                    if flags is not None and not flags.empty:
                        fl = flags.assign(run_id=report.run_id, detected_at=now)
                        upsert(con, "data_quality", fl, ["symbol", "date", "check"],
                               ignore_in_compare=["run_id", "detected_at"])
                report.rows_accepted += len(accepted)
                report.rows_quarantined += len(rejected_all)
                report.rows_inserted += res.inserted
                report.rows_updated += res.updated
                report.rows_unchanged += res.unchanged
                q_reasons.update(rejected_all["reason"].tolist())
                if flags is not None:
                    report.flags += len(flags)
                    f_checks.update(flags["check"].tolist())
                symbols.update(accepted["symbol"].unique().tolist())
                symbols.update(s for s in rejected_all["symbol"].dropna().unique().tolist())
                if on_batch:
                    on_batch(batch.label, len(raw))
            truth = source.truth()
            if truth is not None:
                with transaction(con):
                    con.execute("DELETE FROM sample_truth")
                    con.register("_truth", truth)
                    con.execute("INSERT INTO sample_truth BY NAME SELECT * FROM _truth")
                    con.unregister("_truth")
            report.status = "partial" if report.errors else "ok"
        except BaseException as exc:
            report.status = "failed"
            report.errors.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            report.symbols = sorted(symbols)
            report.quarantined_by_reason = dict(q_reasons)
            report.flags_by_check = dict(f_checks)
            con.execute(
                """
                UPDATE ingest_runs SET symbols = ?, rows_read = ?, rows_accepted = ?, rows_quarantined = ?,
                    rows_inserted = ?, rows_updated = ?, rows_unchanged = ?, flags = ?, finished_at = ?,
                    status = ?, message = ?, report = ?
                WHERE run_id = ?
                """,
                [
                    report.symbols, report.rows_read, report.rows_accepted, report.rows_quarantined,
                    report.rows_inserted, report.rows_updated, report.rows_unchanged, report.flags, utcnow(),
                    report.status, "; ".join(report.errors)[:2000] or None, report.to_json(), report.run_id,
                ],
            )
    return report
