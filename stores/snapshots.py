"""Immutable read snapshots of the serving tables, published atomically after each committed batch.

DuckDB lets one process write a file. The nightly batch writes the warehouse; after it commits, it
publishes a brand-new file `snapshots/snap-<utc>-<id>.duckdb` (inside one read transaction, so it is one
consistent state), then swaps the small pointer `snapshots/current.json` with `os.replace` (atomic on
POSIX). Readers open the file the pointer names read-only and switch to a newer one between requests; a
request never mixes two snapshots and never sees an uncommitted night.
A reader that does not follow the pointer by itself (`follow=False`, the API's) keeps serving its snapshot
until its owner has opened the new one (`open_published`), prepared answers on it (`pinned`) and switched
to it (`promote`).

The large history tables (`PARTITIONED_TABLES`) are not copied whole every night: each year of them is a
part file `snapshots/parts/<table>-<year>-<rows>-<content hash>.duckdb`, written once and never changed,
and shared by every snapshot whose rows of that year are the same; a snapshot's table is a view over its
parts (`_snapshot_parts` names them; the reader attaches them read-only). A night then writes only the
parts whose content changed (usually this year's) and copies the small tables.
Old snapshot files are deleted after `keep` newer ones exist, and parts no kept snapshot uses with them
(an open file survives unlinking on POSIX, and readers retry when the file they were told about has just
been collected).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from stores.warehouse import Warehouse, utcnow

SERVING_TABLES: tuple[str, ...] = (
    "bars", "data_quality", "signals", "regimes", "forecasts", "forecast_evaluations",
    "backtest_runs", "pipeline_runs", "monitoring_runs", "operating_indicators", "schema_version",
)
SORTED_TABLES = frozenset({"bars", "signals"})
PARTITIONED_TABLES = frozenset({"bars", "signals"})
"""Published as yearly parts shared between snapshots (they are large and change mostly in the current year)."""
POINTER = "current.json"
PARTS_DIR = "parts"
PARTS_TABLE = "_snapshot_parts"


def snapshot_dir(home: Path) -> Path:
    """Where the nightly batch publishes read snapshots: FORESIGHT_HOME/snapshots."""
    return Path(home) / "snapshots"


class SnapshotUnavailable(RuntimeError):
    """No snapshot has been published yet (or the pointer names a file that is gone)."""


@dataclass(frozen=True)
class SnapshotInfo:
    """What the pointer says: the file, when it was published, row counts and the as-of date."""

    path: Path
    published_at: str
    tables: dict[str, int]
    as_of: str | None

    @classmethod
    def from_pointer(cls, directory: Path, data: dict[str, Any]) -> SnapshotInfo:
        return cls(directory / data["file"], data["published_at"], data.get("tables", {}), data.get("as_of"))


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_database()").fetchall()[0][0]


def _part_name(table: str, year: int, rows: int, digest: int) -> str:
    return f"{table}-{year}-{rows}-{digest & 0xFFFFFFFFFFFFFFFF:016x}.duckdb"


def _alias(name: str) -> str:
    return "_p_" + name.removesuffix(".duckdb").replace("-", "_")


def _sidecar(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name.removesuffix(".duckdb") + ".parts.json")


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def publish_snapshot(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    tables: Sequence[str] = SERVING_TABLES,
    keep: int = 3,
    extra: dict[str, Any] | None = None,
) -> SnapshotInfo:
    """Publish the existing `tables` of the writer's connection `con` as a new snapshot and point
    `directory/current.json` at it. Call it after the batch committed, with no open transaction.

    Each year of a `PARTITIONED_TABLES` table goes to a part file named by its row count and content hash:
    a part that an earlier snapshot already wrote is shared, not copied again."""
    directory = Path(directory)
    parts_dir = directory / PARTS_DIR
    parts_dir.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
    name = f"snap-{stamp}-{uuid.uuid4().hex[:6]}.duckdb"
    tmp = directory / f"{name}.tmp"
    src = _catalog(con)
    existing = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'main'",
            [src],
        ).fetchall()
    }
    chosen = [t for t in tables if t in existing]
    con.execute(f"ATTACH '{_sql_path(tmp)}' AS _snap_pub")
    counts: dict[str, int] = {}
    views: dict[str, list[str]] = {}  # partitioned table -> aliases of its parts, in year order
    used: dict[str, str] = {}  # alias -> part file name
    staged: dict[str, str] = {}  # alias of a new part -> its table
    attached: list[str] = []
    try:
        # One transaction: every table is read from the same committed state of the warehouse. A transaction
        # writes one database, so new parts are staged in the snapshot file and moved to their files after.
        con.execute("BEGIN TRANSACTION")
        try:
            for t in chosen:
                # Clustered by (symbol, date) where both exist: per-symbol lookups then skip most row groups.
                order = " ORDER BY symbol, date" if t in SORTED_TABLES else ""
                if t not in PARTITIONED_TABLES:
                    con.execute(f'CREATE TABLE _snap_pub.main."{t}" AS SELECT * FROM "{src}".main."{t}"{order}')
                    counts[t] = con.execute(f'SELECT count(*) FROM _snap_pub.main."{t}"').fetchall()[0][0]
                    continue
                marks = con.execute(
                    f'SELECT year(date) AS y, count(*), bit_xor(hash(x)) FROM "{src}".main."{t}" x '
                    "GROUP BY y ORDER BY y"
                ).fetchall()
                counts[t] = int(sum(m[1] for m in marks))
                if not marks:
                    con.execute(f'CREATE TABLE _snap_pub.main."{t}" AS SELECT * FROM "{src}".main."{t}" LIMIT 0')
                    continue
                views[t] = []
                for year, rows, digest in marks:
                    part = _part_name(t, int(year), int(rows), int(digest))
                    alias = _alias(part)
                    if not (parts_dir / part).exists() and alias not in staged:
                        con.execute(f'CREATE TABLE _snap_pub.main."_stage{alias}" AS SELECT * FROM "{src}".main."{t}" '
                                    f"WHERE year(date) = {int(year)}{order}")
                        staged[alias] = t
                    used[alias] = part
                    views[t].append(alias)
            con.execute(f"CREATE TABLE _snap_pub.main.{PARTS_TABLE} (alias VARCHAR, file VARCHAR)")
            if used:
                con.executemany(f"INSERT INTO _snap_pub.main.{PARTS_TABLE} VALUES (?, ?)", list(used.items()))
            as_of = None
            if "signals" in chosen:
                as_of = con.execute(f'SELECT max(date) FROM "{src}".main.signals').fetchall()[0][0]
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        for alias, t in staged.items():
            ptmp = parts_dir / f".{used[alias]}.{uuid.uuid4().hex[:6]}.tmp"
            con.execute(f"ATTACH '{_sql_path(ptmp)}' AS {alias}")
            try:
                con.execute(f'CREATE TABLE {alias}.main."{t}" AS SELECT * FROM _snap_pub.main."_stage{alias}"')
                con.execute(f"CHECKPOINT {alias}")
            finally:
                con.execute(f"DETACH {alias}")
            # A part's name is its content: if another publish wrote the same part meanwhile, either is it.
            os.replace(ptmp, parts_dir / used[alias])
            con.execute(f'DROP TABLE _snap_pub.main."_stage{alias}"')
        for alias, part in used.items():
            con.execute(f"ATTACH '{_sql_path(parts_dir / part)}' AS {alias} (READ_ONLY)")
            attached.append(alias)
        for t, aliases in views.items():
            con.execute(f'CREATE VIEW _snap_pub.main."{t}" AS '
                        + " UNION ALL ".join(f'SELECT * FROM {a}.main."{t}"' for a in aliases))
        con.execute("CHECKPOINT _snap_pub")
    finally:
        for alias in attached:
            con.execute(f"DETACH {alias}")
        con.execute("DETACH _snap_pub")
    final = directory / name
    _sidecar(final).write_text(json.dumps(sorted(used.values())))
    os.replace(tmp, final)
    pointer = {
        "file": name,
        "published_at": utcnow().isoformat(),
        "tables": counts,
        "as_of": str(as_of) if as_of is not None else None,
        **(extra or {}),
    }
    ptmp = directory / f".{POINTER}.{uuid.uuid4().hex[:6]}"
    ptmp.write_text(json.dumps(pointer))
    os.replace(ptmp, directory / POINTER)
    collect_snapshots(directory, keep=keep)
    return SnapshotInfo.from_pointer(directory, pointer)


def publish_warehouse_snapshot(warehouse: Warehouse, directory: Path, keep: int = 3, **extra: Any) -> SnapshotInfo:
    """Open the warehouse (takes the writer lock briefly) and publish a snapshot of it."""
    with warehouse.session() as con:
        return publish_snapshot(con, directory, keep=keep, extra=extra or None)


def read_pointer(directory: Path) -> SnapshotInfo | None:
    """The published snapshot named by the pointer, or None before the first publication."""
    try:
        data = json.loads((Path(directory) / POINTER).read_text())
    except FileNotFoundError:
        return None
    return SnapshotInfo.from_pointer(Path(directory), data)


def collect_snapshots(directory: Path, keep: int = 3) -> list[Path]:
    """Delete snapshot files older than the `keep` newest (never the current one), then the parts that no
    remaining snapshot uses; returns the deleted snapshot files."""
    directory = Path(directory)
    current = read_pointer(directory)
    files = sorted(directory.glob("snap-*.duckdb"))
    deleted = []
    for f in files[: max(0, len(files) - keep)]:
        if current is not None and f.name == current.path.name:
            continue
        for p in (f, f.with_name(f.name + ".wal"), _sidecar(f)):
            try:
                p.unlink()
                if p == f:
                    deleted.append(p)
            except FileNotFoundError:
                pass
    parts_dir = directory / PARTS_DIR
    if parts_dir.is_dir():
        in_use: set[str] = set()
        for f in directory.glob("snap-*.parts.json"):
            with suppress(FileNotFoundError):
                in_use.update(json.loads(f.read_text()))
        for p in parts_dir.glob("*.duckdb"):
            if p.name not in in_use:
                for q in (p, p.with_name(p.name + ".wal")):
                    with suppress(FileNotFoundError):
                        q.unlink()
    return deleted


class _Handle:
    """One open read-only snapshot connection and how many requests are using it."""

    def __init__(self, info: SnapshotInfo, key: tuple[int, int, int]):
        self.info = info
        self.key = key
        # Point lookups gain nothing from intra-query parallelism; many concurrent requests do.
        self.con = duckdb.connect(str(info.path), read_only=True, config={"threads": 1})
        try:
            names = {r[0] for r in self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
            ).fetchall()}
            if PARTS_TABLE in names:
                # The views of the partitioned tables read these parts under these names. Connections to one
                # snapshot file share one database, which may have attached them already.
                for alias, file in self.con.execute(f"SELECT alias, file FROM {PARTS_TABLE}").fetchall():
                    path = _sql_path(info.path.parent / PARTS_DIR / file)
                    self.con.execute(f"ATTACH IF NOT EXISTS '{path}' AS {alias} (READ_ONLY)")
        except BaseException:
            self.con.close()
            raise
        self.tables = frozenset(names - {PARTS_TABLE})
        self.users = 0
        self.retired = False
        # A snapshot never changes, so answers computed from it can be kept as long as it is served.
        self.memo: dict[Any, Any] = {}


_PINNED: ContextVar[_Handle | None] = ContextVar("foresight_pinned_snapshot", default=None)
"""The snapshot the code running in this context reads instead of the served one (see `SnapshotReader.pinned`);
a context variable, so it follows a request into the thread pool that runs its route."""


class SnapshotReader:
    """Hands out cursors on the newest published snapshot; switches atomically between requests.

    With `follow` (the default) the reader moves to a newly published snapshot on the next request. Without,
    it keeps serving its snapshot until `promote` is called with the new one (opened by `open_published`),
    so its owner can prepare answers on the new snapshot (`pinned`) before any request reads it.
    """

    def __init__(self, directory: Path, follow: bool = True):
        self.directory = Path(directory)
        self.follow = follow
        self._lock = threading.Lock()
        self._handle: _Handle | None = None
        self._local = threading.local()

    def _pointer_key(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.directory / POINTER)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def published_key(self) -> tuple[int, int, int] | None:
        """The identity of the published pointer (inode, mtime, size): one stat, no file opened."""
        return self._pointer_key()

    def serving_key(self) -> tuple[int, int, int] | None:
        """The pointer identity of the snapshot this reader serves, None before it opened one."""
        h = self._handle
        return None if h is None else h.key

    def _acquire(self) -> _Handle:
        pinned = _PINNED.get()
        if pinned is not None:
            with self._lock:
                pinned.users += 1
            return pinned
        for attempt in range(3):
            key = self._pointer_key()
            with self._lock:
                h = self._handle
                if h is not None and (key is None or key == h.key or not self.follow):
                    h.users += 1
                    return h
            if key is None:
                raise SnapshotUnavailable(
                    f"no read snapshot under {self.directory} yet: run `foresight score` (the nightly batch) "
                    "or `foresight api`, which publishes one from the warehouse on start"
                )
            info = read_pointer(self.directory)
            try:
                new = _Handle(info, key) if info is not None else None
            except duckdb.IOException as exc:
                # The pointer moved on and its old file was just collected: read it again.
                if attempt == 2:
                    raise SnapshotUnavailable(f"the published snapshot cannot be opened: {exc}") from exc
                continue
            if new is None:
                continue
            with self._lock:
                old = self._handle
                if old is not None and old.key == key:  # another thread switched first
                    new.con.close()
                    old.users += 1
                    return old
                self._handle = new
                new.users += 1
                if old is not None:
                    old.retired = True
                    if old.users == 0:
                        old.con.close()
                return new
        raise SnapshotUnavailable(f"could not open the current snapshot under {self.directory}")

    def _release(self, h: _Handle) -> None:
        with self._lock:
            h.users -= 1
            if h.retired and h.users == 0:
                h.con.close()

    def open_published(self) -> _Handle | None:
        """Open the snapshot the pointer names when it is not the one served (None when it is, or when none
        is published). The reader keeps serving its own until `promote`; `discard` closes it unused."""
        for attempt in range(3):
            key = self._pointer_key()
            if key is None or key == self.serving_key():
                return None
            info = read_pointer(self.directory)
            if info is None:
                return None
            try:
                return _Handle(info, key)
            except duckdb.IOException as exc:
                # the pointer moved on and this file was just collected: read the pointer again
                if attempt == 2:
                    raise SnapshotUnavailable(f"the published snapshot cannot be opened: {exc}") from exc
        return None

    @contextmanager
    def pinned(self, handle: _Handle) -> Iterator[None]:
        """Inside, cursors (and `tables`, `memo`) of this context read `handle`, whatever is served: to
        compute answers on a snapshot before promoting it. Follows the context into thread pools."""
        token = _PINNED.set(handle)
        try:
            yield
        finally:
            _PINNED.reset(token)

    def promote(self, handle: _Handle) -> None:
        """Serve `handle` from now on (requests already running finish on the snapshot they started on;
        the old one is closed when its last user leaves)."""
        with self._lock:
            old, self._handle = self._handle, handle
            if old is not None and old is not handle:
                old.retired = True
                if old.users == 0:
                    old.con.close()

    def discard(self, handle: _Handle) -> None:
        """Close a handle from `open_published` that will not be served."""
        with self._lock:
            if handle is self._handle:
                return
            handle.retired = True
            if handle.users == 0:
                handle.con.close()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on one snapshot for the duration of a request."""
        h = self._acquire()
        outer = getattr(self._local, "handle", None)
        self._local.handle = h
        try:
            cur = h.con.cursor()
            try:
                yield cur
            finally:
                cur.close()
        finally:
            self._local.handle = outer
            self._release(h)

    def tables(self) -> frozenset[str]:
        """Tables of the snapshot this thread's open cursor reads (else the current one); computed once
        per snapshot since a snapshot never changes."""
        inside = getattr(self._local, "handle", None)
        if inside is not None:
            return inside.tables
        h = self._acquire()
        self._release(h)
        return h.tables

    def memo(self, key: Any, compute: Callable[[], Any], max_entries: int = 50_000) -> Any:
        """`compute()` once per snapshot and key; call inside `cursor()` so the answer belongs to the
        snapshot that cursor reads. Exceptions are not cached."""
        h = getattr(self._local, "handle", None)
        if h is None:
            return compute()
        try:
            return h.memo[key]
        except KeyError:
            pass
        value = compute()
        if len(h.memo) >= max_entries:
            h.memo.clear()
        h.memo[key] = value
        return value

    def info(self) -> SnapshotInfo | None:
        """The snapshot currently served (opening it if needed), None when none is published."""
        try:
            h = self._acquire()
        except SnapshotUnavailable:
            return None
        self._release(h)
        return h.info

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.retired = True
                if self._handle.users == 0:
                    self._handle.con.close()
                self._handle = None


class WarehouseReader:
    """The same `cursor()` interface straight on the warehouse, read-only (CLI use, no writer running)."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.warehouse.session(read_only=True) as con:
            yield con

    def info(self) -> SnapshotInfo | None:
        return None

    def close(self) -> None:
        return None


__all__ = [
    "PARTITIONED_TABLES",
    "SERVING_TABLES",
    "SnapshotInfo",
    "SnapshotReader",
    "SnapshotUnavailable",
    "WarehouseReader",
    "collect_snapshots",
    "publish_snapshot",
    "publish_warehouse_snapshot",
    "read_pointer",
    "snapshot_dir",
]
