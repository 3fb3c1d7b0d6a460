"""The starlette application: routes, lifespan (one pool per node database), schema holder."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import casbin
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from core.callers import Caller
from core.errors import NodeUnavailable
from core.settings import Settings
from federation.listener import Listener
from federation.nodes import RETRYABLE, NodePools
from federation.topology import Topology
from policies.authority import AuthorityModel
from policies.decisions import MODEL, PolicyEngine
from policies.ratelimits import RateLimiter
from resolvers.context import Context

from .departments import KnownDepartments
from .graphql_http import GraphQLEndpoint
from .health import healthz, readyz
from .identity import Authenticator
from .limits import Limits
from .metrics import Metrics
from .schemas import SchemaHolder

logger = logging.getLogger("govshare.app")


class _QuietStrawberry(logging.Filter):
    """strawberry logs a traceback for every GraphQL error; we log unexpected ones ourselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def create_app(settings: Settings, topology: Topology) -> Starlette:
    logging.getLogger("strawberry.execution").addFilter(_QuietStrawberry())
    pools = NodePools(topology, timeout=settings.node_timeout, min_size=settings.pool_min_size,
                      max_size=settings.pool_max_size)
    schemas = SchemaHolder()
    authenticator = Authenticator(settings)
    limiter = RateLimiter(settings.verify_per_minute)
    # Until the rules load, the engine has none: every decision is a denial (fail closed).
    engine = PolicyEngine(casbin.AsyncEnforcer(str(MODEL)))

    def make_context(request: Request, caller: Caller, request_id: str) -> Context:
        return Context(caller=caller, pools=pools, request_id=request_id, engine=app.state.engine,
                       limiter=limiter, authority_model=app.state.authority)

    metrics = Metrics()
    departments = KnownDepartments(pools)
    endpoint = GraphQLEndpoint(lambda: schemas.current.schema, authenticator, make_context, metrics,
                               Limits.from_settings(settings), departments)

    async def on_change(channel: str, database: str) -> None:
        if channel == "govshare_catalog":
            await schemas.refresh(pools)
            await departments.refresh([database])
        elif channel == "govshare_policy" and database == topology.region.database_node:
            await reload_policy()

    async def reload_policy() -> None:
        fresh = await PolicyEngine.load(pools.pool(topology.region.code))
        authority = await AuthorityModel.load(pools.pool(topology.region.code), topology.region.code)
        # swapped whole: requests in flight keep the engine and roles they started with
        app.state.engine, app.state.authority = fresh, authority

    listener = Listener(topology, ("govshare_catalog", "govshare_policy"), on_change)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pools.open()
        try:
            await reload_policy()
        except (NodeUnavailable, *RETRYABLE):  # type: ignore[misc]
            logger.warning("policy rules not loaded (region database unavailable): denying all until it is back")
        await schemas.refresh(pools)
        await departments.refresh()
        listener.start()
        try:
            yield
        finally:
            await listener.stop()
            await pools.close()

    async def root(request: Request) -> Response:
        return RedirectResponse("/graphql")

    app = Starlette(
        routes=[
            Route("/", root),
            Route("/graphql", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics.endpoint),
        ],
        lifespan=lifespan,
    )
    app.state.pools = pools
    app.state.schemas = schemas
    app.state.engine = engine
    app.state.authority = AuthorityModel.empty(topology.region.code)
    app.state.limiter = limiter
    app.state.settings = settings
    return app


def app_factory() -> Any:
    """For ``uvicorn --factory server.app:app_factory`` against configured DSNs."""
    settings = Settings.from_env()
    return create_app(settings, Topology.load(settings.topology_path, settings.dsns))
