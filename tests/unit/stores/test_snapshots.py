"""Read snapshots: consistent copies, atomic pointer, garbage collection, readers that switch and recover."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from stores.snapshots import (
    POINTER,
    SnapshotReader,
    SnapshotUnavailable,
    collect_snapshots,
    publish_warehouse_snapshot,
    read_pointer,
)
from stores.warehouse import Warehouse, utcnow


def _bars(wh: Warehouse, day: dt.date) -> None:
    with wh.session() as con:
        con.execute("INSERT INTO bars (symbol, date, open, high, low, close, adj_close, volume, source, ingested_at) "
                    "VALUES ('AAA', ?, 1, 1, 1, 1, 1, 1, 'test', ?)", [day, utcnow()])


@pytest.fixture
def wh(tmp_path):
    w = Warehouse(tmp_path / "w.duckdb")
    w.migrate()
    return w


def test_publish_copies_existing_serving_tables_and_points_at_them(wh, tmp_path):
    _bars(wh, dt.date(2025, 1, 2))
    info = publish_warehouse_snapshot(wh, tmp_path / "snaps", pipeline_run="r1")
    assert info.path.exists() and info.tables["bars"] == 1
    assert "signals" not in info.tables or info.tables["signals"] == 0
    pointer = json.loads((tmp_path / "snaps" / POINTER).read_text())
    assert pointer["file"] == info.path.name and pointer["pipeline_run"] == "r1"
    assert not list((tmp_path / "snaps").glob("*.tmp"))


def test_old_snapshots_are_collected_but_never_the_current(wh, tmp_path):
    snaps = tmp_path / "snaps"
    for i in range(5):
        _bars(wh, dt.date(2025, 1, 2) + dt.timedelta(days=i))
        last = publish_warehouse_snapshot(wh, snaps, keep=2)
    files = sorted(p.name for p in snaps.glob("snap-*.duckdb"))
    assert len(files) == 2 and last.path.name in files
    assert collect_snapshots(snaps, keep=0) == [snaps / files[0]]  # keep=0 still keeps the current one
    assert read_pointer(snaps).path.exists()


def test_reader_serves_one_snapshot_per_cursor_and_switches_between(wh, tmp_path):
    snaps = tmp_path / "snaps"
    _bars(wh, dt.date(2025, 1, 2))
    publish_warehouse_snapshot(wh, snaps)
    reader = SnapshotReader(snaps)
    with reader.cursor() as con:
        _bars(wh, dt.date(2025, 1, 3))
        publish_warehouse_snapshot(wh, snaps)
        # The open cursor keeps reading the snapshot it started on.
        assert con.execute("SELECT count(*) FROM bars").fetchall()[0][0] == 1
        assert reader.memo("n", lambda: 1) == 1
    with reader.cursor() as con:
        assert con.execute("SELECT count(*) FROM bars").fetchall()[0][0] == 2
        assert reader.memo("n", lambda: 2) == 2  # a new snapshot starts with an empty memo
    reader.close()


def test_reader_without_or_with_a_broken_snapshot_is_unavailable(wh, tmp_path):
    snaps = tmp_path / "snaps"
    reader = SnapshotReader(snaps)
    with pytest.raises(SnapshotUnavailable, match="foresight score"), reader.cursor():
        pass
    snaps.mkdir()
    (snaps / POINTER).write_text(json.dumps({"file": "snap-gone.duckdb", "published_at": "x"}))
    with pytest.raises(SnapshotUnavailable, match="cannot be opened"), reader.cursor():
        pass
    publish_warehouse_snapshot(wh, snaps)
    with reader.cursor() as con:
        assert con.execute("SELECT count(*) FROM bars").fetchall()[0][0] == 0


def test_a_reader_that_does_not_follow_switches_only_when_promoted(wh, tmp_path):
    snaps = tmp_path / "snaps"
    _bars(wh, dt.date(2025, 1, 2))
    publish_warehouse_snapshot(wh, snaps)
    reader = SnapshotReader(snaps, follow=False)

    def count() -> int:
        with reader.cursor() as con:
            return con.execute("SELECT count(*) FROM bars").fetchall()[0][0]

    assert count() == 1 and reader.open_published() is None  # the published one is the one served
    old_key = reader.serving_key()
    _bars(wh, dt.date(2025, 1, 3))
    publish_warehouse_snapshot(wh, snaps)
    # Published, not promoted: every request still reads the served snapshot
    assert count() == 1 and reader.serving_key() == old_key != reader.published_key()
    new = reader.open_published()
    assert new is not None and new.key == reader.published_key()
    # Pinned code reads the new snapshot (memo included), the rest the served one
    with reader.pinned(new):
        assert count() == 2
        with reader.cursor():
            assert reader.memo("n", lambda: "new") == "new"
    assert count() == 1
    with reader.cursor() as held:  # a request that started before the switch
        reader.promote(new)
        assert held.execute("SELECT count(*) FROM bars").fetchall()[0][0] == 1
    assert count() == 2 and reader.serving_key() == new.key
    with reader.cursor():
        assert reader.memo("n", lambda: "recomputed") == "new"  # what was prepared on it is kept
    # a handle that will not be served is closed
    _bars(wh, dt.date(2025, 1, 6))
    publish_warehouse_snapshot(wh, snaps)
    unused = reader.open_published()
    reader.discard(unused)
    with pytest.raises(Exception, match="closed"):
        unused.con.execute("SELECT 1")


def _bar(wh: Warehouse, day: dt.date, close: float = 1.0) -> None:
    with wh.session() as con:
        con.execute("INSERT OR REPLACE INTO bars (symbol, date, open, high, low, close, adj_close, volume, source, "
                    "ingested_at) VALUES ('AAA', ?, 1, 1, 1, ?, ?, 1, 'test', TIMESTAMP '2025-01-01')",
                    [day, close, close])


def _parts(snaps) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in (snaps / "parts").glob("*.duckdb")}


def test_a_night_writes_only_the_parts_whose_rows_changed(wh, tmp_path):
    # Given: bars over three years, published once
    snaps = tmp_path / "snaps"
    for year in (2022, 2023, 2024):
        _bar(wh, dt.date(year, 3, 1))
    publish_warehouse_snapshot(wh, snaps, keep=1)
    first = _parts(snaps)
    assert sorted(n.split("-")[1] for n in first if n.startswith("bars-")) == ["2022", "2023", "2024"]

    # When: a night adds a 2024 bar, then another restates a 2022 bar in place (same count, same timestamps)
    _bar(wh, dt.date(2024, 3, 2))
    publish_warehouse_snapshot(wh, snaps, keep=1)
    second = _parts(snaps)
    _bar(wh, dt.date(2022, 3, 1), close=2.0)
    publish_warehouse_snapshot(wh, snaps, keep=1)
    third = _parts(snaps)

    # Then: the unchanged years are the very same files; each changed year is a new part; unused parts go
    old_2022, old_2023 = ([n for n in first if n.startswith(f"bars-{y}-")][0] for y in (2022, 2023))
    assert second[old_2022] == first[old_2022] and second[old_2023] == first[old_2023]
    assert not any(n.startswith("bars-2024-1-") for n in second)
    assert third[old_2023] == first[old_2023] and old_2022 not in third
    # and the served snapshot is the warehouse as it is now
    reader = SnapshotReader(snaps)
    with reader.cursor() as con:
        got = con.execute("SELECT date, close FROM bars ORDER BY date").fetchall()
    reader.close()
    with wh.session(read_only=True) as con:
        assert got == con.execute("SELECT date, close FROM bars ORDER BY date").fetchall()
    assert len(got) == 4 and got[0][1] == 2.0


def test_a_reader_keeps_its_snapshot_while_its_parts_are_collected(wh, tmp_path):
    snaps = tmp_path / "snaps"
    _bar(wh, dt.date(2024, 3, 1))
    publish_warehouse_snapshot(wh, snaps, keep=1)
    reader = SnapshotReader(snaps)
    with reader.cursor() as con:
        _bar(wh, dt.date(2024, 3, 1), close=5.0)
        publish_warehouse_snapshot(wh, snaps, keep=1)  # the part this cursor reads is deleted
        assert con.execute("SELECT close FROM bars").fetchall() == [(1.0,)]
    with reader.cursor() as con:
        assert con.execute("SELECT close FROM bars").fetchall() == [(5.0,)]
    reader.close()
