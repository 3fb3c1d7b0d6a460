"""One asyncpg pool per node database, per-node timeouts, health probes and statement counting."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from core.errors import NodeUnavailable
from migrations.runner import current_version

from .topology import Topology

# Errors that mean "this node cannot answer now" (down, restarting, network), as opposed to a bug.
NODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
)
# Everything after which a retry later may succeed (used by loops that reconnect).
RETRYABLE: tuple[type[BaseException], ...] = (*NODE_ERRORS, TimeoutError, asyncpg.PostgresError)


@dataclass
class StatementLog:
    """Statements sent to nodes during one request; tests assert on it, metrics count it."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def record(self, database_node: str, name: str) -> None:
        self.entries.append((database_node, name))

    def count(self, name: str | None = None) -> int:
        return sum(1 for _, n in self.entries if name is None or n == name)


statement_log: contextvars.ContextVar[StatementLog | None] = contextvars.ContextVar(
    "statement_log", default=None)


@dataclass(frozen=True)
class NodeStatus:
    code: str
    database_node: str
    reachable: bool
    latency_ms: float | None
    migration_version: int | None
    error: str | None = None


async def keep_session(conn: asyncpg.Connection) -> None:
    """Release a pool connection without asyncpg's default reset round trip (RESET ALL, UNLISTEN *,
    advisory unlock, CLOSE ALL): that statement cost as much as the query it followed.

    Safe because pool connections carry no session state: they run single statements and managed
    transactions only (asyncpg still rolls back a transaction left open and drops listeners before
    calling this), advisory locks are transaction-scoped, and LISTEN and the migration runner's
    session lock use connections of their own.
    """


class NodePools:
    """Pools keyed by database node; hosted nodes resolve to their host's pool."""

    def __init__(self, topology: Topology, *, timeout: float | None = None,
                 min_size: int = 0, max_size: int = 10) -> None:
        self.topology = topology
        self.timeout = topology.timeout_seconds if timeout is None else timeout
        self._min_size = min_size
        self._max_size = max_size
        self._pools: dict[str, asyncpg.Pool] = {}

    async def open(self) -> None:
        # min_size=0: the service starts even when a node is down; /readyz reports it.
        async def create(code: str, dsn: str) -> tuple[str, asyncpg.Pool]:
            pool = await asyncpg.create_pool(
                dsn, min_size=self._min_size, max_size=self._max_size,
                # Filters vary per request: a cached generic plan could ignore the trigram index.
                server_settings={"application_name": "govshare", "statement_timeout": "30s",
                                 "plan_cache_mode": "force_custom_plan"},
                reset=keep_session,
            )
            return code, pool

        missing = [n.code for n in self.topology.databases if not n.dsn]
        if missing:
            raise NodeUnavailable(missing[0], "no DSN configured")
        created = await asyncio.gather(*(create(n.code, n.dsn or "") for n in self.topology.databases))
        self._pools = dict(created)

    async def close(self) -> None:
        pools, self._pools = self._pools, {}
        await asyncio.gather(*(p.close() for p in pools.values()), return_exceptions=True)

    def pool(self, node_code: str) -> asyncpg.Pool:
        return self._pools[self.topology.node(node_code).database_node]

    async def fetch(self, database_node: str, name: str, sql: str, *args: Any,
                    timeout: float | None = None) -> list[asyncpg.Record]:
        """Run one named statement on one database, within the per-node timeout."""
        log = statement_log.get()
        if log is not None:
            log.record(database_node, name)
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await self._pools[database_node].fetch(sql, *args)
        except TimeoutError as exc:
            raise NodeUnavailable(database_node, f"no answer within {limit:g} s") from exc
        except NODE_ERRORS as exc:
            raise NodeUnavailable(database_node, type(exc).__name__) from exc

    async def fetch_each(self, databases: Sequence[str], name: str, sql: str, *args: Any
                         ) -> dict[str, list[asyncpg.Record] | NodeUnavailable]:
        """The same statement on several databases at once; a failed node yields its error."""
        async def one(db: str) -> list[asyncpg.Record] | NodeUnavailable:
            try:
                return await self.fetch(db, name, sql, *args)
            except NodeUnavailable as exc:
                return exc

        results = await asyncio.gather(*(one(db) for db in databases))
        return dict(zip(databases, results, strict=True))

    async def probe(self, database_node: str) -> NodeStatus:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._pools[database_node].acquire() as conn:
                    version = await current_version(conn)  # type: ignore[arg-type]
        except (TimeoutError, *NODE_ERRORS) as exc:  # type: ignore[misc]
            reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            return NodeStatus(database_node, database_node, False, None, None, reason)
        latency = (time.perf_counter() - started) * 1000
        return NodeStatus(database_node, database_node, True, round(latency, 2), version)

    async def probe_all(self) -> dict[str, NodeStatus]:
        """Status of every node (hosted nodes report their host's database)."""
        statuses = await asyncio.gather(*(self.probe(n.code) for n in self.topology.databases))
        by_db = {s.database_node: s for s in statuses}
        return {
            node.code: NodeStatus(node.code, node.database_node, by_db[node.database_node].reachable,
                                  by_db[node.database_node].latency_ms,
                                  by_db[node.database_node].migration_version,
                                  by_db[node.database_node].error)
            for node in self.topology.nodes
        }
