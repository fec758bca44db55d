"""Whole HTTP answers kept per immutable snapshot: a repeated GET is sent from memory, not recomputed, and a
newly published snapshot is served only once its most asked answers are ready."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

Answer = tuple[int, tuple[tuple[bytes, bytes], ...], bytes]
"""status, headers, body: ints and bytes in tuples only, which the garbage collector stops tracking, so tens of
thousands of kept answers add nothing to a full collection's pause."""
Key = tuple[str, bytes]


class SnapshotResponseCache:
    """ASGI middleware: the first GET of a (path, query) on a snapshot runs the app; later ones replay its
    status, headers and body while that snapshot is served.

    A snapshot never changes, so an answer computed on it stays true while it is served. An answer is kept
    only when the snapshot served was the same before and after computing it, when it is a complete
    non-streamed body under `max_body` bytes, and when its status is below 500 and not a partial (206) or
    revalidated (304) one; requests carrying range or revalidation headers are passed through. At most `max_entries`
    answers are kept per snapshot. Requests that arrive while the same answer is being computed wait for it
    instead of computing it again.

    Switching snapshots: the middleware owns the reader's switch (the reader stops following the pointer by
    itself). When a new snapshot is published, requests keep being answered from the served snapshot and its
    answers while one background pass opens the new snapshot and computes, on it, the answers of
    `warm_paths()` (the app's hot routes: every symbol's latest signal, the KPIs) and the `warm_hot` most
    asked answers of the served snapshot, `warm_concurrency` at a time through the app itself (the same bytes a request
    would get). Then the reader and the answers switch together. Right after a publish, no request pays for
    a first ask of those routes (a night every 2 s made ~500 first asks per publish, each through FastAPI
    and DuckDB, the p99 of the read routes). The pointer is looked at at most every `recheck_s` seconds.
    """

    def __init__(
        self,
        app: ASGIApp,
        reader: Any,
        max_entries: int = 50_000,
        max_body: int = 1 << 20,
        warm_paths: Callable[[], Sequence[str]] | None = None,
        warm_hot: int = 2_000,
        recheck_s: float = 0.02,
        warm_concurrency: int = 8,
    ):
        self.app = app
        self.reader = reader
        reader.follow = False
        self.max_entries = max_entries
        self.max_body = max_body
        self.warm_paths = warm_paths
        self.warm_hot = warm_hot
        self._snapshot: Any = None
        self._entries: dict[Key, Answer] = {}
        self._asked: Counter[Key] = Counter()
        self._pending: dict[tuple[Any, str, bytes], asyncio.Future] = {}
        self._warming: asyncio.Task | None = None
        self.recheck_s = recheck_s
        self.warm_concurrency = warm_concurrency
        self._published: Any = None
        self._published_checked = 0.0
        self.hits = 0
        self.misses = 0
        self.warmed: list[dict[str, Any]] = []
        """One record per switch: answers prepared, answers that could not be kept (streamed, 5xx), seconds."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or _conditional(scope):
            await self.app(scope, receive, send)
            return
        serving = self.reader.serving_key()
        published = self._published_key()
        if published is None:
            await self.app(scope, receive, send)
            return
        if self._warming is not None and (self._warming.done() or self._warming.get_loop() is not _loop()):
            self._warming = None  # ended, or left behind on an event loop that is gone (a test client's)
        if serving is not None and published != serving and self._warming is None:
            self._warming = asyncio.create_task(self._switch(_base_scope(scope)))
        if serving != self._snapshot:
            self._snapshot, self._entries, self._asked = serving, {}, Counter()
        key = (scope["path"], scope["query_string"])
        if len(self._asked) >= 4 * self.max_entries:
            self._asked.clear()
        self._asked[key] += 1
        hit = self._entries.get(key)
        if hit is None and (serving, *key) in self._pending:
            await asyncio.shield(self._pending[(serving, *key)])
            hit = self._entries.get(key)
        if hit is not None:
            self.hits += 1
            await _replay(hit, send)
            return
        self.misses += 1
        done = asyncio.get_running_loop().create_future()
        self._pending[(serving, *key)] = done
        try:
            answer = await self._render(scope, receive, send)
            # kept only under the snapshot served before and after computing it (a switch in between may have
            # answered from the other one), or, for the first requests, the one they opened
            after = self.reader.serving_key()
            if answer is not None and after is not None and after == (serving or published):
                if after != self._snapshot:
                    self._snapshot, self._entries, self._asked = after, {}, Counter()
                self._keep(self._entries, key, answer)
        finally:
            self._pending.pop((serving, *key), None)
            done.set_result(None)

    def _published_key(self) -> Any:
        """The published pointer's identity, looked at (one stat) at most every `recheck_s` seconds: at
        thousands of requests a second a stat each is a measurable share of the event loop."""
        now = _loop().time()
        if self._published is None or now - self._published_checked >= self.recheck_s:
            self._published, self._published_checked = self.reader.published_key(), now
        return self._published

    async def _render(self, scope: Scope, receive: Receive, send: Send | None) -> Answer | None:
        """Run the app; returns its answer when it can be kept (complete, one body, status < 500)."""
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
            if send is not None:
                await send(message)

        await self.app(scope, receive, capture)
        if start is None or not complete or len(chunks) != 1 or start["status"] >= 500 or start["status"] in (206, 304):
            return None
        if len(chunks[0]) > self.max_body:
            return None
        return start["status"], tuple((bytes(n), bytes(v)) for n, v in start.get("headers", ())), chunks[0]

    def _keep(self, entries: dict[Key, Answer], key: Key, answer: Answer) -> None:
        if len(entries) >= self.max_entries:
            entries.clear()
        entries[key] = answer

    def _warm_keys(self, paths: Sequence[str]) -> list[Key]:
        """The app's hot paths, then the served snapshot's most asked keys (at most `warm_hot`), once each."""
        keys: dict[Key, None] = {}
        for p in paths:
            path, _, query = p.partition("?")
            keys[(path, query.encode())] = None
        for key, _ in self._asked.most_common(self.warm_hot):
            keys[key] = None
        return list(keys)

    async def _switch(self, scope: Scope) -> None:
        """Open the published snapshot, compute the warm answers on it, then serve it with them."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        handle = None
        prepared: dict[Key, Answer] = {}
        not_kept = 0
        try:
            handle = await run_in_threadpool(self.reader.open_published)
            if handle is None:
                return
            with self.reader.pinned(handle):
                paths = list(await run_in_threadpool(self.warm_paths)) if self.warm_paths else []
                keys = self._warm_keys(paths)
                gate = asyncio.Semaphore(self.warm_concurrency)

                async def render(path: str, query: bytes) -> Answer | None:
                    async with gate:
                        return await self._render(_warm_scope(scope, path, query), _no_body, None)

                # a few at a time: one after another, each of a render's hops (threadpool, handler, body) waits
                # behind every ready request, and a switch under load took ~13 s for 500 answers
                answers = await asyncio.gather(*(render(path, query) for path, query in keys))
                for key, answer in zip(keys, answers, strict=True):
                    if answer is None:
                        not_kept += 1
                    else:
                        self._keep(prepared, key, answer)
        except Exception:  # a failed warm-up must not hold the served snapshot back
            log.exception("preparing the published snapshot failed; switching to it unprepared")
        finally:
            if handle is not None:
                self.reader.promote(handle)
                self._snapshot, self._entries, self._asked = handle.key, prepared, Counter()
                self.warmed.append({"answers": len(prepared), "not_kept": not_kept,
                                    "seconds": round(loop.time() - began, 4)})
                del self.warmed[:-100]
            self._warming = None


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def _replay(answer: Answer, send: Send) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


_CONDITIONAL = frozenset({b"range", b"if-range", b"if-none-match", b"if-modified-since"})


def _conditional(scope: Scope) -> bool:
    """A request whose answer depends on its own headers (ranges, revalidation): never kept or replayed."""
    return any(name in _CONDITIONAL for name, _ in scope.get("headers", ()))


def _base_scope(scope: Scope) -> Scope:
    """What a prepared request shares with the one that saw the new snapshot: the app, the server, the host."""
    base = {k: scope[k] for k in ("type", "asgi", "http_version", "scheme", "server", "client", "root_path", "app")
            if k in scope}
    base["headers"] = [(n, v) for n, v in scope.get("headers", ()) if n == b"host"]
    return base


def _warm_scope(base: Scope, path: str, query: bytes) -> Scope:
    """A plain GET of `path?query` on the app of `base`."""
    return {**base, "path": path, "raw_path": path.encode(), "query_string": query, "method": "GET", "state": {}}


@asynccontextmanager
async def frozen_heap(_app: Any) -> AsyncIterator[None]:
    """Lifespan of a serving process: what exists once the app is built (modules, routes, models, ~450k
    objects) is moved out of the garbage collector's reach (`gc.freeze`) while it serves. A full collection
    walked all of it, ~0.3 s with the event loop stopped, every few seconds under load: the p99 of every
    route while nights published. Undone at shutdown."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


__all__ = ["SnapshotResponseCache", "frozen_heap"]
