"""DuckDB warehouse: connections, migrations, transactions and idempotent upserts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from stores.migrations import all_migrations

_SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL
)
"""


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did: new keys inserted, existing keys whose values changed, identical rows skipped."""

    inserted: int
    updated: int
    unchanged: int

    @property
    def written(self) -> int:
        return self.inserted + self.updated


def utcnow() -> dt.datetime:
    """Naive UTC timestamp (DuckDB TIMESTAMP) for audit columns."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Warehouse:
    """The DuckDB file under FORESIGHT_HOME. One writing process at a time (DuckDB's rule)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    # -- connections -------------------------------------------------------------------------
    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """Open a connection; the caller closes it (or use `session`)."""
        if read_only and not self.path.exists():
            raise FileNotFoundError(
                f"no warehouse at {self.path}: run `foresight ingest` (or `make demo`) first"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(str(self.path), read_only=read_only)

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self.connect(read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply every migration not yet recorded in `schema_version`; returns the versions applied."""
        applied_now: list[int] = []
        with self.session() as con:
            con.execute(_SCHEMA_VERSION_DDL)
            done = {row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()}
            for mig in all_migrations():
                if mig.version in done:
                    continue
                with transaction(con):
                    for stmt in mig.statements:
                        if callable(stmt):
                            stmt(con)
                        else:
                            con.execute(stmt)
                    con.execute(
                        "INSERT INTO schema_version VALUES (?, ?, ?)", [mig.version, mig.name, utcnow()]
                    )
                applied_now.append(mig.version)
        return applied_now

    def schema_version(self) -> int:
        with self.session(read_only=True) as con:
            row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
        return int(row[0] or 0)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (the previous data stays intact)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    keys: Sequence[str],
    ignore_in_compare: Sequence[str] = (),
) -> UpsertResult:
    """Insert new keys and update changed rows of `table` from `frame`, by name.

    Rows identical to what is stored (ignoring `ignore_in_compare`, e.g. `ingested_at`) are not
    touched, so a re-run leaves the table byte-for-byte the same. Run it inside `transaction`.
    """
    if frame.empty:
        return UpsertResult(0, 0, 0)
    dup = frame.duplicated(list(keys), keep=False)
    if dup.any():
        sample = frame.loc[dup, list(keys)].head(3).to_dict("records")
        raise ValueError(f"upsert into {table}: duplicate keys in the batch, e.g. {sample}")
    cols = list(frame.columns)
    value_cols = [c for c in cols if c not in keys]
    compare_cols = [c for c in value_cols if c not in ignore_in_compare]
    view = f"_upsert_{table}"
    con.register(view, frame)
    try:
        join = " AND ".join(f's."{k}" = t."{k}"' for k in keys)
        differs = " OR ".join(f's."{c}" IS DISTINCT FROM t."{c}"' for c in compare_cols) or "FALSE"
        key_null = f't."{keys[0]}" IS NULL'
        counts = con.execute(
            f"""
            SELECT count(*) FILTER (WHERE {key_null}),
                   count(*) FILTER (WHERE NOT {key_null} AND ({differs}))
            FROM {view} s LEFT JOIN {table} t ON {join}
            """
        ).fetchall()[0]
        inserted, updated = int(counts[0]), int(counts[1])
        if inserted or updated:
            col_list = ", ".join(f'"{c}"' for c in cols)
            sel = ", ".join(f's."{c}"' for c in cols)
            key_list = ", ".join(f'"{k}"' for k in keys)
            set_clause = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in value_cols)
            conflict = f"DO UPDATE SET {set_clause}" if value_cols else "DO NOTHING"
            con.execute(
                f"""
                INSERT INTO {table} ({col_list})
                SELECT {sel} FROM {view} s LEFT JOIN {table} t ON {join}
                WHERE {key_null} OR ({differs})
                ON CONFLICT ({key_list}) {conflict}
                """
            )
    finally:
        con.unregister(view)
    return UpsertResult(inserted, updated, len(frame) - inserted - updated)
