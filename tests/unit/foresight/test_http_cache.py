"""Whole answers kept per snapshot, and the switch to a newly published snapshot: the API keeps answering
from the served snapshot until every symbol's latest signal, the KPIs and the answers asked before are
prepared on the new one; then no request pays for a first ask of them."""

from __future__ import annotations

import datetime as dt
import time

from fastapi.testclient import TestClient

import foresight.api
from foresight.api import create_app
from foresight.http_cache import SnapshotResponseCache
from foresight.settings import Settings
from stores.snapshots import publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import Warehouse
from tests.unit.foresight.serving_data import SYMBOLS, ensure_contract_tables, write_night

OLD, NEW = dt.date(2025, 12, 26), dt.date(2025, 12, 29)
PATHS = [*(f"/signals/{s}" for s in SYMBOLS), "/dashboard/kpis"]


def _home(tmp_path) -> tuple[Settings, Warehouse]:
    settings = Settings(home=tmp_path / "home")
    wh = Warehouse(settings.duckdb_path)
    ensure_contract_tables(wh)
    write_night(wh, OLD)
    publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
    return settings, wh


def _cache(app) -> SnapshotResponseCache:
    node = app.middleware_stack
    while not isinstance(node, SnapshotResponseCache):
        node = node.app
    return node


def _wait_for_switch(cache: SnapshotResponseCache, switches: int) -> dict:
    deadline = time.monotonic() + 30
    while len(cache.warmed) < switches:
        assert time.monotonic() < deadline, "the published snapshot was never switched to"
        time.sleep(0.02)
    return cache.warmed[-1]


def _date(client: TestClient, path: str) -> str:
    body = client.get(path).json()
    return body["date"] if "date" in body else body["panels"]["signals"]["latest_date"]


def test_a_published_snapshot_is_served_once_its_answers_are_prepared(tmp_path):
    settings, wh = _home(tmp_path)
    app = create_app(settings)
    dated = f"/signals/SYM001?date={OLD}"
    with TestClient(app) as client:
        assert {_date(client, p) for p in PATHS} == {str(OLD)}
        assert client.get(dated).status_code == 200
        cache = _cache(app)
        # When a night is published
        write_night(wh, NEW, seed=1)
        publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
        misses = cache.misses
        # Then the next request is still answered from the served snapshot, from memory
        assert _date(client, "/signals/SYM001") == str(OLD)
        assert cache.misses == misses
        # and once the new snapshot's answers are prepared, it is served with them: no request computes
        # a symbol's latest signal, the KPIs or an answer asked before (the dated one) on it
        switch = _wait_for_switch(cache, 1)
        assert switch["answers"] >= len(PATHS) + 1 and switch["not_kept"] == 0
        misses = cache.misses
        assert {_date(client, p) for p in PATHS} == {str(NEW)}
        assert client.get(dated).json()["date"] == str(OLD)
        assert cache.misses == misses
        prepared = {p: client.get(p).content for p in [*PATHS, dated]}
    # The prepared answers are the app's own: the bytes a fresh app computes on that snapshot
    with TestClient(create_app(settings)) as fresh:
        assert {p: fresh.get(p).content for p in prepared} == prepared


def test_a_failed_preparation_does_not_hold_the_new_snapshot_back(tmp_path, monkeypatch):
    settings, wh = _home(tmp_path)
    app = create_app(settings)

    def broken(factory):
        raise RuntimeError("no warm paths today")

    monkeypatch.setattr(foresight.api, "warm_paths", broken)
    with TestClient(app) as client:
        assert _date(client, "/signals/SYM001") == str(OLD)
        cache = _cache(app)
        write_night(wh, NEW, seed=1)
        publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
        client.get("/health")
        assert _wait_for_switch(cache, 1)["answers"] == 0
        assert _date(client, "/signals/SYM001") == str(NEW)


def test_revalidations_are_never_kept_nor_replayed(tmp_path):
    settings, _ = _home(tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200  # the snapshot is open: answers are kept from now on
        first = client.get("/dashboard/static/app.css")
        stamp = first.headers["last-modified"]
        assert client.get("/dashboard/static/app.css", headers={"if-modified-since": stamp}).status_code == 304
        again = client.get("/dashboard/static/app.css")
        assert again.status_code == 200 and again.content == first.content


def test_a_serving_process_keeps_its_startup_heap_and_its_answers_out_of_full_collections(tmp_path):
    """A full collection stops the event loop for as long as it walks the tracked objects: ~0.3 s over the
    ~450k objects of the loaded modules, every few seconds under load (the p99 of every route while nights
    published, bench/bench_api.py). While the app serves, that heap is frozen, and kept answers are made of
    ints and bytes in tuples, which the collector stops tracking."""
    import gc

    settings, _ = _home(tmp_path)
    app = create_app(settings)
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 10_000
        for p in PATHS:
            assert client.get(p).status_code == 200
        for _ in range(3):  # a tuple is let go once its items are: the (name, value) pairs, the headers, the answer
            gc.collect()
        answers = list(_cache(app)._entries.values())
        assert len(answers) == len(PATHS)
        assert not any(gc.is_tracked(a) for a in answers)
        assert client.get(PATHS[0]).json() == client.get(PATHS[0]).json()  # replayed from the untracked form
    assert gc.get_freeze_count() == 0
