"""Whole HTTP answers kept per immutable snapshot: a repeated GET is sent from memory, not recomputed."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SnapshotResponseCache:
    """ASGI middleware: the first GET of a (path, query) on a snapshot runs the app; later ones replay its
    status, headers and body until a new snapshot is published.

    A snapshot never changes, so an answer computed on it stays true while it is served. An answer is kept
    only when the snapshot served was the same before and after computing it (a publish in between could
    otherwise file a new night's answer under the old one), when it is a complete non-streamed body under
    `max_body` bytes, and when its status is below 500. At most `max_entries` answers are kept per snapshot.
    """

    def __init__(self, app: ASGIApp, reader: Any, max_entries: int = 50_000, max_body: int = 1 << 20):
        self.app = app
        self.reader = reader
        self.max_entries = max_entries
        self.max_body = max_body
        self._snapshot: Any = None
        self._entries: dict[tuple[str, bytes], tuple[Message, bytes]] = {}
        self.hits = 0
        self.misses = 0

    def _snapshot_key(self) -> Any:
        info = self.reader.info()
        return None if info is None else (str(info.path), info.published_at)

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
        if hit is not None:
            self.hits += 1
            start, body = hit
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        self.misses += 1
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
