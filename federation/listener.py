"""LISTEN on every node database, with reconnection: changes made anywhere reach every replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from .nodes import RETRYABLE
from .topology import Topology

logger = logging.getLogger("govshare.listener")
Callback = Callable[[str, str], Awaitable[None]]  # (channel, database node)


class Listener:
    """One connection per database listening on ``channels``; ``on_change`` runs once per burst.

    ``only_from`` maps a channel to the one database whose NOTIFYs on it count: a channel announcing a
    change that can only happen there (the access rules, in the region's database) is not taken from any
    other server, whose owner could otherwise make every worker reload at will. A reconnection is the
    listener's own observation, not a server's word: it still counts as a change on every channel.
    """

    def __init__(self, topology: Topology, channels: tuple[str, ...], on_change: Callback,
                 debounce: float = 0.05, retry: float = 1.0, only_from: dict[str, str] | None = None) -> None:
        self.topology = topology
        self.channels = channels
        self.only_from = dict(only_from or {})
        self.on_change = on_change
        self.debounce = debounce
        self.retry = retry
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._connections: set[asyncpg.Connection] = set()

    def start(self, stale: frozenset[str] = frozenset()) -> None:
        """Listen on every database; those in ``stale`` (not read at start) count as changed on first connect."""
        self._tasks = [asyncio.create_task(self._run(n.code, n.dsn or "", n.code in stale))
                       for n in self.topology.databases]

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop listening within ``timeout`` seconds, whatever state the servers are in."""
        for handle in self._pending.values():
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            if pending:
                logger.warning("%d listener(s) did not stop within %g s; abandoned", len(pending), timeout)
        for conn in self._connections:
            conn.terminate()
        self._connections.clear()

    def _notified(self, channel: str, database: str) -> None:
        """A NOTIFY received from ``database``."""
        if self.only_from.get(channel, database) != database:
            logger.debug("NOTIFY %s from %s ignored (announced by %s only)", channel, database,
                         self.only_from[channel])
            return
        self._notify(channel, database)

    def _notify(self, channel: str, database: str) -> None:
        key = (channel, database)
        if key in self._pending:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._pending.pop(key, None)
            task: asyncio.Task[None] = asyncio.ensure_future(self.on_change(channel, database))
            task.add_done_callback(_log_failure)

        self._pending[key] = loop.call_later(self.debounce, fire)

    async def _run(self, database: str, dsn: str, stale: bool = False) -> None:
        first = not stale
        while True:
            try:
                conn = await asyncpg.connect(dsn, timeout=5)
            except RETRYABLE:
                await asyncio.sleep(self.retry)
                continue
            self._connections.add(conn)
            closed = asyncio.Event()
            conn.add_termination_listener(lambda _c, _closed=closed: _closed.set())
            try:
                async with asyncio.timeout(5 * self.retry):  # a frozen server must not hold us here
                    for channel in self.channels:
                        await conn.add_listener(channel,
                                                lambda _c, _pid, ch, _payload: self._notified(ch, database))
                if not first:
                    # We may have missed notifications while disconnected: treat reconnection as a change.
                    for channel in self.channels:
                        self._notify(channel, database)
                first = False
                while not closed.is_set():
                    # A dead server is noticed by the periodic check even without a termination event.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), self.retry)
                    if not closed.is_set():
                        try:
                            await asyncio.wait_for(conn.execute("select 1"), self.retry)
                        except RETRYABLE:
                            closed.set()
            except RETRYABLE:
                pass
            except Exception:  # whatever it was, keep listening: a dead listener means stale replicas
                logger.exception("listener on %s failed; reconnecting", database)
            finally:
                # terminate, not close: close waits for the server, which may be frozen; it would
                # also hold up shutdown when this task is cancelled.
                conn.terminate()
                self._connections.discard(conn)
            first = False
            await asyncio.sleep(self.retry)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("change handler failed", exc_info=task.exception())
