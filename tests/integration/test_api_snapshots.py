"""The API keeps answering while a writer commits and publishes nights, and never shows a partial night."""

from __future__ import annotations

import datetime as dt
import threading
import time

from fastapi.testclient import TestClient

from foresight.api import create_app
from foresight.settings import Settings
from stores.snapshots import publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import Warehouse, transaction, upsert
from tests.unit.foresight.serving_data import (
    SYMBOLS,
    ensure_contract_tables,
    fit_columns,
    signal_rows,
    write_night,
)

NIGHTS = [dt.date(2025, 12, 1) + dt.timedelta(days=i) for i in range(6)]


def _write_night_in_two_commits(wh: Warehouse, date: dt.date, seed: int) -> None:
    """A scoring run that commits half the cross-section, then the rest: in between the warehouse
    holds a partial night, which readers must never see."""
    rows = signal_rows([date], SYMBOLS, seed=seed)
    half = len(rows) // 2
    for part in (rows.iloc[:half], rows.iloc[half:]):
        with wh.session() as con, transaction(con):
            upsert(con, "signals", fit_columns(con, "signals", part), ["symbol", "date", "model_name", "model_version"])
        time.sleep(0.02)


def test_readers_never_see_a_partial_night_while_nights_are_published(tmp_path):
    settings = Settings(home=tmp_path / "home")
    wh = Warehouse(settings.duckdb_path)
    ensure_contract_tables(wh)
    write_night(wh, NIGHTS[0])
    publish_warehouse_snapshot(wh, snapshot_dir(settings.home), keep=2)
    app = create_app(settings)
    errors: list[str] = []
    seen: dict[int, list[str]] = {}
    stop = threading.Event()

    def reader(i: int, client: TestClient) -> None:
        dates = seen.setdefault(i, [])
        while not stop.is_set():
            r = client.get("/signals")
            if r.status_code != 200:
                errors.append(f"/signals {r.status_code} {r.text[:200]}")
                continue
            body = r.json()
            if body["count"] != len(SYMBOLS):
                errors.append(f"partial night {body['date']}: {body['count']} of {len(SYMBOLS)}")
            dates.append(body["date"])
            one = client.get(f"/signals/{SYMBOLS[i % len(SYMBOLS)]}")
            if one.status_code != 200 or one.json()["date"] < body["date"]:
                errors.append(f"/signals/SYM {one.status_code} {one.text[:200]}")

    with TestClient(app) as client:
        threads = [threading.Thread(target=reader, args=(i, client)) for i in range(4)]
        for t in threads:
            t.start()
        for k, night in enumerate(NIGHTS[1:], start=1):
            _write_night_in_two_commits(wh, night, seed=k)
            publish_warehouse_snapshot(wh, snapshot_dir(settings.home), keep=2)
            time.sleep(0.1)
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        # the last night is served once its answers are prepared (a background pass after the publish)
        deadline = time.monotonic() + 30
        while (final := client.get("/health").json())["snapshot"]["as_of"] != str(NIGHTS[-1]):
            assert time.monotonic() < deadline, final
            time.sleep(0.02)

    assert errors == []
    all_dates = [d for v in seen.values() for d in v]
    assert len(all_dates) > 20
    # Every reader moved forward through published nights only, and some saw several of them.
    for dates in seen.values():
        assert dates == sorted(dates)
    assert len(set(all_dates)) >= 3
    assert final["snapshot"]["as_of"] == str(NIGHTS[-1])
    # Old snapshots were collected.
    assert len(list(snapshot_dir(settings.home).glob("snap-*.duckdb"))) <= 2
