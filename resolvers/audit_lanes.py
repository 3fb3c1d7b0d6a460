"""Lane leases: which lane of the audit trail a server process appends to (migration 0028).

A lease is a PostgreSQL session advisory lock (class 7309174, the lane) taken by ``audit_lease_lane`` on
a connection the process keeps for nothing else: when the process dies, its connection closes and the
server frees the lock, with no expiry to tune and no table to clean. Chosen over a leases table with a
heartbeat because a dead process must not hold its lane for a lease period, and a live one must not
lose it to a slow heartbeat.

The lease only spreads writers over lanes; correctness never depends on it. If the lease connection
drops (the region restarting), the process keeps appending to its lane and takes the lease back when
it reconnects, or another free lane if someone took it meanwhile (two writers on one lane in between
only rechain). Without any free lane, or before the region answers, the process writes lane 0 and asks
again every few seconds; where logins that are not the service's hold leases (any login can take an
advisory lock), it writes one of those lanes instead (see USURPED).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

import asyncpg

from govshare.federation.nodes import RETRYABLE

logger = logging.getLogger("govshare.audit")

LEASE = "select audit_lease_lane($1::integer)"
# The region's one checkpointer (server/checkpoints.py): a session lock on the lease connection as well, so
# a dead checkpointer's lock goes with its connection and another process's next round takes it over. Any
# login on the region's server can take an advisory lock (a department's database login, 0022), which would
# stop every interval checkpoint: held by a login that is not the service's (no member of govshare_service),
# the role counts as vacant and every process anchors (duplicates cost rows, gaps cost evidence).
CHECKPOINTER = """select pg_try_advisory_lock(7309176, 0) as taken,
    exists (select from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.locktype = 'advisory' and l.classid = 7309176 and l.objid = 0 and l.objsubid = 2 and l.granted
              and l.database = (select d.oid from pg_database d where d.datname = current_database())
              and not pg_has_role(a.usesysid, 'govshare_service', 'member')) as usurped"""
# Lanes whose lease a login that is not the service's holds (any login can take an advisory lock, e.g. a
# department's database login): nobody appends to them, so a process that finds no lane free writes one of
# those (two writers on a lane only rechain) instead of crowding lane 0 with every other process.
USURPED = """select l.objid::integer as lane from pg_locks l join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.classid = 7309174 and l.objsubid = 2 and l.granted
      and l.objid between 1 and 63
      and l.database = (select d.oid from pg_database d where d.datname = current_database())
      and not pg_has_role(a.usesysid, 'govshare_service', 'member')
    order by 1"""
RETRY_SECONDS = 2.0


class LaneLease:
    """The lane this process holds, kept on a connection of its own while the process lives."""

    def __init__(self, dsn: str, on_lane: Callable[[int], None], *, retry: float = RETRY_SECONDS) -> None:
        self.dsn = dsn
        self.on_lane = on_lane
        self.retry = retry
        self.lane = 0
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._checkpointer: asyncpg.Connection | None = None  # the lease connection holding the checkpointer lock

    async def start(self, timeout: float) -> int:
        """Try once within ``timeout`` (lane 0 meanwhile), then keep the lease in the background."""
        try:
            async with asyncio.timeout(timeout):
                await self._take()
        except (TimeoutError, *RETRYABLE) as exc:  # type: ignore[misc]
            logger.warning("no audit lane leased yet (%s): writing lane 0 until the region answers",
                           type(exc).__name__)
            self._lost.set()
        self._task = asyncio.create_task(self._keep())
        return self.lane

    async def _take(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=5,
                                     server_settings={"application_name": "govshare audit lane"})
        try:
            lane = int(await conn.fetchval(LEASE, self.lane))
            usurped = [] if lane else [int(r["lane"]) for r in await conn.fetch(USURPED)]
        except BaseException:
            conn.terminate()
            raise
        if lane == 0:  # none free: keep the lane written so far (0 at first), ask again later
            await conn.close(timeout=5)
            self._lost.set()
            if usurped and self.lane not in usurped:
                # Lanes held by logins that append nothing: write one of them (unlocked; spread by process)
                # rather than all on lane 0. Asked again later: preferred then, taken once it is let go.
                lane = usurped[os.getpid() % len(usurped)]
                logger.warning("audit lanes held by logins that are not the service's: writing lane %d", lane)
                self.lane = lane
                self.on_lane(lane)
            return
        self._conn = conn
        self._lost.clear()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        if lane != self.lane:
            logger.info("audit lane %d leased", lane)
            self.lane = lane
            self.on_lane(lane)

    async def _keep(self) -> None:
        while True:
            await self._lost.wait()
            await asyncio.sleep(self.retry)
            try:
                async with asyncio.timeout(10):
                    await self._take()
            except (TimeoutError, *RETRYABLE) as exc:  # type: ignore[misc]
                logger.warning("audit lane lease not taken back yet: %s", type(exc).__name__)

    async def checkpointer(self) -> bool | None:
        """Whether this process is the region's checkpointer (taking the role if it is free); None when it
        holds no lease connection to tell (then it anchors anyway: duplicates cost rows, gaps cost evidence)."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return None
        if self._checkpointer is conn:
            return True
        try:
            async with asyncio.timeout(10):
                row = await conn.fetchrow(CHECKPOINTER)
        except (TimeoutError, *RETRYABLE):  # type: ignore[misc]
            return None
        if row is not None and row["taken"]:
            self._checkpointer = conn
            logger.info("this process anchors the audit lanes' heads for the region")
            return True
        if row is not None and row["usurped"]:  # asked again next round: the lock may come free
            logger.warning("the audit checkpointer lock is held by a login that is not the service's: anchoring anyway")
            return True
        return False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            try:
                await self._conn.close(timeout=5)
            except Exception:  # closing frees the lane either way
                self._conn.terminate()
