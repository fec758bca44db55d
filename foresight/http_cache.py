"""Whole HTTP answers kept per immutable snapshot: a repeated GET is sent from memory, not recomputed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stores.snapshots import POINTER


class SnapshotResponseCache:
    """ASGI middleware: the first GET of a (path, query) on a snapshot runs the app; later ones replay its
    status, headers and body until a new snapshot is published (the reader's pointer file changes).

    A snapshot never changes, so an answer computed on it stays true while it is served. An answer is kept
    only when the snapshot served was the same before and after computing it (a publish in between could
    otherwise file a new night's answer under the old one), when it is a complete non-streamed body under
    `max_body` bytes, and when its status is below 500. At most `max_entries` answers are kept per snapshot.
    Requests that arrive while the same answer is being computed wait for it instead of computing it again
    (right after a publish, 32 clients asking the same route would otherwise compute it 32 times).
    """

    def __init__(self, app: ASGIApp, reader: Any, max_entries: int = 50_000, max_body: int = 1 << 20):
        self.app = app
        self.reader = reader
        self.pointer = Path(reader.directory) / POINTER
        self.max_entries = max_entries
        self.max_body = max_body
        self._snapshot: Any = None
        self._entries: dict[tuple[str, bytes], tuple[Message, bytes]] = {}
        self._pending: dict[tuple[Any, str, bytes], asyncio.Future] = {}
        self.hits = 0
        self.misses = 0

    def _snapshot_key(self) -> Any:
        # The published pointer's identity names the snapshot: a stat on the event loop, while opening the
        # new snapshot file is left to the route that first reads it (in the thread pool).
        try:
            st = os.stat(self.pointer)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        snapshot = self._snapshot_key()
        if snapshot is None:
            await self.app(scope, receive, send)
            return
        if snapshot != self._snapshot:
            self._snapshot, self._entries = snapshot, {}
        key = (scope["path"], scope["query_string"])
        hit = self._entries.get(key)
        if hit is None and (snapshot, *key) in self._pending:
            await asyncio.shield(self._pending[(snapshot, *key)])
            hit = self._entries.get(key)
        if hit is not None:
            self.hits += 1
            start, body = hit
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        self.misses += 1
        done = asyncio.get_running_loop().create_future()
        self._pending[(snapshot, *key)] = done
        try:
            await self._compute(scope, receive, send, snapshot, key)
        finally:
            self._pending.pop((snapshot, *key), None)
            done.set_result(None)

    async def _compute(self, scope: Scope, receive: Receive, send: Send, snapshot: Any, key: tuple[str, bytes]) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        complete = False

        async def capture(message: Message) -> None:
            nonlocal start, complete
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, capture)
        if start is None or not complete or start["status"] >= 500 or len(chunks) != 1:
            return
        if len(chunks[0]) > self.max_body or self._snapshot_key() != snapshot or self._snapshot != snapshot:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (start, chunks[0])


__all__ = ["SnapshotResponseCache"]
