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
    """One connection per database listening on ``channels``; ``on_change`` runs once per burst."""

    def __init__(self, topology: Topology, channels: tuple[str, ...], on_change: Callback,
                 debounce: float = 0.05, retry: float = 1.0) -> None:
        self.topology = topology
        self.channels = channels
        self.on_change = on_change
        self.debounce = debounce
        self.retry = retry
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[tuple[str, str], asyncio.TimerHandle] = {}

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(n.code, n.dsn or "")) for n in self.topology.databases]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for handle in self._pending.values():
            handle.cancel()

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

    async def _run(self, database: str, dsn: str) -> None:
        first = True
        while True:
            try:
                conn = await asyncpg.connect(dsn, timeout=5)
            except RETRYABLE:
                await asyncio.sleep(self.retry)
                continue
            closed = asyncio.Event()
            conn.add_termination_listener(lambda _c, _closed=closed: _closed.set())
            try:
                for channel in self.channels:
                    await conn.add_listener(channel, lambda _c, _pid, ch, _payload: self._notify(ch, database))
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
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 1)
            first = False
            await asyncio.sleep(self.retry)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("change handler failed", exc_info=task.exception())
