"""Ingest use case: source -> guardrails -> idempotent upserts into the warehouse, with an audit row.

What is stored depends on the data, never on how it was fed: the same final rows give the same `bars`,
`quarantine` and `data_quality` whether they arrive in one file, as a growing file re-sent every night or as
daily increments. Each batch writes its bars first, then recomputes the findings of every symbol it touched
over the stored series around it (enough bars before and after for every check), and re-weighs the suspects
whose market or peers it touched.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata.calendar import sessions
from marketdata.config import GuardrailSettings
from marketdata.guardrails import (
    CONTEXT_AFTER,
    MAX_GAP_DAYS,
    SERIES_CHECKS,
    SUSPECT_COLS,
    compute_row_checks,
    compute_series_checks,
    compute_suspect_counts,
    compute_suspect_verdicts,
    context_before,
    empty_flags,
    peer_span_days,
)
from marketdata.sources import Source
from stores.warehouse import Warehouse, transaction, upsert, utcnow

EXIT_OK = 0
EXIT_SOURCE_ERRORS = 3
"""`partial`: the source could not deliver some symbols or files; the others were ingested."""
EXIT_FAILED = 5
"""`failed`: the run accepted no row at all (nothing read, every row rejected, or every batch failed)."""
EXIT_TOO_MANY_REJECTED = 6
"""`partial`: more than `max_rejected_share` of the rows read were rejected; the others were ingested."""
OPTIONAL_FIELDS = ("open", "high", "low", "volume")
"""Fields a bar may lack; the report says for which symbols."""
_SCAN_DAYS_PER_BAR = 3
"""Calendar days scanned per context bar before reading a symbol's whole history."""


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
    """Findings over the stored series this run covered (raised or confirmed), suspects included."""
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    flags_by_check: dict[str, int] = field(default_factory=dict)
    flags_cleared: int = 0
    """Stored findings the data no longer supports (e.g. a missing session whose bar arrived)."""
    quarantine_resolved: int = 0
    """Open quarantine rows whose symbol and date now have a stored bar (a corrected row was accepted)."""
    suspects: int = 0
    """Suspected bad ticks in the data this run covered: every one kept in `bars`, flagged `spike_reverted`."""
    suspects_by_verdict: dict[str, int] = field(default_factory=dict)
    suspects_by_evidence: dict[str, int] = field(default_factory=dict)
    """Corroborated suspects per piece of evidence (market, peers, volume, range, second_source)."""
    missing_fields: dict[str, dict[str, int]] = field(default_factory=dict)
    """field -> symbol -> accepted rows stored with that field NULL (blank or absent in the input)."""
    rows_by_symbol: dict[str, int] = field(default_factory=dict)
    """Accepted rows per symbol in this run."""
    errors: list[str] = field(default_factory=list)
    status: str = "running"
    status_reason: str | None = None
    exit_code: int = EXIT_OK

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), default=str)


def compute_run_status(report: IngestReport, guard: GuardrailSettings) -> tuple[str, str | None, int]:
    """(status, reason, exit code) of a finished run.

    `failed` (EXIT_FAILED) when nothing was accepted; `partial` (EXIT_TOO_MANY_REJECTED) when more than
    `guard.max_rejected_share` of the rows read were rejected; `partial` (EXIT_SOURCE_ERRORS) when the source
    skipped symbols or files; `ok` otherwise.
    """
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(report.quarantined_by_reason.items(), key=lambda kv: -kv[1]))
    if report.rows_accepted == 0:
        if report.rows_read:
            why = f"nothing accepted: all {report.rows_read:,} rows read were rejected ({reasons})"
        elif report.errors:
            why = f"nothing accepted: no rows read, {len(report.errors)} source error(s)"
        else:
            why = "nothing accepted: the source delivered no rows"
        return "failed", why, EXIT_FAILED
    share = report.rows_quarantined / report.rows_read if report.rows_read else 0.0
    if share > guard.max_rejected_share:
        return "partial", (f"{report.rows_quarantined:,} of {report.rows_read:,} rows rejected ({share:.1%}, above "
                           f"max_rejected_share {guard.max_rejected_share:.1%}): {reasons}"), EXIT_TOO_MANY_REJECTED
    if report.errors:
        return "partial", f"{len(report.errors)} symbol(s) or file(s) skipped by the source", EXIT_SOURCE_ERRORS
    return "ok", None, EXIT_OK


def load_reference(path: Path | str) -> pd.DataFrame:
    """A second source's closes (symbol, date, close) from a file or folder in the csv source's format."""
    from marketdata.csvsource import CsvSource

    frames = [compute_row_checks(b.frame).accepted for b in CsvSource(path).batches() if b.frame is not None]
    if not frames:
        return pd.DataFrame({"symbol": [], "date": [], "close": []})
    return pd.concat(frames, ignore_index=True)[["symbol", "date", "close"]]


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


def _resolve_quarantine(con, symbols: list[str], run_id: str, now) -> int:
    """Mark resolved, by this run, the open quarantine rows of `symbols` whose symbol and date have a stored bar.

    Resolution depends only on what `bars` holds, so it ends the same whatever order the rows came in.
    """
    if not symbols:
        return 0
    con.register("_touched", pd.DataFrame({"symbol": sorted(set(symbols))}))
    try:
        return int(con.execute(
            """
            UPDATE quarantine q SET resolved_at = ?, resolved_run_id = ?
            FROM _touched t
            WHERE q.symbol = t.symbol AND q.resolved_at IS NULL
              AND EXISTS (SELECT 1 FROM bars b
                          WHERE b.symbol = q.symbol AND b.date = TRY_CAST(TRY_CAST(q.date AS TIMESTAMP) AS DATE))
            """,
            [now, run_id],
        ).fetchall()[0][0])
    finally:
        con.unregister("_touched")


_SERIES_SQL = """
    SELECT b.symbol, b.date, b.open, b.high, b.low, b.close, b.adj_close, b.volume, b.split_coefficient
    FROM bars b JOIN _ctx c ON b.symbol = c.symbol AND (c.lo IS NULL OR b.date >= c.lo)
    ORDER BY b.symbol, b.date
"""


def _load_series(con, firsts: pd.DataFrame, k: int, whole: bool = False) -> tuple[pd.DataFrame, set[str]]:
    """Stored bars of each symbol of `firsts` (symbol, first) from the k-th bar before `first` to the last one;
    and the symbols read from their first bar (fewer than k bars before `first`, or `whole`)."""
    con.register("_firsts", firsts)
    try:
        if whole:
            con.execute("CREATE OR REPLACE TEMP TABLE _ctx AS SELECT symbol, NULL::DATE AS lo FROM _firsts")
        else:
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE _ctx AS
                WITH ranked AS (
                    SELECT b.symbol, b.date, row_number() OVER (PARTITION BY b.symbol ORDER BY b.date DESC) AS k
                    FROM bars b JOIN _firsts f ON b.symbol = f.symbol
                    WHERE b.date < f."first" AND b.date >= f."first" - INTERVAL {k * _SCAN_DAYS_PER_BAR + 30} DAY
                )
                -- fewer than k bars in the scanned range: read the whole history (exact, just slower)
                SELECT f.symbol, r.date AS lo FROM _firsts f LEFT JOIN ranked r ON r.symbol = f.symbol AND r.k = ?
                """,
                [k],
            )
        series = con.execute(_SERIES_SQL).df()
        whole_syms = {r[0] for r in con.execute("SELECT symbol FROM _ctx WHERE lo IS NULL").fetchall()}
    finally:
        con.unregister("_firsts")
        con.execute("DROP TABLE IF EXISTS _ctx")
    series["date"] = pd.to_datetime(series["date"]).astype("datetime64[ns]")
    return series, whole_syms


def compute_regions(series: pd.DataFrame, firsts: pd.DataFrame, whole: set[str]) -> pd.DataFrame:
    """Per symbol, from which date the stored findings can change after bars from `first` on were written:
    `region_from` (every check but stale runs: CONTEXT_AFTER bars before `first`), `stale_from` (the start of
    the run of identical closes holding `region_from`), and `needs_whole` (that run reaches back to the first
    bar read while the series was read from a later bar: read it whole)."""
    s = series[["symbol", "date", "close"]].sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    s = s.merge(firsts, on="symbol", how="inner")
    s["pos"] = s.groupby("symbol", sort=False).cumcount()
    same = s["close"].eq(s["close"].shift()) & s["symbol"].eq(s["symbol"].shift())
    s["run_pos"] = s.groupby((~same).cumsum())["pos"].transform("min")
    s["run_date"] = s.groupby((~same).cumsum())["date"].transform("min")
    at_first = s[s["date"] >= s["first"]].groupby("symbol", sort=False)["pos"].min()
    target = (at_first - CONTEXT_AFTER).clip(lower=0).rename("target").reset_index()
    rows = s.merge(target, on="symbol").query("pos == target")
    return pd.DataFrame(
        {
            "symbol": rows["symbol"].to_numpy(dtype=object),
            "region_from": rows["date"].to_numpy(dtype="datetime64[ns]"),
            "stale_from": rows["run_date"].to_numpy(dtype="datetime64[ns]"),
            "needs_whole": ((rows["run_pos"] == 0) & ~rows["symbol"].isin(whole)).to_numpy(dtype=bool),
        }
    )


def _stored_suspects(con, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Stored `spike_reverted` findings dated in [lo, hi] as suspects (their own evidence from `evidence`)."""
    rows = con.execute(
        """SELECT symbol, date, evidence FROM data_quality
           WHERE "check" = 'spike_reverted' AND date BETWEEN ? AND ? AND evidence IS NOT NULL""",
        [lo.date(), hi.date()],
    ).fetchall()
    recs = []
    for sym, day, text in rows:
        ev = json.loads(text)
        recs.append({"symbol": sym, "date": pd.Timestamp(day), **{c: ev.get(c) for c in SUSPECT_COLS[2:]}})
    frame = pd.DataFrame(recs, columns=list(SUSPECT_COLS))
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    for c in SUSPECT_COLS[2:]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def _load_panel(con, dates: pd.Series, span_days: int) -> pd.DataFrame:
    """Bars (symbol, date, adj_close) of every symbol from `span_days` + MAX_GAP_DAYS + 1 before each date to it."""
    days = sorted(pd.to_datetime(dates).unique())
    ranges: list[list[pd.Timestamp]] = []
    for d in days:
        lo = d - pd.Timedelta(days=span_days + MAX_GAP_DAYS + 1)
        if ranges and lo <= ranges[-1][1]:
            ranges[-1][1] = d
        else:
            ranges.append([lo, d])
    con.register("_ranges", pd.DataFrame({"lo": [r[0] for r in ranges], "hi": [r[1] for r in ranges]}))
    try:
        return con.execute(
            """SELECT b.symbol, b.date, b.adj_close FROM bars b JOIN _ranges r
               ON b.date BETWEEN r.lo::DATE AND r.hi::DATE ORDER BY b.symbol, b.date"""
        ).df()
    finally:
        con.unregister("_ranges")


@dataclass
class _Findings:
    written: pd.DataFrame
    cleared: int


def _recheck(con, accepted: pd.DataFrame, cfg: GuardrailSettings, calendar: str,
             reference: pd.DataFrame | None, run_id: str, now) -> _Findings:
    """Recompute the findings the batch can have changed, write them and clear those no longer raised.

    Per touched symbol, every check over the stored series from `context_before + CONTEXT_AFTER` bars before its
    first batch date on (so each finding dated from `CONTEXT_AFTER` bars before it is exact); then the verdict of
    every suspect whose market or peer window holds a batch date, over all symbols.
    """
    firsts = (accepted.groupby("symbol", sort=False)["date"].min().reset_index()
              .rename(columns={"date": "first"}).astype({"first": "datetime64[ns]"}))
    k = context_before(cfg) + CONTEXT_AFTER + 1
    series, whole = _load_series(con, firsts, k)
    regions = compute_regions(series, firsts, whole)
    redo = regions.loc[regions["needs_whole"], "symbol"].tolist()
    if redo:  # a run of identical closes longer than the context: read those symbols whole
        again, _ = _load_series(con, firsts[firsts["symbol"].isin(redo)], k, whole=True)
        series = pd.concat([series[~series["symbol"].isin(redo)], again], ignore_index=True)
        whole |= set(redo)
        regions = compute_regions(series, firsts, whole)
    cal = sessions(series["date"].min().date(), series["date"].max().date(), calendar)
    found = compute_series_checks(series, cal, cfg)

    reg = regions.set_index("symbol")
    flags = found.flags.copy()
    if not flags.empty:
        fdate = pd.to_datetime(flags["date"])
        start = np.where(flags["check"] == "stale_price", flags["symbol"].map(reg["stale_from"]),
                         flags["symbol"].map(reg["region_from"]))
        flags = flags[fdate.to_numpy() >= pd.to_datetime(start).to_numpy()]
    fresh = found.suspects
    if not fresh.empty:
        fresh = fresh[fresh["date"].to_numpy() >= pd.to_datetime(fresh["symbol"].map(reg["region_from"])).to_numpy()]

    # Suspects elsewhere whose market or peer window holds a date this batch wrote.
    span = peer_span_days(cfg)
    lo = pd.Timestamp(accepted["date"].min())
    hi = pd.Timestamp(accepted["date"].max()) + pd.Timedelta(days=span + MAX_GAP_DAYS + 1)
    stored = _stored_suspects(con, lo, hi)
    if not stored.empty:
        in_region = stored["symbol"].isin(reg.index) & (
            stored["date"].to_numpy() >= pd.to_datetime(stored["symbol"].map(reg["region_from"])).to_numpy())
        stored = stored[~in_region.to_numpy()]
    suspects = pd.concat([x for x in (fresh, stored) if not x.empty], ignore_index=True) if (
        not fresh.empty or not stored.empty) else fresh
    verdicts = empty_flags()
    if not suspects.empty:
        panel = _load_panel(con, suspects["date"], span)
        verdicts = compute_suspect_verdicts(suspects, panel, cfg, reference)

    new = pd.concat([x for x in (flags, verdicts) if not x.empty], ignore_index=True) if (
        not flags.empty or not verdicts.empty) else empty_flags()
    cleared = _clear_flags(con, regions, new)
    if not new.empty:
        rows = new.assign(run_id=run_id, detected_at=now)
        upsert(con, "data_quality", rows, ["symbol", "date", "check"], ignore_in_compare=["run_id", "detected_at"])
    return _Findings(written=new, cleared=cleared)


def _clear_flags(con, regions: pd.DataFrame, keep: pd.DataFrame) -> int:
    """Delete the touched symbols' findings in their regions that the recomputation no longer raises.

    Findings still raised are left alone (then upserted unchanged), so a re-run keeps the table identical.
    """
    kept = (keep if not keep.empty else empty_flags())[["symbol", "date", "check"]].astype(
        {"symbol": object, "check": object})
    kept = kept.assign(date=pd.to_datetime(kept["date"]))
    con.register("_regions", regions[["symbol", "region_from", "stale_from"]])
    con.register("_keep", kept)
    try:
        return int(con.execute(
            f"""
            DELETE FROM data_quality d USING _regions r
            WHERE d.symbol = r.symbol
              AND d."check" IN ({", ".join(f"'{c}'" for c in SERIES_CHECKS)})
              AND d.date >= CASE WHEN d."check" = 'stale_price' THEN r.stale_from ELSE r.region_from END
              AND NOT EXISTS (SELECT 1 FROM _keep k
                              WHERE k.symbol = d.symbol AND k.date = d.date AND k."check" = d."check")
            """
        ).fetchall()[0][0])
    finally:
        con.unregister("_regions")
        con.unregister("_keep")


def _missing_fields(accepted: pd.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for col in OPTIONAL_FIELDS:
        counts = accepted.loc[accepted[col].isna(), "symbol"].value_counts()
        if len(counts):
            out[col] = {str(k): int(v) for k, v in counts.sort_index().items()}
    return out


def run_ingest(
    warehouse: Warehouse,
    source: Source,
    guard: GuardrailSettings,
    calendar: str = "XNYS",
    on_batch: Callable[[str, int], None] | None = None,
    reference: pd.DataFrame | None = None,
) -> IngestReport:
    """Ingest every batch of `source`; each batch is one transaction (a crash keeps what was stored).

    Rows the row checks reject go to `quarantine`; every other row is stored (a missing open, high, low or
    volume as NULL), and findings about it go to `data_quality`. Re-ingesting the same input changes no table
    but `ingest_runs`; corrected values for stored dates update the row and count as updates, and resolve the
    quarantined rows of that date. `reference` (symbol, date, close) is a second source for suspects (default:
    read from `guard.reference_path` when set). The report's status: see `compute_run_status`.
    """
    warehouse.migrate()
    if reference is None and guard.reference_path is not None:
        reference = load_reference(guard.reference_path)
    report = IngestReport(run_id=uuid.uuid4().hex[:12], source=source.name)
    started = utcnow()
    q_reasons: Counter[str] = Counter()
    f_checks: Counter[str] = Counter()
    symbols: set[str] = set()
    verdicts: dict[tuple[str, str], str] = {}
    missing: dict[str, Counter[str]] = {}
    per_symbol: Counter[str] = Counter()
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
                accepted, rejected = checked.accepted, checked.rejected
                now = utcnow()
                found = None
                with transaction(con):
                    bars = accepted.assign(source=source.name, ingested_at=now)
                    res = upsert(con, "bars", bars, ["symbol", "date"], ignore_in_compare=["ingested_at", "source"])
                    _insert_quarantine(con, rejected, source.name, report.run_id, now)
                    touched = [*accepted["symbol"].unique().tolist(), *rejected["symbol"].dropna().unique().tolist()]
                    report.quarantine_resolved += _resolve_quarantine(con, touched, report.run_id, now)
                    if not accepted.empty:
                        found = _recheck(con, accepted, guard, calendar, reference, report.run_id, now)
                        report.flags_cleared += found.cleared
                report.rows_accepted += len(accepted)
                report.rows_quarantined += len(rejected)
                report.rows_inserted += res.inserted
                report.rows_updated += res.updated
                report.rows_unchanged += res.unchanged
                q_reasons.update(rejected["reason"].tolist())
                if found is not None and not found.written.empty:
                    w = found.written
                    f_checks.update(w.loc[w["check"] != "spike_reverted", "check"].tolist())
                    spikes = w[w["check"] == "spike_reverted"]
                    for sym, day, text in zip(spikes["symbol"], spikes["date"], spikes["evidence"], strict=True):
                        verdicts[(str(sym), str(day))] = text
                for col, counts in _missing_fields(accepted).items():
                    missing.setdefault(col, Counter()).update(counts)
                per_symbol.update(accepted["symbol"].value_counts().to_dict())
                symbols.update(accepted["symbol"].unique().tolist())
                symbols.update(s for s in rejected["symbol"].dropna().unique().tolist())
                if on_batch:
                    on_batch(batch.label, len(raw))
            truth = source.truth()
            if truth is not None:
                with transaction(con):
                    con.execute("DELETE FROM sample_truth")
                    con.register("_truth", truth)
                    con.execute("INSERT INTO sample_truth BY NAME SELECT * FROM _truth")
                    con.unregister("_truth")
            report.quarantined_by_reason = dict(q_reasons)
            report.status, report.status_reason, report.exit_code = compute_run_status(report, guard)
        except BaseException as exc:
            report.status = "failed"
            report.errors.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            report.symbols = sorted(symbols)
            report.quarantined_by_reason = dict(q_reasons)
            spike_rows = pd.DataFrame({"evidence": list(verdicts.values())}, dtype=object)
            report.suspects_by_verdict, report.suspects_by_evidence = compute_suspect_counts(spike_rows)
            report.suspects = len(verdicts)
            if report.suspects:
                f_checks["spike_reverted"] = report.suspects
            report.flags_by_check = dict(sorted(f_checks.items()))
            report.flags = sum(f_checks.values())
            report.missing_fields = {c: dict(sorted(v.items())) for c, v in sorted(missing.items())}
            report.rows_by_symbol = dict(sorted(per_symbol.items()))
            message = "; ".join([m for m in (report.status_reason, *report.errors) if m])
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
                    report.status, message[:2000] or None, report.to_json(), report.run_id,
                ],
            )
    return report


__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_SOURCE_ERRORS",
    "EXIT_TOO_MANY_REJECTED",
    "IngestReport",
    "compute_regions",
    "compute_run_status",
    "load_reference",
    "run_ingest",
]
