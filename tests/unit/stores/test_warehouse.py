"""Warehouse: migrations are versioned and idempotent; upserts insert, update and skip exactly."""

import datetime as dt

import pandas as pd
import pytest

from stores.migrations import all_migrations
from stores.warehouse import Warehouse, transaction, upsert


def _bars(close: float, day: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": ["AAA"], "date": [dt.date(2024, 1, day)], "open": [1.0], "high": [close + 1],
            "low": [0.5], "close": [close], "adj_close": [close], "volume": [10.0], "vwap": [None],
            "dividend": [None], "split_coefficient": [None], "source": ["t"],
            "ingested_at": [pd.Timestamp("2024-01-01")],
        }
    )


def test_migrations_are_unique_ordered_and_idempotent(tmp_path):
    versions = [m.version for m in all_migrations()]
    assert versions == sorted(set(versions))
    wh = Warehouse(tmp_path / "w.duckdb")
    first = wh.migrate()
    assert first == versions
    assert wh.migrate() == []
    assert wh.schema_version() == versions[-1]


def test_upsert_counts_insert_update_unchanged(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    with wh.session() as con:
        with transaction(con):
            r1 = upsert(con, "bars", _bars(2.0), ["symbol", "date"], ignore_in_compare=["ingested_at"])
        assert (r1.inserted, r1.updated, r1.unchanged) == (1, 0, 0)
        # same values, later ingest time: nothing written
        again = _bars(2.0).assign(ingested_at=pd.Timestamp("2024-02-01"))
        r2 = upsert(con, "bars", again, ["symbol", "date"], ignore_in_compare=["ingested_at"])
        assert (r2.inserted, r2.updated, r2.unchanged) == (0, 0, 1)
        assert con.execute("SELECT ingested_at FROM bars").fetchall()[0][0] == dt.datetime(2024, 1, 1)
        # corrected close: one update
        r3 = upsert(con, "bars", pd.concat([_bars(2.5), _bars(3.0, day=3)]), ["symbol", "date"],
                    ignore_in_compare=["ingested_at"])
        assert (r3.inserted, r3.updated, r3.unchanged) == (1, 1, 0)
        assert con.execute("SELECT close FROM bars ORDER BY date").fetchall() == [(2.5,), (3.0,)]


def test_failed_transaction_keeps_previous_data(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    with wh.session() as con:
        with transaction(con):
            upsert(con, "bars", _bars(2.0), ["symbol", "date"])
        with pytest.raises(RuntimeError), transaction(con):
            upsert(con, "bars", _bars(9.0), ["symbol", "date"])
            raise RuntimeError("crash mid-batch")
        assert con.execute("SELECT close FROM bars").fetchall() == [(2.0,)]


def test_duplicate_keys_in_one_batch_are_refused(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.migrate()
    with wh.session() as con, pytest.raises(ValueError, match="duplicate keys"):
        upsert(con, "bars", pd.concat([_bars(2.0), _bars(3.0)]), ["symbol", "date"])
