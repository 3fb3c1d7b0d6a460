"""One asyncpg pool per node database, health probes and statement counting.

Every exchange with a node (acquire, statement, release) runs under that node's deadline for the
current request. Whatever goes wrong while talking to one node (refused, killed mid-statement,
frozen, lock-blocked, asyncpg's own state errors) becomes a ``NodeUnavailable`` for that node only.
A connection whose statement did not finish in time is terminated, never waited on: asyncpg would
otherwise wait for the server to acknowledge the cancel, which a frozen server never does.
The budgets themselves are federation/deadlines.py; the DSN check before serving, federation/checks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import asyncpg

from govshare.core.errors import NodeUnavailable
from govshare.core.turns import Turns
from govshare.migrations.runner import current_version

from .answers import LimitedConnection
from .deadlines import RequestDeadlines, request_deadlines
from .topology import Topology

_PROXY: Any = getattr(asyncpg.pool, "PoolConnectionProxy", type(None))  # what asyncpg's pools hand out
_POOL: Any = asyncpg.Pool
# What _acquired_now and _released_now use of asyncpg's private layout (that of 0.32, pinned in pyproject).
_HOLDER_USES = ("_con", "_in_use", "_setup", "_generation", "_pool", "_maybe_cancel_inactive_callback", "_proxy",
                "_timeout", "_release", "_setup_inactive_callback", "_max_queries")
_POOL_USES = ("_queue", "_initialized", "_closing", "_closed", "_generation", "_loop", "_reset")
_CONNECTION_USES = ("_on_release", "_check_open", "_listeners", "_log_listeners", "_top_xact", "_protocol")
_PROXY_USES = ("_con", "_holder")


def _fits_fast_paths() -> bool:
    """Whether this asyncpg is the one the fast paths were written for (0.32) and has what they use: if not,
    every statement acquires and releases through asyncpg's own pool calls (checked once, at import)."""
    holder = getattr(asyncpg.pool, "PoolConnectionHolder", None)
    version = getattr(asyncpg, "__version__", "")
    return (version == "0.32" or version.startswith("0.32.")) and holder is not None \
        and _PROXY is not type(None) \
        and all(hasattr(holder, name) for name in _HOLDER_USES) and all(hasattr(_POOL, n) for n in _POOL_USES) \
        and all(hasattr(asyncpg.Connection, n) for n in _CONNECTION_USES) \
        and all(hasattr(_PROXY, n) for n in _PROXY_USES)


_fast = _fits_fast_paths()  # turned off for good, and logged, the first time a fast path meets the unexpected


def _unexpected(what: str, exc: Exception) -> None:
    global _fast
    if _fast:
        logger.warning("asyncpg is not laid out as federation/nodes.py expects (%s): statements acquire and "
                       "release through its pool from now on", what, exc_info=exc)
    _fast = False

logger = logging.getLogger("govshare.nodes")
T = TypeVar("T")

# Errors that mean "this node cannot answer now" (down, restarting, network), as opposed to a bug.
# Anything else raised while talking to a node also costs only that node's rows, but is logged.
NODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
)
# Every connection of the service resolves operators and functions in pg_catalog first (README, trust model).
PINNED_SEARCH_PATH = "pg_catalog, public, pg_temp"
# Everything after which a retry later may succeed (used by loops that reconnect).
RETRYABLE: tuple[type[BaseException], ...] = (*NODE_ERRORS, TimeoutError, asyncpg.PostgresError)
# A healthy connection is handed back within this many seconds, or it is terminated.
RELEASE_TIMEOUT = 1.0
# Readiness: a real statement on the table every catalog request reads (a lock on it blocks it).
READINESS = "select count(*) from (select 1 from resources limit 1) as probe"


class NodeObserver(Protocol):
    """Told of every exchange with a database; ``cause`` says why one failed (``failure_cause``)."""

    def __call__(self, database: str, seconds: float, answered: bool, cause: str | None = None) -> None: ...


def failure_cause(exc: BaseException, failure: NodeUnavailable | None = None) -> str:
    """One line for an operator: the exception's class, PostgreSQL's SQLSTATE and message (never the DSN:
    asyncpg puts no password in its messages, PostgreSQL names at most the role and the database)."""
    if isinstance(exc, TimeoutError) and failure is not None:
        return str(failure.extensions["reason"])  # "no answer within its timeout" or the request's
    name = type(exc).__name__
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None)
        message = getattr(exc, "message", None) or str(exc)
        text = f"{name} (SQLSTATE {sqlstate}): {message}" if sqlstate else f"{name}: {message}"
    else:
        text = f"{name}: {exc}" if str(exc) else name
    text = " ".join(text.split())  # one log line
    return text if len(text) <= 300 else text[:299] + "…"


@dataclass
class StatementLog:
    """Statements sent to nodes during one request; tests assert on it, metrics count it."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def record(self, database_node: str, name: str) -> None:
        self.entries.append((database_node, name))

    def count(self, name: str | None = None) -> int:
        if name is None:
            return len(self.entries)
        return sum(1 for _, n in self.entries if n == name)


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


# For one transaction only: the session keeps PostgreSQL's default plan cache mode.
CUSTOM_PLANS = "set local plan_cache_mode = force_custom_plan"
GENERIC_MODE = "force_generic_plan"
# Statements planned once per connection (generic plans), run on a second pool per database whose sessions
# force them. PostgreSQL's own choice keeps planning these anew at every execution: a page's "limit $n" is
# costed at a tenth of the table in a generic plan, a lookup's "= any($1)" at ten values, so the generic plan
# never looks as cheap as a custom one, though it is the same plan (tests/federation/test_generic_plans.py).
# Planning cost the node's server more than running them: ~0.08 ms for a data page, ~0.2 ms for a resource
# with its provider and items (executing it: 0.06 ms). Only statements whose generic plan was checked are
# here: others filter with "($n is null or column = $n)", which a generic plan cannot use an index for.
GENERIC_PLANS = frozenset({"data.page", "data.count", "resources.by_code", "resources.details_by_code",
                           "resources.plain_page"})
# Binding this many list values costs a millisecond or more (asyncpg checks every element): such a
# statement's send is a heavy step and takes a turn of the loop (core/turns.py).
HEAVY_ARGUMENT_VALUES = 500


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
        self._generic: dict[str, asyncpg.Pool] = {}  # the same databases, for GENERIC_PLANS statements
        self._releases: set[asyncio.Task[None]] = set()
        # Told of every exchange with a database: (database, seconds, answered); the app's metrics.
        self.observer: NodeObserver | None = None
        # Heavy steps of every request in this process take turns of the loop (core/turns.py).
        self.turns = Turns()

    async def open(self) -> dict[str, NodeStatus]:
        """Create every pool without connecting, then warm the ones that answer.

        Never fails because a node is down: the service starts with the nodes that answer, /readyz
        reports the others, and their pools connect on first use once they are back. Returns the
        status of every database after warming.
        """
        missing = [n.code for n in self.topology.databases if not n.dsn]
        if missing:
            raise NodeUnavailable(missing[0], "no DSN configured")
        # Per database: max_size connections under PostgreSQL's own plan choice for every statement, and up to
        # max_size // 2 more that force generic plans, for GENERIC_PLANS statements only (docs/DEPLOYMENT.md
        # counts them). Those go to the first pool when the second one's connections are all busy: they never
        # queue for the smaller pool. Splitting max_size between the two instead made the other statements
        # queue (a catalog page: +6% CPU per request at 8 concurrent).
        generic = self._max_size // 2
        for node in self.topology.databases:
            self._pools[node.code] = await self._create_pool(node.dsn or "", self._max_size, {})
            if generic:  # connects only when a GENERIC_PLANS statement first runs on this database
                self._generic[node.code] = await self._create_pool(node.dsn or "", generic,
                                                                   {"plan_cache_mode": GENERIC_MODE})
        return dict(zip(self._pools, await asyncio.gather(*(self._warm(db) for db in self._pools)), strict=True))

    @staticmethod
    async def _create_pool(dsn: str, max_size: int, settings: dict[str, str]) -> asyncpg.Pool:
        # init_size=0: creating the pool does no I/O, so a down (or frozen) node cannot stop us.
        return await asyncpg.create_pool(
            dsn, init_size=0, min_size=0, max_size=max_size,
            # PostgreSQL's own plan cache choice (generic plans once they cost no more than custom ones)
            # unless the statement is one of GENERIC_PLANS (the other pool). Keyword searches ask for custom
            # plans (custom_plans=True). search_path pinned: operators and functions resolve in pg_catalog
            # first, whatever the node's owner sets for the login (rows are still checked in the service:
            # resolvers/hosting.py)
            server_settings={"application_name": "govshare", "statement_timeout": "30s",
                             "search_path": PINNED_SEARCH_PATH, **settings},
            reset=keep_session,
            # what the server sends is size-limited before asyncpg reads it (federation/answers.py)
            connection_class=LimitedConnection,
        )

    async def _warm(self, database_node: str) -> NodeStatus:
        """Open up to ``min_size`` connections to one database (probing it with the first)."""
        status = await self.probe(database_node)
        if not status.reachable:
            logger.warning("node %s is not reachable at start (%s): serving without it until it answers",
                           database_node, status.error)
            return status
        if self._min_size > 1:
            await asyncio.gather(*(self._run(database_node, "warm", _select_one, None)
                                   for _ in range(self._min_size - 1)), return_exceptions=True)
        return status

    async def close(self, timeout: float = 5.0) -> None:
        """Close every pool, waiting at most ``timeout`` seconds; connections still busy are terminated."""
        pools = [*self._pools.values(), *self._generic.values()]
        self._pools, self._generic = {}, {}
        if self._releases:  # each is bounded by RELEASE_TIMEOUT
            await asyncio.wait(list(self._releases), timeout=min(timeout, 2 * RELEASE_TIMEOUT))

        async def one(pool: asyncpg.Pool) -> None:
            try:
                async with asyncio.timeout(timeout):
                    await pool.close()
            except (TimeoutError, Exception):
                pool.terminate()

        await asyncio.gather(*(one(p) for p in pools))

    def pool(self, node_code: str) -> asyncpg.Pool:
        return self._pools[self.topology.node(node_code).database_node]

    def usage(self) -> dict[str, tuple[int, int, int]]:
        """(open, idle, maximum) connections to each database in this process (both of its pools)."""
        found: dict[str, tuple[int, int, int]] = {}
        for db, pool in self._pools.items():
            both = [pool, self._generic[db]] if db in self._generic else [pool]
            found[db] = (sum(p.get_size() for p in both), sum(p.get_idle_size() for p in both),
                         sum(p.get_max_size() for p in both))
        return found

    def _deadline(self, database_node: str, timeout: float | None) -> tuple[float, RequestDeadlines | None]:
        deadlines = request_deadlines.get()
        if timeout is None and deadlines is not None:
            failed = deadlines.failed.get(database_node)
            if failed is not None:
                raise NodeUnavailable(database_node, failed.extensions["reason"])
            return deadlines.begin(database_node), deadlines
        limit = self.timeout if timeout is None else timeout
        return asyncio.get_running_loop().time() + limit, None

    async def _run(self, database_node: str, name: str, operation: Callable[[asyncpg.Connection], Awaitable[T]],
                   timeout: float | None, generic: bool = False) -> T:
        """Acquire, run ``operation`` and release on one database, all before one deadline (on the pool
        whose sessions force generic plans when ``generic``)."""
        deadline, deadlines = self._deadline(database_node, timeout)
        pool = self._generic.get(database_node) if generic else None
        conn: Any = None
        started = time.perf_counter()
        try:
            if pool is not None:  # within the try: whatever it raises is this node's failure
                conn = _acquired_now(pool)
                if conn is None and pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size():
                    pool = None  # all of its connections are busy: overflow to the usual pool, never queue
            if pool is None:
                pool = self._pools[database_node]
            async with asyncio.timeout_at(deadline):
                if conn is None:
                    conn = _acquired_now(pool) or await pool.acquire()
                result = await operation(conn)
        except BaseException as exc:
            if conn is not None:
                # Its state is unknown (cancelled mid-statement, server gone): never reuse or wait on it.
                _terminate(conn)
            if not isinstance(exc, Exception):
                raise  # cancellation of the request itself
            failure = self._failure(database_node, name, exc, deadline, deadlines)
            if self.observer is not None and not _unsendable(exc):
                self.observer(database_node, time.perf_counter() - started, False, failure_cause(exc, failure))
            if deadlines is not None:
                deadlines.failed[database_node] = failure
            raise failure from exc
        finally:
            if deadlines is not None:
                deadlines.end(database_node)
        if self.observer is not None:
            self.observer(database_node, time.perf_counter() - started, True)
        if not _released_now(conn):
            self._release_later(pool, conn)
        return result

    @staticmethod
    def _failure(database_node: str, name: str, exc: Exception, deadline: float,
                 deadlines: RequestDeadlines | None) -> NodeUnavailable:
        if isinstance(exc, TimeoutError):
            if deadlines is not None and deadline >= deadlines.request_deadline:
                return NodeUnavailable(database_node, "request deadline exceeded")
            return NodeUnavailable(database_node, "no answer within its timeout")
        if isinstance(exc, NodeUnavailable):
            return exc
        if _unsendable(exc):
            # A check before the statement missed this value: a human should look, at the input's checks.
            logger.warning("a value of %s could not be sent to node %s", name, database_node, exc_info=exc)
            return NodeUnavailable(database_node, "a value of the request could not be sent to it (DataError)")
        if isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, NODE_ERRORS):
            # PostgreSQL refused the statement (privileges still being granted during a restore, a value it
            # cannot take): its SQLSTATE and message say why, a Python traceback would add nothing.
            logger.warning("node %s failed on %s: %s", database_node, name, failure_cause(exc))
        elif not isinstance(exc, NODE_ERRORS):
            # Not a known outage: still only this node's rows are lost, but a human should look.
            logger.warning("node %s failed on %s with an unexpected error", database_node, name, exc_info=exc)
        return NodeUnavailable(database_node, type(exc).__name__)

    def _release_later(self, pool: asyncpg.Pool, conn: Any) -> None:
        """Hand a connection back without making the request wait for the reset round trip."""
        async def release() -> None:
            try:
                # release(timeout=) bounds asyncpg's wait for a pending cancel and the reset; the outer
                # limit is a guard only (cancelling it would orphan asyncpg's shielded release).
                async with asyncio.timeout(2 * RELEASE_TIMEOUT):
                    await pool.release(conn, timeout=RELEASE_TIMEOUT)
            except BaseException:
                _terminate(conn)  # a server that cannot reset a connection in time will not get it back
                raise

        task = asyncio.get_running_loop().create_task(release())
        self._releases.add(task)
        task.add_done_callback(_forget(self._releases))

    async def fetch(self, database_node: str, name: str, sql: str, *args: Any,
                    timeout: float | None = None, custom_plans: bool = False) -> list[asyncpg.Record]:
        """Run one named statement on one database, within that node's deadline for this request.

        ``custom_plans``: plan this execution for its own values (a keyword search, whose pattern decides
        whether the trigram index pays: a cached generic plan could ignore it), in a transaction of its own.
        """
        log = statement_log.get()
        if log is not None:
            log.record(database_node, name)

        heavy = _list_values(args) >= HEAVY_ARGUMENT_VALUES

        if custom_plans:
            async def custom(conn: asyncpg.Connection) -> list[asyncpg.Record]:
                async with conn.transaction(readonly=True):
                    await conn.execute(CUSTOM_PLANS)
                    if heavy:
                        await self.turns.take()
                    return await conn.fetch(sql, *args)

            return await self._run(database_node, name, custom, timeout)

        async def statement(conn: asyncpg.Connection) -> list[asyncpg.Record]:
            if heavy:
                await self.turns.take()  # encoding the lists is this step's work (once prepared here)
            return await conn.fetch(sql, *args)

        return await self._run(database_node, name, statement, timeout, name in GENERIC_PLANS)

    async def run(self, database_node: str, name: str, operation: Callable[[asyncpg.Connection], Awaitable[T]],
                  timeout: float | None = None) -> T:
        """Run ``operation`` (several statements on one connection, e.g. a transaction) on one database, as
        one named statement within that node's deadline (its connection never reused if it fails)."""
        log = statement_log.get()
        if log is not None:
            log.record(database_node, name)
        return await self._run(database_node, name, operation, timeout)

    async def fetch_each(self, databases: Sequence[str], name: str, sql: str, *args: Any,
                         custom_plans: bool = False) -> dict[str, list[asyncpg.Record] | NodeUnavailable]:
        """The same statement on several databases at once; a failed node yields its error."""
        async def one(db: str) -> list[asyncpg.Record] | NodeUnavailable:
            try:
                return await self.fetch(db, name, sql, *args, custom_plans=custom_plans)
            except NodeUnavailable as exc:
                return exc

        results = await asyncio.gather(*(one(db) for db in databases))
        return dict(zip(databases, results, strict=True))

    async def probe(self, database_node: str) -> NodeStatus:
        """Readiness of one database: a real statement answered within the node timeout."""
        started = time.perf_counter()

        async def check(conn: asyncpg.Connection) -> int:
            version = await current_version(conn)
            if version > 0:
                await conn.fetchval(READINESS)
            return version

        try:
            version = await self._run(database_node, "probe", check, self.timeout)
        except NodeUnavailable as exc:
            return NodeStatus(database_node, database_node, False, None, None, exc.extensions["reason"])
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


def _unsendable(exc: BaseException) -> bool:
    """A value asyncpg could not encode for the statement (e.g. a date-time beyond year 9999 in UTC): its
    DataError raised before anything is sent (a server's data exception carries the server's severity). The
    request's fault, not the node's: the node is not counted as failing (no govshare_node_up 0, no "stopped
    answering"), and the request still loses only that node's rows."""
    return isinstance(exc, asyncpg.DataError) and getattr(exc, "severity", None) is None


def _acquired_now(pool: Any) -> Any:
    """An idle, connected connection of ``pool``, taken as asyncpg's Pool.acquire takes it (its holder out
    of the pool's queue, its inactivity timer stopped, a new proxy, the in-use future that the pool's close
    waits on), without the acquire's three coroutines and the queue's getter (a statement's acquire and
    release cost twice its own execution in CPU). None, with nothing changed, when no connection is idle
    and connected or this asyncpg does not look as expected: the caller then acquires through the pool,
    which connects or queues."""
    if not _fast or type(pool) is not _POOL:
        return None
    try:
        if not pool._initialized or pool._closing or pool._closed:
            return None
        queue = pool._queue
        if queue.empty():
            return None
    except Exception as exc:
        _unexpected("its pool", exc)
        return None
    holder = queue.get_nowait()
    try:
        con = holder._con
        if con is None or con.is_closed() or holder._in_use is not None or holder._setup is not None \
                or holder._generation != pool._generation or holder._pool is not pool:
            queue.put_nowait(holder)  # back on top: the pool's own acquire takes it next and connects it
            return None
        holder._maybe_cancel_inactive_callback()
        proxy = _PROXY(holder, con)
        in_use = pool._loop.create_future()
        holder._proxy, holder._in_use, holder._timeout = proxy, in_use, None
    except Exception as exc:  # never lose the holder: back in the queue, as it was, for the pool's acquire
        with contextlib.suppress(Exception):
            holder._proxy = holder._in_use = None
        queue.put_nowait(holder)
        _unexpected("a connection's holder", exc)
        return None
    return proxy


def _released_now(conn: Any) -> bool:
    """Hand an idle connection back at once, when releasing it needs no round trip: what asyncpg's
    Pool.release does (the connection's release hook, its reset, which our keep_session makes a check
    only, the holder's release and its inactivity timer rearmed), without the two tasks and the timer of a
    background release (~25 us per statement, 36 statements in a federated catalog page) and without the
    timeout, the timer and the coroutines of asyncpg's release, all there for a reset that would wait on the
    server. False (nothing done) when it would wait on the server (a transaction to roll back, a cancel in
    flight) or when this asyncpg does not look as expected: the caller then releases in the background as
    before."""
    if not _fast or type(conn) is not _PROXY:
        return False
    try:
        # Attributes read directly, no getattr call for each (12 of a one-row request's Python calls): the
        # layout was checked at import (_fits_fast_paths); a missing one is the unexpected below.
        con, holder = conn._con, conn._holder
        if con is None or holder is None:  # a proxy already detached from its connection
            return False
        protocol, pool = con._protocol, holder._pool
        if protocol is None or pool is None \
                or pool._reset is not keep_session or con.is_closed() or holder._in_use is None \
                or conn.is_in_transaction() or con._top_xact is not None \
                or protocol._is_cancelling() or protocol.queries_count >= holder._max_queries \
                or holder._generation != pool._generation:  # the last two close the connection: a round trip
            return False
    except Exception as exc:  # nothing changed yet: the pool's own release hands it back
        _unexpected("a connection's release", exc)
        return False
    try:
        con._on_release()
        holder._timeout = None
        # Connection._reset without its awaits: nothing to roll back (checked above); listeners dropped.
        con._check_open()
        con._listeners.clear()
        con._log_listeners.clear()
        holder._release()
        holder._setup_inactive_callback()
    except Exception as exc:  # never reuse a connection in an unknown state: closed, and back to the pool
        _unexpected("a connection's release", exc)
        with contextlib.suppress(Exception):
            con.terminate()
        # Not yet handed back: the pool's own release takes a closed connection's holder back (and
        # connects it again when next acquired), so the pool never has one connection less.
        return getattr(holder, "_in_use", None) is None
    return True


def _terminate(conn: Any) -> None:
    # A connection closed by the server has already gone back to its pool, and its proxy refuses
    # every call: there is nothing left to terminate then.
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


async def _select_one(conn: asyncpg.Connection) -> None:
    await conn.execute("select 1")


def _forget(tasks: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("connection release failed; connection terminated", exc_info=task.exception())
    return done


# Argument types that are never lists: told apart by their class alone, without an isinstance call each.
_SCALARS = frozenset({str, int, float, bool, bytes, type(None)})


def _list_values(args: tuple[Any, ...]) -> int:
    """How many values a statement's list arguments hold."""
    values = 0
    for arg in args:
        kind = arg.__class__
        if kind is list or kind is tuple or (kind not in _SCALARS and isinstance(arg, list | tuple)):
            values += len(arg)
    return values
