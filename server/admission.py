"""Admission control for /graphql: a bound on requests in flight, a queue with a deadline, then 503.

On 2 cores the process itself is the bottleneck well before the databases are: letting 64 requests
run at once only makes every one of them slow, and the time a request spends waiting for our own
event loop would be charged to the nodes it talks to (healthy nodes reported NODE_UNAVAILABLE). So
at most ``limit`` requests execute at once; the others wait in a bounded queue for at most
``queue_timeout`` seconds, and are then refused with 503 and ``Retry-After``. Each admitted request
gets its deadlines (one per node, one overall) only once it is admitted: queueing is never charged
to a node.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from govshare.federation.deadlines import RequestDeadlines, request_deadlines

Scope = dict[str, Any]


class Admission:
    """A FIFO gate: ``limit`` holders at once, ``max_queue`` waiters, each waiting ``queue_timeout`` at most."""

    def __init__(self, limit: int, max_queue: int, queue_timeout: float,
                 on_refuse: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.refused = 0
        self._on_refuse = on_refuse

    @property
    def queued(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def _refuse(self) -> bool:
        self.refused += 1
        if self._on_refuse is not None:
            self._on_refuse()
        return False

    async def enter(self) -> bool:
        """True when admitted (call ``leave`` afterwards); False when the request must be refused."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        if len(self._waiters) >= self.max_queue:
            return self._refuse()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.queue_timeout):
                await waiter
        except TimeoutError:
            self._drop(waiter)
            return self._refuse()
        except asyncio.CancelledError:
            self._drop(waiter)
            raise
        return True  # ``leave`` handed its slot over: in_flight already counts us

    def _drop(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done() and not waiter.cancelled():
            self.leave()  # the slot was handed to us just as we gave up: pass it on
        elif waiter in self._waiters:
            self._waiters.remove(waiter)

    def leave(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the slot over directly: in_flight stays the same
                return
        self.in_flight -= 1


class AdmissionMiddleware:
    """ASGI middleware gating ``paths``; other paths (health, metrics) always pass."""

    def __init__(self, app: Any, admission: Admission, node_timeout: float, request_timeout: float,
                 paths: tuple[str, ...] = ("/graphql",)) -> None:
        self.app = app
        self.admission = admission
        self.node_timeout = node_timeout
        self.request_timeout = request_timeout
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if not await self.admission.enter():
            await self._refuse(send)
            return
        token = request_deadlines.set(RequestDeadlines(self.node_timeout, self.request_timeout))
        try:
            await self.app(scope, receive, send)
        finally:
            request_deadlines.reset(token)
            self.admission.leave()

    async def _refuse(self, send: Any) -> None:
        body = orjson.dumps({"errors": [{
            "message": "the service is at capacity; retry after the delay in Retry-After",
            "extensions": {"code": "OVERLOADED"}}]})
        retry_after = str(max(1, math.ceil(self.admission.queue_timeout)))
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json; charset=utf-8"), (b"retry-after", retry_after.encode()),
            (b"cache-control", b"no-store"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
