"""MongoDB store for the regimes collection (pymongo), and a local SecantusDB launcher when no URI is set."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGIMES_COLLECTION = "regimes"
REGIME_KEY = ("universe", "date", "model_version")
# Written on every change but never compared: a re-run with identical content leaves documents untouched.
_VOLATILE_FIELDS = ("scored_at",)


class MongoUnavailable(RuntimeError):
    """The document store cannot be reached (or stopped answering mid-write)."""


@dataclass(frozen=True)
class MongoWriteResult:
    """What a regimes write did: new documents, changed documents, identical documents left alone."""

    inserted: int
    updated: int
    unchanged: int


# -- local server -------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _resolve_command(command: str) -> str:
    found = shutil.which(command)
    if found:
        return found
    # the virtualenv's bin folder is not always on PATH (e.g. `.venv/bin/python -m ...`)
    local = Path(sys.executable).parent / command
    if local.exists():
        return str(local)
    raise MongoUnavailable(
        f"cannot start the local MongoDB stand-in: {command!r} not found; install secantusdb==0.7.0b3 "
        "or set FORESIGHT_MONGODB__URI to a MongoDB server"
    )


class LocalMongoServer:
    """A SecantusDB process (MongoDB wire protocol) on 127.0.0.1 with its data in `storage_path`."""

    def __init__(self, storage_path: Path, port: int | None = None, command: str = "secantusd-py",
                 start_timeout_s: float = 20.0):
        self.storage_path = Path(storage_path)
        self.port = port or free_port()
        self.command = command
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> LocalMongoServer:
        exe = _resolve_command(self.command)
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self._log = open(self.storage_path.parent / f"secantusd-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [exe, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", str(self.storage_path),
             "--log-level", "WARNING"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise MongoUnavailable(
                    f"SecantusDB exited with code {self.process.returncode} on port {self.port}; "
                    f"see {self.storage_path.parent}/secantusd-{self.port}.log"
                )
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300) as c:
                    c.admin.command("ping")
                    return
            except PyMongoError:
                time.sleep(0.1)
        self.stop()
        raise MongoUnavailable(f"SecantusDB did not answer on port {self.port} within {self.start_timeout_s}s")

    def stop(self) -> None:
        """Terminate gracefully (data is flushed), kill after 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalMongoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _ping(uri: str, timeout_ms: int = 500) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    try:
        with MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms) as c:
            c.admin.command("ping")
            return True
    except PyMongoError:
        return False


def _running_local_server(port_file: Path) -> str | None:
    """The URI of a local server another Foresight process started on this home, if it answers."""
    try:
        port = int(port_file.read_text().strip())
    except (OSError, ValueError):
        return None
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    return uri if _ping(uri) else None


def _start_or_reuse(settings, home: Path) -> tuple[str, LocalMongoServer | None]:
    """One SecantusDB per FORESIGHT_HOME (WiredTiger locks its folder): reuse a running one, else start it."""
    port_file = Path(home) / "mongo.port"
    for attempt in range(2):
        uri = _running_local_server(port_file)
        if uri is not None:
            return uri, None
        server = LocalMongoServer(Path(home) / "mongo", command=settings.server_command,
                                  start_timeout_s=settings.start_timeout_s)
        try:
            server.start()
        except MongoUnavailable as exc:
            if attempt == 0 and "exited" in str(exc):
                time.sleep(1.0)  # another process may have won the race for the folder
                continue
            raise MongoUnavailable(
                f"{exc}. Another process may hold {Path(home) / 'mongo'}; set FORESIGHT_MONGODB_URI to a "
                "shared server"
            ) from exc
        port_file.write_text(str(server.port))
        return server.uri, server
    raise MongoUnavailable(f"could not start or reach the local SecantusDB under {home}")  # pragma: no cover


@contextmanager
def open_mongo(settings, home: Path) -> Iterator[Any]:
    """A pymongo Database for `settings` (MongoSettings): the configured URI; else the local SecantusDB of
    `home` (data in `home`/mongo): reused when another process already runs it, otherwise started on a free
    port and stopped on exit."""
    from pymongo import MongoClient

    server = None
    if settings.uri is not None:
        uri = settings.uri.get_secret_value()
    else:
        uri, server = _start_or_reuse(settings, Path(home))
    client = MongoClient(uri, serverSelectionTimeoutMS=settings.server_timeout_ms,
                         connectTimeoutMS=settings.server_timeout_ms, tz_aware=False)
    try:
        yield client[settings.database]
    finally:
        client.close()
        if server is not None:
            server.stop()
            with contextlib.suppress(OSError):
                (Path(home) / "mongo.port").unlink()


# -- regimes collection -------------------------------------------------------------------------------
def ensure_regime_indexes(db) -> None:
    """Unique (universe, date, model_version): one document per universe, day and model version."""
    from pymongo import ASCENDING

    db[REGIMES_COLLECTION].create_index([(k, ASCENDING) for k in REGIME_KEY], unique=True,
                                        name="universe_date_model_version")


def _as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return _as_datetime(dt.date.fromisoformat(str(value)[:10]))


def compute_regime_documents(rows: Iterable[dict]) -> list[dict]:
    """Mongo documents from mirror rows: `date` as a midnight datetime (BSON has no date type),
    `probabilities` as an embedded document. Pure."""
    import json

    docs = []
    for row in rows:
        doc = dict(row)
        for key, value in list(doc.items()):
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                doc[key] = _as_datetime(value)  # BSON stores datetimes, not dates
        doc["date"] = _as_datetime(doc["date"])
        if isinstance(doc.get("probabilities"), str):
            doc["probabilities"] = json.loads(doc["probabilities"])
        for key, value in list(doc.items()):
            if hasattr(value, "item") and not isinstance(value, str | bytes):
                doc[key] = value.item()  # numpy scalars -> python
        docs.append(doc)
    return docs


def _key(doc: dict) -> tuple:
    return tuple(doc[k] for k in REGIME_KEY)


def _content(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in _VOLATILE_FIELDS and k != "_id"}


def _build_regime_upserts(docs: Sequence[dict], existing: Iterable[dict]) -> tuple[list, MongoWriteResult]:
    """The UpdateOne upserts for documents that are new or whose content changed (pure: no server).

    Identical documents (ignoring scored_at) get no operation, so a re-run leaves the collection as is."""
    from pymongo import UpdateOne

    stored = {_key(d): _content(d) for d in existing}
    ops, inserted, updated, unchanged = [], 0, 0, 0
    for doc in docs:
        key = _key(doc)
        before = stored.get(key)
        if before is not None and before == _content(doc):
            unchanged += 1
            continue
        if before is None:
            inserted += 1
        else:
            updated += 1
        ops.append(UpdateOne({k: doc[k] for k in REGIME_KEY}, {"$set": doc}, upsert=True))
    return ops, MongoWriteResult(inserted, updated, unchanged)


def _batch_query(batch: Sequence[dict]) -> dict:
    """A range query covering every key of the batch (a superset; exact keys are matched in Python)."""
    dates = [d["date"] for d in batch]
    return {
        "universe": {"$in": sorted({d["universe"] for d in batch})},
        "model_version": {"$in": sorted({d["model_version"] for d in batch})},
        "date": {"$gte": min(dates), "$lte": max(dates)},
    }


def save_regime_documents(db, docs: Sequence[dict], batch_size: int = 500) -> MongoWriteResult:
    """Idempotent bulk upserts in batches (a retry after a failure completes what is missing)."""
    from pymongo.errors import PyMongoError

    coll = db[REGIMES_COLLECTION]
    totals = [0, 0, 0]
    try:
        ensure_regime_indexes(db)
        for i in range(0, len(docs), batch_size):
            batch = list(docs[i:i + batch_size])
            existing = list(coll.find(_batch_query(batch), {"_id": 0})) if batch else []
            ops, res = _build_regime_upserts(batch, existing)
            if ops:
                coll.bulk_write(ops, ordered=False)
            totals[0] += res.inserted
            totals[1] += res.updated
            totals[2] += res.unchanged
    except PyMongoError as exc:
        raise MongoUnavailable(
            f"MongoDB write of regimes failed after {totals[0] + totals[1] + totals[2]} of {len(docs)} "
            f"documents ({type(exc).__name__}: {str(exc)[:200]}); the DuckDB mirror was not changed. "
            "Check FORESIGHT_MONGODB__URI / the server and re-run (writes are idempotent)."
        ) from exc
    return MongoWriteResult(*totals)


def load_regime_documents(db, universe: str, start=None, end=None, model_version: str | None = None) -> list[dict]:
    """Regime documents of `universe` between start and end (inclusive), sorted by date."""
    query: dict[str, Any] = {"universe": universe}
    rng = {}
    if start is not None:
        rng["$gte"] = _as_datetime(start)
    if end is not None:
        rng["$lte"] = _as_datetime(end)
    if rng:
        query["date"] = rng
    if model_version is not None:
        query["model_version"] = str(model_version)
    return list(db[REGIMES_COLLECTION].find(query, {"_id": 0}).sort([("date", 1), ("model_version", 1)]))


__all__ = [
    "REGIMES_COLLECTION",
    "LocalMongoServer",
    "MongoUnavailable",
    "MongoWriteResult",
    "compute_regime_documents",
    "ensure_regime_indexes",
    "free_port",
    "load_regime_documents",
    "open_mongo",
    "save_regime_documents",
]
