"""The starlette application: routes, lifespan (one pool per node database), schema holder."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from govshare.core.callers import Caller
from govshare.core.errors import NodeUnavailable
from govshare.core.settings import Settings
from govshare.federation.deadlines import RequestDeadlines, request_deadlines
from govshare.federation.listener import CATALOG_REFRESH_INTERVAL, Listener, SingleFlight
from govshare.federation.nodes import RETRYABLE, NodePools
from govshare.federation.topology import Topology
from govshare.policies.authority import AuthorityModel
from govshare.policies.cached_grants import CachedGrants, read_access_version
from govshare.policies.decisions import PolicyEngine
from govshare.policies.ratelimits import LEASE, SharedRateLimiter
from govshare.policies.workdays import WorkCalendar
from govshare.resolvers import audit, exchange_links, exchanges
from govshare.resolvers.audit_lanes import LaneLease
from govshare.resolvers.context import Context, read_grants
from govshare.resolvers.exchange_runs import RunEnv
from govshare.resolvers.groups import load_memberships

from .access_sweeps import AccessSweeper
from .admission import Admission, AdmissionMiddleware
from .assets import favicon, static_files
from .checkpoints import Checkpointer, audit_key, checkpoint_file, seal_audit_trail
from .console import console_page
from .departments import KnownDepartments
from .exchanges import Downloads, ExchangeRunner, owner_id
from .graphql_http import GraphQLEndpoint
from .health import healthz, readyz
from .identity import Authenticator
from .limits import Limits
from .logs import RequestContext
from .metrics import Metrics
from .schemas import SchemaHolder

logger = logging.getLogger("govshare.app")
GC_YOUNG_THRESHOLD = 20_000
# The methods the /graphql route accepts (HEAD comes with GET): those go straight to the endpoint, which
# serves GET and POST and refuses the others with its own 405 naming only those two (OPTIONS included: a
# CORS preflight, when origins are configured, is answered by the CORS layer before the endpoint).
GRAPHQL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Service(Starlette):
    """The application, with /graphql dispatched from its outermost callable: the same middleware
    (request id and access line, CORS, admission control) around the endpoint, without starlette's
    error and exception middlewares and router in between (the endpoint answers every request itself;
    RequestContext masks an unexpected exception as starlette's error middleware would). Everything else,
    other methods on /graphql included, goes through starlette as before."""

    graphql: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (scope["type"] == "http" and scope["path"] == "/graphql" and scope["method"] in GRAPHQL_METHODS
                and not scope.get("root_path") and self.graphql is not None):
            scope["app"] = self
            await self.graphql(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _QuietStrawberry(logging.Filter):
    """strawberry logs a traceback for every GraphQL error; we log unexpected ones ourselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def create_app(settings: Settings, topology: Topology) -> Service:
    logging.getLogger("strawberry.execution").addFilter(_QuietStrawberry())
    pools = NodePools(topology, timeout=settings.node_timeout, min_size=settings.pool_min_size,
                      max_size=settings.pool_max_size)
    schemas = SchemaHolder()
    authenticator = Authenticator(settings)
    limiter, budget = _rate_limiters(settings, pools)
    # Until the rules load, the engine has none: every decision is a denial (fail closed).
    engine = PolicyEngine.empty(topology.region.code)
    calendar = WorkCalendar.load(settings.workdays_file)

    # Grants by department and resource, checked against the access version by every audit append.
    grant_cache = CachedGrants(lambda department, resources: read_grants(pools, department, resources))
    reloading: list[asyncio.Task[None]] = []

    async def engine_at_least(version: int) -> PolicyEngine:
        """The engine, reloaded first when a request met a newer access version than it was loaded at
        (before the NOTIFY arrived); requests that wait for the same reload share it."""
        for _attempt in range(3):
            if (app.state.engine.version or 0) >= version:
                break
            if not reloading or reloading[0].done():
                # Not the request's own work: its statement log and node deadlines stay out of it.
                reloading[:] = [asyncio.create_task(reload_policy(), context=contextvars.Context())]
            try:
                async with asyncio.timeout(settings.node_timeout):
                    await asyncio.shield(reloading[0])
            except NodeUnavailable:
                raise
            except (TimeoutError, *RETRYABLE) as exc:  # type: ignore[misc]
                # The request fails closed (no record, no data); a reload still running goes on.
                raise NodeUnavailable(topology.region.code, "access rules could not be reloaded") from exc
        return app.state.engine  # type: ignore[no-any-return]

    def make_context(caller: Caller, request_id: str) -> Context:
        return Context(caller=caller, pools=pools, request_id=request_id, engine=app.state.engine,
                       limiter=limiter, authority_model=app.state.authority, calendar=calendar,
                       specs=schemas.current.specs, catalog_findings=schemas.current.findings,
                       grant_cache=grant_cache, engines=engine_at_least)

    metrics = Metrics()
    admission = Admission(settings.max_in_flight, settings.max_queue, settings.queue_timeout,
                          on_refuse=lambda: metrics.count(metrics.admission_refused))
    departments = KnownDepartments(pools)
    endpoint = GraphQLEndpoint(lambda: schemas.current.schema, authenticator, make_context, metrics,
                               Limits.from_settings(settings), departments, budget)

    async def refresh_schema() -> None:
        metrics.count(metrics.catalog_refreshes)
        if await schemas.refresh(pools):
            metrics.count(metrics.schema_swaps)

    # A schema refresh reads every database's catalog, whichever database announced the change: one at a
    # time for all of them, at most one per CATALOG_REFRESH_INTERVAL, the last change always read by a run
    # that starts after it (the listener bounds each database's NOTIFYs the same way).
    refresh_catalog = SingleFlight(refresh_schema, CATALOG_REFRESH_INTERVAL)

    async def on_change(channel: str, database: str) -> None:
        if channel == "govshare_catalog":
            await refresh_catalog()
            await departments.refresh([database])
        elif channel == "govshare_policy":
            # Rules live in the region's database (the listener takes this channel from no other); a
            # prefecture's event is its listener reconnecting, after which its departments (group
            # memberships) can be read again.
            await reload_policy()

    async def reload_policy() -> None:
        # Read first: an engine never claims a newer version than the rules it holds.
        version = await read_access_version(pools.pool(topology.region.code))
        memberships = await load_memberships(pools)
        fresh = await PolicyEngine.load(pools.pool(topology.region.code), memberships)
        fresh.version = version
        authority = await AuthorityModel.load(pools.pool(topology.region.code), topology.region.code)
        for skipped in fresh.skipped:
            logger.error("access rule %d skipped (it cannot be loaded; fail closed): %s", skipped.id,
                         skipped.problem)
        # swapped whole: requests in flight keep the engine and roles they started with
        if (app.state.engine.version or 0) > version:
            return  # a reload that started later has already swapped in newer rules
        app.state.engine, app.state.authority = fresh, authority
        grant_cache.saw(version)
        metrics.count(metrics.policy_reloads)

    # Catalog changes (resources, data items, departments) come from every database; the access rules live
    # in the region's only, so no other server's NOTIFY reloads them.
    listener = Listener(topology, ("govshare_catalog", "govshare_policy"), on_change,
                        only_from={"govshare_policy": topology.region.database_node})
    key = audit_key(settings)
    # Export jobs (data exchange): run in the background of every process, files under the data dir.
    exchange_dir = settings.data_dir / "exchange"
    runner = ExchangeRunner(RunEnv(pools, lambda: app.state.engine, lambda: schemas.current.specs, exchange_dir,
                                   owner_id()))
    exchanges.install(pools, exchange_links.url_key(key), runner.wake)
    sweeper = AccessSweeper(pools)  # authorised database access of revoked or expired grants

    async def authenticate(header: str | None) -> Caller:
        caller = await authenticator.authenticate(header)
        await departments.check(caller.department)
        return caller

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Start with the nodes that answer: a node down (or frozen) at start is reported by /readyz and
        # read as soon as its listener connects (it counts as "changed" then).
        statuses = await pools.open()
        app.state.audit_trail = audit.install(pools, key)
        await seal_audit_trail(app.state.audit_trail, settings.node_timeout)
        # A lane of the audit trail of this process's own, so that workers do not rechain each other's batches.
        lane_lease = LaneLease(topology.node(topology.region.database_node).dsn or "", app.state.audit_trail.use_lane)
        app.state.audit_lane = lane_lease
        await lane_lease.start(timeout=settings.node_timeout)
        checkpointer = Checkpointer(app.state.audit_trail, checkpoint_file(settings),
                                    settings.audit_checkpoint_seconds, elect=lane_lease.checkpointer)
        checkpointer.start()
        app.state.checkpointer = checkpointer
        stale = {db for db, status in statuses.items() if not status.reachable}
        # Start-up reads run as one "request": a node that did not answer the warm-up (or fails now)
        # costs its timeout once at start, not once per step. Reset before the listener starts, whose
        # tasks would otherwise inherit it.
        startup = RequestDeadlines(settings.node_timeout, settings.request_timeout)
        startup.failed.update((db, NodeUnavailable(db, statuses[db].error or "unreachable")) for db in stale)
        token = request_deadlines.set(startup)
        region = topology.region.database_node
        if region in stale:
            logger.warning("policy rules not loaded (region database unavailable): denying all until it is back")
        else:
            try:
                async with asyncio.timeout(settings.request_timeout):
                    await reload_policy()
            except (NodeUnavailable, *RETRYABLE):  # type: ignore[misc]
                logger.warning("policy rules not loaded (region database unavailable): denying all until it is back")
                stale.add(region)

        async def read_catalog() -> None:
            try:
                async with asyncio.timeout(settings.request_timeout):
                    if await schemas.refresh(pools):
                        metrics.count(metrics.schema_swaps)
            except (NodeUnavailable, *RETRYABLE):  # type: ignore[misc]
                logger.warning("catalog not fully read at start: the schema is rebuilt as nodes answer")
                stale.update(db.code for db in topology.databases)

        # Concurrently (departments: a database that does not answer keeps no codes and is retried on
        # demand).
        try:
            await asyncio.gather(read_catalog(), departments.refresh())
        finally:
            request_deadlines.reset(token)
        listener.start(frozenset(stale))
        runner.start()  # after the catalog was read: a job needs its resource's spec
        metrics.start()
        sweeper.start()
        # What start-up built lives as long as the process: keep it out of the collector's full passes,
        # which otherwise held the event loop ~60 ms at a time under large answers (test_event_loop.py).
        gc.collect()
        gc.freeze()
        # Young collections every 700 allocations cost ~7% of a small request's CPU (py-spy); every
        # 20,000 they cost little, and each still scans only the young objects (a few ms at most).
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
        try:
            yield
        finally:
            # Every step bounded: a frozen node must not hold the process at shutdown.
            await listener.stop(timeout=settings.node_timeout)
            await runner.stop(timeout=settings.node_timeout)
            await metrics.stop()
            await sweeper.stop()
            await checkpointer.stop()  # bounded: the final checkpoint gets a few seconds at most
            await lane_lease.stop()
            await pools.close(timeout=settings.node_timeout)

    async def root(request: Request) -> Response:
        return RedirectResponse("/graphql")

    middleware = [
        # outermost: every log line of a request carries its id, every answer its X-Request-Id
        Middleware(RequestContext),
        *_cors(settings),
        Middleware(AdmissionMiddleware, admission=admission,
                   node_timeout=settings.node_timeout, request_timeout=settings.request_timeout)]
    app = Service(
        routes=[
            Route("/", root),
            Route("/graphql", endpoint, methods=sorted(GRAPHQL_METHODS)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics.endpoint),
            Route("/exchange/{job}", Downloads(pools, exchange_dir, exchange_links.url_key(key), authenticate).endpoint,
                  methods=["GET"]),
            Mount("/static", static_files(), name="static"),
            Route("/console", console_page),
            Route("/favicon.ico", favicon),
        ],
        lifespan=lifespan,
        middleware=middleware,
    )
    graphql: Any = endpoint
    for cls, args, kwargs in reversed(middleware):  # as starlette stacks them
        graphql = cls(graphql, *args, **kwargs)
    app.graphql = graphql
    app.state.pools = pools
    pools.observer = metrics.node_observed
    metrics.watch(app.state)
    app.state.admission = admission
    app.state.schemas = schemas
    app.state.engine = engine
    app.state.grant_cache = grant_cache
    app.state.authority = AuthorityModel.empty(topology.region.code)
    app.state.limiter = limiter
    app.state.budget = budget
    app.state.rate_limiters = [r for r in (limiter, budget) if r is not None]
    app.state.settings = settings
    return app


def _rate_limiters(settings: Settings, pools: NodePools) -> tuple[SharedRateLimiter, SharedRateLimiter | None]:
    """The verification limit and the query budget (if configured), kept in the region database.

    Verification fails closed without that database (it is also the audit's: no verification could be
    answered anyway); the query budget falls back to a per-process bucket, so that an outage of the
    region does not stop catalog reads from the other nodes (policies/ratelimits.py)."""
    region = pools.topology.region.database_node

    async def lease(*args: object) -> tuple[int, float]:
        rows = await pools.fetch(region, "ratelimit.lease", LEASE, *args, timeout=settings.node_timeout)
        return int(rows[0]["granted"]), float(rows[0]["wait_seconds"])

    verify = SharedRateLimiter("verification", settings.verify_per_minute, lease, fail_closed=True)
    budget = (SharedRateLimiter("queries", settings.query_budget_per_minute, lease, fail_closed=False)
              if settings.query_budget_per_minute else None)
    return verify, budget


def _cors(settings: Settings) -> list[Middleware]:
    """Dashboards on the configured origins may call /graphql from a browser (preflight answered before
    admission control); no origin is allowed unless configured. Tokens travel in Authorization, never
    in cookies, so credentials mode stays off."""
    if not settings.cors_origins:
        return []
    return [Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                       allow_headers=["Authorization", "Content-Type", "Accept", "Accept-Language",
                                      "X-Govshare-Purpose", "X-Request-Id"],
                       expose_headers=["X-Request-Id", "X-Govshare-Statements", "Retry-After"], max_age=600)]


def app_factory() -> Any:
    """For ``uvicorn --factory govshare.server.app:app_factory`` against configured DSNs."""
    settings = Settings.from_env()
    return create_app(settings, Topology.load(settings.topology_path, settings.dsns))
