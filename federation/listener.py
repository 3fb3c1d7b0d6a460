"""LISTEN on every node database, with reconnection: changes made anywhere reach every replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg

from .answers import LimitedConnection
from .nodes import RETRYABLE
from .topology import Topology

logger = logging.getLogger("govshare.listener")
Callback = Callable[[str, str], Awaitable[None]]  # (channel, database node)
T = TypeVar("T")
# What a database's owner can make every worker do by NOTIFY: one catalog re-read a second (per database in
# the listener, and for all of them together in the schema's refresh, server/app.py).
CATALOG_REFRESH_INTERVAL = 1.0


@dataclass
class _Flight:
    """One (channel, database)'s handler: the run scheduled or running, and whether a change came after it
    started (a trailing run is then owed)."""

    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None
    owed: bool = False
    started: float = float("-inf")  # loop time the last run started


class Listener:
    """One connection per database listening on ``channels``; ``on_change`` runs once per burst.

    ``only_from`` maps a channel to the one database whose NOTIFYs on it count: a channel announcing a
    change that can only happen there (the access rules, in the region's database) is not taken from any
    other server, whose owner could otherwise make every worker reload at will. A reconnection is the
    listener's own observation, not a server's word: it still counts as a change on every channel.

    Any database's owner can NOTIFY as often as it likes, so what a NOTIFY costs is bounded per (channel,
    database): ``on_change`` runs at most once at a time, starts at most once per ``min_interval`` seconds
    (and ``debounce`` after the first NOTIFY of a burst), and a NOTIFY that comes while it runs owes one more
    run after it (trailing edge), so that the last change is never lost: every change is followed by a run
    that starts after it.
    """

    def __init__(self, topology: Topology, channels: tuple[str, ...], on_change: Callback,
                 debounce: float = 0.05, retry: float = 1.0, only_from: dict[str, str] | None = None,
                 min_interval: float = CATALOG_REFRESH_INTERVAL) -> None:
        self.topology = topology
        self.channels = channels
        self.only_from = dict(only_from or {})
        self.on_change = on_change
        self.debounce = debounce
        self.retry = retry
        self.min_interval = min_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._flights: dict[tuple[str, str], _Flight] = {}
        self._stopped = False
        self._connections: set[asyncpg.Connection] = set()

    def start(self, stale: frozenset[str] = frozenset()) -> None:
        """Listen on every database; those in ``stale`` (not read at start) count as changed on first connect."""
        self._tasks = [asyncio.create_task(self._run(n.code, n.dsn or "", n.code in stale))
                       for n in self.topology.databases]

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop listening within ``timeout`` seconds, whatever state the servers are in."""
        self._stopped = True
        for flight in self._flights.values():
            if flight.timer is not None:
                flight.timer.cancel()
                flight.timer = None
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
        """A change on ``channel`` in ``database``: a run of ``on_change`` that starts after it is due."""
        if self._stopped:
            return
        flight = self._flights.setdefault((channel, database), _Flight())
        if flight.timer is not None:
            return  # the run already scheduled starts after this change
        if flight.task is not None:
            flight.owed = True  # the run in progress may have read before this change: one more after it
            return
        self._schedule(channel, database, flight)

    def _schedule(self, channel: str, database: str, flight: _Flight) -> None:
        loop = asyncio.get_running_loop()
        delay = max(self.debounce, flight.started + self.min_interval - loop.time())

        def fire() -> None:
            flight.timer = None
            flight.started = loop.time()
            flight.task = asyncio.ensure_future(self.on_change(channel, database))
            flight.task.add_done_callback(done)

        def done(task: asyncio.Task[None]) -> None:
            _log_failure(task)
            flight.task = None
            if flight.owed and not self._stopped:
                flight.owed = False
                self._schedule(channel, database, flight)

        flight.timer = loop.call_later(delay, fire)

    async def _run(self, database: str, dsn: str, stale: bool = False) -> None:
        first = not stale
        while True:
            try:
                conn = await asyncpg.connect(dsn, timeout=5, connection_class=LimitedConnection)
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


class SingleFlight(Generic[T]):
    """``work`` run at most once at a time for any number of callers, each run starting at least
    ``min_interval`` seconds after the one before. A caller joins the next run not yet started, or schedules
    one after the run in progress (a trailing run, shared by every caller that comes before it starts): so
    what a caller asks for is read by a run that starts after it asked, and a stream of callers costs at most
    one run per ``min_interval``."""

    def __init__(self, work: Callable[[], Awaitable[T]], min_interval: float = 0.0) -> None:
        self._work = work
        self.min_interval = min_interval
        self._running: asyncio.Task[T] | None = None
        self._next: asyncio.Task[T] | None = None
        self._started = float("-inf")  # loop time the last run started
        self.runs = 0

    async def __call__(self) -> T:
        if self._next is None:
            self._next = asyncio.ensure_future(self._run(self._running))
            self._next.add_done_callback(_retrieved)
        return await asyncio.shield(self._next)

    async def _run(self, before: asyncio.Task[T] | None) -> T:
        loop = asyncio.get_running_loop()
        if before is not None:
            await asyncio.wait([before])
        delay = self._started + self.min_interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        me = asyncio.current_task()
        # From here on this run may have read before a caller's change: a new caller needs the next one.
        self._running, self._next = self._next, None
        self._started = loop.time()
        self.runs += 1
        try:
            return await self._work()
        finally:
            if self._running is me:
                self._running = None


def _retrieved(task: asyncio.Task[T]) -> None:
    """A run's failure is its callers' to handle; one whose callers all went away is not reported twice."""
    if not task.cancelled():
        task.exception()
