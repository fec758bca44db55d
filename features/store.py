"""Build and read the feature store: `run_features` (incremental or full) and the frame loaders."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import duckdb
import pandas as pd

from features.availability import COVERAGE_SQL, FamilyGap, compute_unavailable_families
from features.config import FeatureSettings
from features.definitions import FeatureSetDef
from features.registry import _parts, definition_hash, feature_columns, get_feature_set
from features.sql import build_feature_select, build_label_select
from stores.warehouse import Warehouse, transaction, utcnow

log = logging.getLogger(__name__)

_SCAN_DAYS_PER_ROW = 3
"""Calendar days scanned per needed lookback row before falling back to a symbol's whole history."""


class StaleFeaturesError(RuntimeError):
    """The stored rows of a set were built by another definition than the code's: rebuild them."""


@dataclass
class FeatureRunSummary:
    """What one `run_features` did."""

    run_id: str
    mode: str
    sets: dict[str, dict] = field(default_factory=dict)
    """Per set: mode (full/incremental/up-to-date), rows written, symbols, first/last target date, seconds;
    corrected_symbols (symbols with a bar changed or back-filled since the set's watermark) and rows_replaced
    (stored rows rewritten: 0 on a nightly run that only adds dates)."""
    label_rows: int = 0
    label_mode: str = ""
    label_corrected_symbols: int = 0
    """Symbols whose labels were recomputed because bars they had been computed from changed (or were back-filled)."""
    label_rows_corrected: int = 0
    """Stored label rows of those symbols rewritten."""
    unavailable: list[dict] = field(default_factory=list)
    """Feature families the stored bars cannot feed, per field and symbols (see `features.availability`)."""
    seconds: float = 0.0

    @property
    def rows_written(self) -> int:
        return sum(int(s.get("rows", 0)) for s in self.sets.values())

    @property
    def unavailable_lines(self) -> list[str]:
        """One line per feature family gap, naming the symbols: for the run's log and the CLI."""
        return [FamilyGap(tuple(g["fields"]), g["reason"], tuple(g["families"]), tuple(g["symbols"])).describe()
                for g in self.unavailable]

    @property
    def corrections(self) -> str | None:
        """What was recomputed because bars changed since the last run, per set and for the labels (None:
        nothing), for the run's log line and the CLI."""
        fixed = [f"{n}: {i['corrected_symbols']} symbols, {i['rows_replaced']:,} rows" for n, i in self.sets.items()
                 if i.get("corrected_symbols")]
        if not fixed and not self.label_corrected_symbols:
            return None
        fixed.append(f"labels: {self.label_corrected_symbols} symbols, {self.label_rows_corrected:,} rows")
        return "recomputed for bars changed since the last run: " + "; ".join(fixed)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["rows_written"] = self.rows_written
        return d


# -- scope: which rows to read and which to (re)write ------------------------------------------------------

_QUARANTINED_SINCE = """
    SELECT symbol, min(TRY_CAST(date AS DATE)) AS d FROM quarantine
    WHERE ingested_at > $wm AND symbol IS NOT NULL GROUP BY symbol
"""
"""Per symbol, the first date quarantined since the watermark: that date is recomputed whatever happened to its
stored bar, so a deletion that a same-day insertion hides from the row counts is still seen."""

_PENDING_SQL = f"""
    WITH f AS (SELECT symbol, max(date) AS last, count(*) AS n FROM features WHERE feature_set = $name GROUP BY symbol),
    q AS ({_QUARANTINED_SINCE}),
    c AS (
        SELECT b.symbol, any_value(f.last) AS last, any_value(f.n) AS n,
               count(*) FILTER (WHERE b.date <= f.last) AS n_old,
               min(b.date) FILTER (WHERE f.last IS NULL OR b.date > f.last) AS first_new,
               min(b.date) FILTER (WHERE b.date <= f.last AND b.ingested_at > $wm) AS first_changed,
               min(b.date) AS first_bar
        FROM bars b LEFT JOIN f ON b.symbol = f.symbol GROUP BY b.symbol
    ),
    d AS (
        SELECT c.*, last IS NOT NULL AND n_old <> n AS backfilled,
               least(first_changed, CASE WHEN q.d <= c.last THEN q.d END) AS changed_from
        FROM c LEFT JOIN q ON q.symbol = c.symbol
    )
    -- new dates and new symbols: from the first bar after the last stored row; a bar written (inserted or
    -- changed) since the watermark at a date already computed: from that date; a symbol whose stored rows do
    -- not match its bars up to the last date (a back-filled or removed bar) is recomputed from its first bar
    SELECT symbol, backfilled, changed_from,
           CASE WHEN backfilled THEN first_bar ELSE least(first_new, changed_from) END AS target_from
    FROM d
"""
"""_fs_pending rows per symbol: whether stored rows disagree with the bars, the first date whose bar changed
since the watermark `$wm` (NULL: none), and the first date to (re)compute (NULL: none). Comparing counts
instead of anti-joining keys keeps the nightly scope to two grouped scans; the changed dates come from the
same scan (a FILTER on `ingested_at`)."""


def _pending(con: duckdb.DuckDBPyConnection, fs: FeatureSetDef, wm: dt.datetime | None) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE _fs_pending AS {_PENDING_SQL}", {"name": fs.name, "wm": wm})


def _scope_per_symbol(con: duckdb.DuckDBPyConnection, fs: FeatureSetDef, full: bool) -> None:
    """_fs_scope(symbol, read_from, target_from): per-symbol incremental range and its lookback."""
    con.execute("CREATE OR REPLACE TEMP TABLE _fs_scope (symbol VARCHAR, read_from DATE, target_from DATE)")
    if full:
        con.execute("INSERT INTO _fs_scope SELECT DISTINCT symbol, NULL, NULL FROM bars")
        return
    k = fs.lookback
    con.execute(
        f"""
        INSERT INTO _fs_scope
        WITH pending AS (SELECT symbol, target_from FROM _fs_pending WHERE target_from IS NOT NULL),
        ranked AS (
            SELECT b.symbol, b.date,
                   row_number() OVER (PARTITION BY b.symbol ORDER BY b.date DESC) AS k
            FROM bars b JOIN pending p ON b.symbol = p.symbol
            WHERE b.date < p.target_from AND b.date >= p.target_from - INTERVAL {k * _SCAN_DAYS_PER_ROW + 30} DAY
        )
        -- fewer than k rows found in the scanned range: read the symbol's whole history (exact, just slower)
        SELECT p.symbol, r.date, p.target_from FROM pending p LEFT JOIN ranked r ON r.symbol = p.symbol AND r.k = {k}
        """
    )


def _scope_cross_sectional(con: duckdb.DuckDBPyConnection, fs: FeatureSetDef, full: bool) -> None:
    """One global target date T for every symbol; reads reach back far enough for universe windows too."""
    con.execute("CREATE OR REPLACE TEMP TABLE _fs_scope (symbol VARCHAR, read_from DATE, target_from DATE)")
    last = con.execute("SELECT max(date) FROM features WHERE feature_set = ?", [fs.name]).fetchall()[0][0]
    if full or last is None:
        con.execute("INSERT INTO _fs_scope SELECT DISTINCT symbol, NULL, NULL FROM bars")
        return
    backfilled, t0 = con.execute(
        "SELECT coalesce(bool_or(backfilled), false), min(target_from) FROM _fs_pending").fetchall()[0]
    # a corrected bar moves the universe means of its date: every symbol from that date on (t0 includes it)
    if backfilled:  # a past bar added or removed changed the universe of its date: rebuild the set
        con.execute("INSERT INTO _fs_scope SELECT DISTINCT symbol, NULL, NULL FROM bars")
        return
    if t0 is None:
        return
    k = fs.lookback + 1
    # D1: k distinct sessions before T (universe windows end at T or later); each symbol then reads k of its
    # own rows before D1, enough for its own windows at any date >= D1.
    d1 = con.execute(
        "SELECT min(date) FROM (SELECT DISTINCT date FROM bars WHERE date < ? ORDER BY date DESC LIMIT ?)"
        " HAVING count(*) = ?", [t0, k, k]).fetchall()
    d1 = d1[0][0] if d1 else None
    if d1 is None:
        con.execute("INSERT INTO _fs_scope SELECT DISTINCT symbol, NULL, ? FROM bars", [t0])
        return
    con.execute(
        f"""
        INSERT INTO _fs_scope
        WITH syms AS (SELECT DISTINCT symbol FROM bars),
        ranked AS (
            SELECT symbol, date, row_number() OVER (PARTITION BY symbol ORDER BY date DESC) AS k FROM bars
            WHERE date < $d1 AND date >= $d1 - INTERVAL {k * _SCAN_DAYS_PER_ROW + 30} DAY
        )
        SELECT s.symbol,
               CASE WHEN r.date IS NOT NULL THEN r.date
                    WHEN EXISTS (SELECT 1 FROM bars b WHERE b.symbol = s.symbol AND b.date < $d1) THEN NULL
                    ELSE $d1 END,
               $t0
        FROM syms s LEFT JOIN ranked r ON r.symbol = s.symbol AND r.k = {k}
        """,
        {"d1": d1, "t0": t0},
    )


# -- registry ----------------------------------------------------------------------------------------------

def _registered(con: duckdb.DuckDBPyConnection, fs: FeatureSetDef) -> tuple[int, str] | None:
    rows = con.execute(
        "SELECT version, definition_hash FROM feature_sets WHERE name = ? ORDER BY registered_at DESC, version DESC"
        " LIMIT 1", [fs.name]).fetchall()
    return (int(rows[0][0]), str(rows[0][1])) if rows else None


def _register(con: duckdb.DuckDBPyConnection, fs: FeatureSetDef, digest: str) -> None:
    con.execute(
        """
        INSERT INTO feature_sets (name, version, definition_hash, columns, description, registered_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (name, version) DO UPDATE SET definition_hash = EXCLUDED.definition_hash,
            columns = EXCLUDED.columns, description = EXCLUDED.description, registered_at = EXCLUDED.registered_at
        """,
        [fs.name, fs.version, digest, fs.columns, fs.description, utcnow()],
    )


def _check_columns(con: duckdb.DuckDBPyConnection, fs: FeatureSetDef) -> None:
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'features'").fetchall()}
    missing = [c for c in fs.columns if c not in have]
    if missing:
        raise RuntimeError(f"features table lacks columns {missing[:5]}...: add them in a migration (m01x_features)")


# -- watermark: which stored bars changed since the rows were computed --------------------------------------

_LABELS_TARGET = "labels"


def _input_watermark(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """The newest `ingested_at` of any bar or quarantined row: what a build about to read the bars reflects."""
    return con.execute("SELECT greatest((SELECT max(ingested_at) FROM bars), "
                       "(SELECT max(ingested_at) FROM quarantine))").fetchall()[0][0]


def _stored_watermark(con: duckdb.DuckDBPyConnection, target: str) -> dt.datetime | None:
    """The watermark `target` (a set name or "labels") was last computed at; None: unknown, rebuild it.

    A warehouse built before `feature_watermarks` existed falls back to the start of the last run that built
    the target: a bar ingested after that start has a later `ingested_at` (DuckDB admits one writing process).
    """
    rows = con.execute("SELECT bars_changed_at FROM feature_watermarks WHERE target = ?", [target]).fetchall()
    if rows:
        return rows[0][0]
    if target == _LABELS_TARGET:
        return con.execute("SELECT max(started_at) FROM feature_runs").fetchall()[0][0]
    return con.execute("SELECT max(started_at) FROM feature_runs WHERE list_contains(feature_sets, ?)",
                       [target]).fetchall()[0][0]


def _save_watermark(con: duckdb.DuckDBPyConnection, target: str, old: dt.datetime | None,
                    new: dt.datetime | None, run_id: str) -> None:
    """Record `new` for `target` (inside the transaction that wrote its rows); a no-op when unchanged."""
    if new is None or new == old:
        return
    con.execute(
        """INSERT INTO feature_watermarks VALUES (?, ?, ?, ?)
           ON CONFLICT (target) DO UPDATE SET bars_changed_at = EXCLUDED.bars_changed_at,
               run_id = EXCLUDED.run_id, updated_at = EXCLUDED.updated_at""",
        [target, new, run_id, utcnow()],
    )


# -- build -------------------------------------------------------------------------------------------------

def _build_set(con: duckdb.DuckDBPyConnection, fs: FeatureSetDef, full: bool, chunk: int,
               wm: dt.datetime | None, wm_now: dt.datetime | None, run_id: str) -> dict:
    t = time.perf_counter()
    corrected = 0
    if not full:
        _pending(con, fs, wm)
        corrected = con.execute(
            "SELECT count(*) FILTER (WHERE backfilled OR changed_from IS NOT NULL) FROM _fs_pending").fetchall()[0][0]
    if fs.cross_sectional:
        _scope_cross_sectional(con, fs, full)
    else:
        _scope_per_symbol(con, fs, full)
    scope = con.execute("SELECT symbol, read_from IS NULL FROM _fs_scope ORDER BY symbol").fetchall()
    symbols = [r[0] for r in scope]
    whole = [r[0] for r in scope if r[1]]  # read from their first bar
    light = [r[0] for r in scope if not r[1]]  # read just the lookback
    info: dict = {"mode": "full" if full else "incremental", "symbols": len(symbols), "rows": 0,
                  "corrected_symbols": int(corrected), "rows_replaced": 0}
    if not symbols:
        info["mode"] = "up-to-date"
        with transaction(con):
            _save_watermark(con, fs.name, None if full else wm, wm_now, run_id)
        info["seconds"] = round(time.perf_counter() - t, 4)
        return info
    cols = ", ".join(f'"{c}"' for c in fs.columns)
    select = build_feature_select(fs, scope="_fs_chunk")
    grouped = build_feature_select(fs, scope="_fs_chunk", grouped=True) if light else select
    # Chunks bound the memory for symbols read from their first bar; the nightly update reads ~lookback rows
    # per symbol, so all of those go in one query.
    if fs.cross_sectional:
        groups = [symbols]
    else:
        groups = [whole[i:i + chunk] for i in range(0, len(whole), chunk)] + ([light] if light else [])
    light_set = set(light)
    with transaction(con):
        if full:
            con.execute("DELETE FROM features WHERE feature_set = ?", [fs.name])
        else:
            info["rows_replaced"] = int(con.execute(
                """DELETE FROM features f USING _fs_scope s
                   WHERE f.feature_set = ? AND f.symbol = s.symbol
                     AND (s.target_from IS NULL OR f.date >= s.target_from)""", [fs.name]).fetchall()[0][0])
        for group in groups:
            con.execute("CREATE OR REPLACE TEMP TABLE _fs_chunk AS SELECT * FROM _fs_scope WHERE symbol IN "
                        "(SELECT unnest(?))", [group])
            before = con.execute("SELECT count(*) FROM features WHERE feature_set = ?", [fs.name]).fetchall()[0][0]
            # symbols read with just their lookback take the grouped (target rows only) form of the same SQL
            use = grouped if not fs.cross_sectional and set(group) <= light_set else select
            con.execute(f"INSERT INTO features (symbol, date, feature_set, {cols}) {use}")
            after = con.execute("SELECT count(*) FROM features WHERE feature_set = ?", [fs.name]).fetchall()[0][0]
            info["rows"] += int(after - before)
        _save_watermark(con, fs.name, None if full else wm, wm_now, run_id)
    rng = con.execute("SELECT min(target_from), max(target_from) FROM _fs_scope").fetchall()[0]
    info["target_from"] = str(rng[0]) if rng[0] is not None else None
    info["seconds"] = round(time.perf_counter() - t, 4)
    return info


_LABELS_PENDING_SQL = f"""
    WITH l AS (
        SELECT symbol, max(date) AS last, count(*) FILTER (WHERE horizon = $h0) AS n,
               min(date) FILTER (WHERE fwd_return IS NULL) AS first_open
        FROM labels GROUP BY symbol
    ),
    q AS ({_QUARANTINED_SINCE}),
    c AS (
        SELECT b.symbol, any_value(l.last) AS last, any_value(l.n) AS n, any_value(l.first_open) AS first_open,
               count(*) FILTER (WHERE b.date <= l.last) AS n_old,
               min(b.date) FILTER (WHERE b.date > l.last) AS first_new,
               min(b.date) FILTER (WHERE b.date <= l.last AND b.ingested_at > $wm) AS first_changed
        FROM bars b LEFT JOIN l ON b.symbol = l.symbol GROUP BY b.symbol
    )
    SELECT c.symbol, last IS NULL OR n_old <> n AS whole, last IS NOT NULL AND n_old <> n AS backfilled,
           least(first_changed, CASE WHEN q.d <= c.last THEN q.d END) AS changed_from,
           CASE WHEN first_new IS NOT NULL THEN coalesce(first_open, first_new) END AS open_from
    FROM c LEFT JOIN q ON q.symbol = c.symbol
"""
"""_lb_pending rows per symbol: `whole` (a new symbol, or bars added/removed before its last label: all of its
rows), `backfilled` (the latter), the first date whose bar changed since the watermark, and, when new bars
arrived, the first date whose label can change (its first unlabelled (NULL) row: the tail whose exit session
was not stored yet)."""


def _build_labels(con: duckdb.DuckDBPyConnection, settings: FeatureSettings, full: bool,
                  wm: dt.datetime | None, wm_now: dt.datetime | None, run_id: str) -> tuple[str, int, int, int]:
    """(mode, rows written, symbols recomputed for corrected bars, their rows rewritten)."""
    horizons = tuple(sorted({int(h) for h in settings.horizons}))
    lag = int(settings.entry_lag)
    stored = con.execute("SELECT DISTINCT horizon, entry_lag FROM labels").fetchall()
    if stored and ({h for h, _ in stored} != set(horizons) or {e for _, e in stored} != {lag}):
        full = True  # another label definition is stored: never mix them
    full = full or wm is None
    con.execute("CREATE OR REPLACE TEMP TABLE _lb_scope (symbol VARCHAR, read_from DATE, corrected BOOLEAN)")
    if full:
        con.execute("INSERT INTO _lb_scope SELECT DISTINCT symbol, NULL, false FROM bars")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _lb_pending AS {_LABELS_PENDING_SQL}",
                    {"h0": horizons[0], "wm": wm})
        back = max(horizons) + lag
        changed = con.execute("SELECT count(*) FROM _lb_pending WHERE changed_from IS NOT NULL").fetchall()[0][0]
        con.execute("CREATE OR REPLACE TEMP TABLE _lb_back (symbol VARCHAR, back_from DATE)")
        if changed:
            # A bar changed at date d moves the labels whose window [t + lag, t + lag + H] holds d: from the
            # session max(H) + lag before d on (NULL: fewer sessions before d, from the symbol's first bar).
            con.execute(
                """
                INSERT INTO _lb_back
                WITH p AS (SELECT symbol, changed_from FROM _lb_pending WHERE changed_from IS NOT NULL AND NOT whole),
                r AS (
                    SELECT b.symbol, b.date, row_number() OVER (PARTITION BY b.symbol ORDER BY b.date DESC) AS k
                    FROM bars b JOIN p ON b.symbol = p.symbol AND b.date < p.changed_from
                )
                SELECT p.symbol, r.date FROM p LEFT JOIN r ON r.symbol = p.symbol AND r.k = ?
                """,
                [back],
            )
        con.execute(
            """
            INSERT INTO _lb_scope
            SELECT p.symbol,
                   CASE WHEN p.whole OR (p.changed_from IS NOT NULL AND k.back_from IS NULL) THEN NULL
                        ELSE least(p.open_from, k.back_from) END,
                   p.backfilled OR p.changed_from IS NOT NULL
            FROM _lb_pending p LEFT JOIN _lb_back k ON k.symbol = p.symbol
            WHERE p.whole OR p.changed_from IS NOT NULL OR p.open_from IS NOT NULL
            """
        )
    n_scope, n_corrected = con.execute("SELECT count(*), count(*) FILTER (WHERE corrected) FROM _lb_scope"
                                       ).fetchall()[0]
    if n_scope == 0:
        with transaction(con):
            _save_watermark(con, _LABELS_TARGET, wm, wm_now, run_id)
        return "up-to-date", 0, 0, 0
    replaced = 0
    with transaction(con):
        if full:
            con.execute("DELETE FROM labels")
        else:
            stale = """DELETE FROM labels l USING _lb_scope s
                       WHERE l.symbol = s.symbol AND s.corrected = ? AND (s.read_from IS NULL OR l.date >= s.read_from)"""
            if n_corrected:
                replaced = int(con.execute(stale, [True]).fetchall()[0][0])
            con.execute(stale, [False])
        before = con.execute("SELECT count(*) FROM labels").fetchall()[0][0]
        con.execute("INSERT INTO labels (symbol, date, horizon, fwd_return, label, entry_lag) "
                    + build_label_select(horizons, lag))
        after = con.execute("SELECT count(*) FROM labels").fetchall()[0][0]
        _save_watermark(con, _LABELS_TARGET, None if full else wm, wm_now, run_id)
    return ("full" if full else "incremental"), int(after - before), int(n_corrected), replaced


def run_features(warehouse: Warehouse, settings: FeatureSettings, full: bool = False,
                 sets: Sequence[str] | None = None) -> FeatureRunSummary:
    """Update every feature set of `settings.feature_sets` (or `sets`) and the labels.

    Incremental (default): only dates after each symbol's last stored row are computed, reading just the
    lookback rows their windows need; a set whose stored definition (version, SQL hash) differs from the
    code's is rebuilt in full. `full=True` rebuilds everything. Each set and the labels are written in their
    own transaction; a re-run with no new or changed bars writes nothing.

    Corrected bars (a restated close, a split or dividend adjustment, a bad tick replaced) are found by a
    watermark: the ingest's upsert sets a bar's `ingested_at` when it inserts the row or changes its values,
    never when it re-sends identical ones, and a quarantined row carries its `ingested_at` too. Each set and the labels record in `feature_watermarks`,
    in the transaction that writes their rows, the newest such `ingested_at` they read (taken before the
    scope, so a write racing the build is seen again next time). The next run takes, per symbol, the first
    date already computed whose bar or quarantine row is newer than the watermark, and recomputes from there:
    a per-symbol set from that date (reading the lookback before it), a cross-sectional set every symbol from
    the earliest such date (universe means move with any symbol), the labels from the session max(horizons)
    + entry_lag before it (their forward window reaches the changed close). Ingest timestamps are compared
    only with one another, never with this run's clock. Symbols without changes cost nothing extra: the
    changed dates come out of the grouped scan of `bars` the incremental scope already makes.
    """
    warehouse.migrate()
    started = utcnow()
    t = time.perf_counter()
    summary = FeatureRunSummary(run_id=uuid.uuid4().hex[:12], mode="full" if full else "incremental")
    with warehouse.session() as con:
        con.execute(f"SET threads = {int(settings.threads)}")
        con.execute(f"SET memory_limit = '{settings.memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        wm_now = _input_watermark(con)  # this run is the only writer: the bars it reads stay as they are
        for name in (sets or settings.feature_sets):
            fs = get_feature_set(name)
            _check_columns(con, fs)
            digest = definition_hash(fs.name)
            wm = _stored_watermark(con, fs.name)
            rebuild = full or wm is None or _registered(con, fs) != (fs.version, digest)
            summary.sets[fs.name] = _build_set(con, fs, rebuild, settings.chunk_symbols, wm, wm_now, summary.run_id)
            if rebuild:
                _register(con, fs, digest)
        wm = _stored_watermark(con, _LABELS_TARGET)
        (summary.label_mode, summary.label_rows, summary.label_corrected_symbols,
         summary.label_rows_corrected) = _build_labels(con, settings, full, wm, wm_now, summary.run_id)
        built = "+".join(n for n in (sets or settings.feature_sets))
        if built:
            coverage = con.execute(COVERAGE_SQL).df()
            summary.unavailable = [g.as_dict() for g in compute_unavailable_families(coverage, built)]
        summary.seconds = round(time.perf_counter() - t, 3)
        dates = con.execute("SELECT min(date), max(date) FROM features").fetchall()[0]
        con.execute(
            "INSERT INTO feature_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [summary.run_id, summary.mode, list(summary.sets), summary.rows_written, summary.label_rows,
             dates[0], dates[1], summary.seconds, started, utcnow()],
        )
    if summary.corrections:
        log.info("features: %s", summary.corrections)
    for line in summary.unavailable_lines:
        log.info("features: %s", line)
    return summary


# -- read --------------------------------------------------------------------------------------------------

def _check_fresh(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    for n in names:
        fs = get_feature_set(n)
        got = _registered(con, fs)
        if got is None:
            raise StaleFeaturesError(f"feature set {n!r} was never built: run `foresight features`")
        if got != (fs.version, definition_hash(n)):
            raise StaleFeaturesError(
                f"feature set {n!r} is stored at version {got[0]} ({got[1][:8]}), the code defines version "
                f"{fs.version} ({definition_hash(n)[:8]}): run `foresight features --full`")


def _feature_join(names: list[str]) -> tuple[str, str]:
    """FROM clause joining one aliased row per set on (symbol, date), and the quoted column list."""
    first = names[0]
    frm = f"(SELECT * FROM features WHERE feature_set = '{first}') f0"
    for i, n in enumerate(names[1:], start=1):
        frm += (f" JOIN (SELECT * FROM features WHERE feature_set = '{n}') f{i}"
                f" ON f{i}.symbol = f0.symbol AND f{i}.date = f0.date")
    cols = ", ".join(f'f{i}."{c}"' for i, n in enumerate(names) for c in get_feature_set(n).columns)
    return frm, cols


def _as_date(x) -> dt.date | None:
    return None if x is None else pd.Timestamp(x).date()


def _add_date_range(where: list[str], params: list, start, end) -> None:
    """Append the inclusive `start`/`end` bounds on f0.date (when given) as parameterised conditions."""
    if start is not None:
        where.append("f0.date >= ?")
        params.append(_as_date(start))
    if end is not None:
        where.append("f0.date <= ?")
        params.append(_as_date(end))


def load_training_frame(con: duckdb.DuckDBPyConnection, feature_set: str, horizon: int,
                        start=None, end=None) -> pd.DataFrame:
    """Features at t joined to the label of `horizon` (its window spans closes t+lag .. t+lag+H).

    Columns: symbol, date, <feature columns>, fwd_return, label (int 0/1), label_end (the date of the exit
    close: H + lag bars after t in the symbol's own bars, later than t + H + lag sessions when the symbol
    misses bars); ordered by date, symbol; rows whose label is NULL (the last H + lag sessions of a symbol)
    are left out.
    """
    names = _parts(feature_set)
    _check_fresh(con, names)
    frm, cols = _feature_join(names)
    where = ["l.label IS NOT NULL"]
    lags = con.execute("SELECT DISTINCT entry_lag FROM labels WHERE horizon = ?", [int(horizon)]).fetchall()
    span = int(horizon) + int(lags[0][0] if lags else 0)
    params: list = [int(horizon)]
    _add_date_range(where, params, start, end)
    df = con.execute(
        f"""SELECT f0.symbol, f0.date, {cols}, l.fwd_return, l.label, e.label_end
            FROM {frm} JOIN labels l ON l.symbol = f0.symbol AND l.date = f0.date AND l.horizon = ?
            JOIN (SELECT symbol, date, lead(date, {span}) OVER (PARTITION BY symbol ORDER BY date) AS label_end
                  FROM bars) e ON e.symbol = f0.symbol AND e.date = f0.date
            WHERE {' AND '.join(where)} ORDER BY f0.date, f0.symbol""",
        params,
    ).df()
    df["date"] = pd.to_datetime(df["date"])
    df["label_end"] = pd.to_datetime(df["label_end"])
    df["label"] = df["label"].astype("int64")
    return df


def load_feature_frame(con: duckdb.DuckDBPyConnection, feature_set: str, dates=None, start=None, end=None,
                       symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """Features for scoring: symbol, date, <feature columns>, ordered by date, symbol.

    Pick the rows with `dates` (one date or a list) or a `start`/`end` range (inclusive), optionally `symbols`.
    """
    names = _parts(feature_set)
    _check_fresh(con, names)
    frm, cols = _feature_join(names)
    where, params = ["TRUE"], []
    if dates is not None:
        seq = [_as_date(d) for d in ([dates] if isinstance(dates, (str, dt.date, pd.Timestamp)) else list(dates))]
        # The range is implied by the list; stated, it is a filter in the scan itself, before the semi-join
        # (a 250-date chunk of 500 symbols read in 0.37 s instead of 0.81 s).
        where.append("f0.date BETWEEN ? AND ? AND f0.date IN (SELECT unnest(?))")
        params += [min(seq, default=None), max(seq, default=None), seq]
    _add_date_range(where, params, start, end)
    if symbols is not None:
        where.append("f0.symbol IN (SELECT unnest(?))")
        params.append(list(symbols))
    df = con.execute(
        f"SELECT f0.symbol, f0.date, {cols} FROM {frm} WHERE {' AND '.join(where)} ORDER BY f0.date, f0.symbol",
        params,
    ).df()
    df["date"] = pd.to_datetime(df["date"])
    return df


__all__ = [
    "FeatureRunSummary",
    "StaleFeaturesError",
    "feature_columns",
    "load_feature_frame",
    "load_training_frame",
    "run_features",
]
