"""The starlette application: routes, lifespan (one pool per node database), schema holder."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from strawberry import Schema

from federation.nodes import NodePools
from federation.topology import Topology
from schema import build_schema

from .context import Context
from .graphql_http import GraphQLEndpoint
from .health import healthz, readyz
from .identity import Authenticator, Caller
from .settings import Settings


class _QuietStrawberry(logging.Filter):
    """strawberry logs a traceback for every GraphQL error; we log unexpected ones ourselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


class SchemaHolder:
    """The current schema; replaced atomically, requests in flight keep the one they started with."""

    def __init__(self, schema: Schema) -> None:
        self.current = schema

    def swap(self, schema: Schema) -> None:
        self.current = schema


def create_app(settings: Settings, topology: Topology) -> Starlette:
    logging.getLogger("strawberry.execution").addFilter(_QuietStrawberry())
    pools = NodePools(topology, timeout=settings.node_timeout, min_size=settings.pool_min_size,
                      max_size=settings.pool_max_size)
    schemas = SchemaHolder(build_schema())
    authenticator = Authenticator(settings)

    def make_context(request: Request, caller: Caller, request_id: str) -> Context:
        return Context(caller=caller, pools=pools, request_id=request_id)

    endpoint = GraphQLEndpoint(lambda: schemas.current, authenticator, make_context)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pools.open()
        try:
            yield
        finally:
            await pools.close()

    async def root(request: Request) -> Response:
        return RedirectResponse("/graphql")

    app = Starlette(
        routes=[
            Route("/", root),
            Route("/graphql", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.pools = pools
    app.state.schemas = schemas
    app.state.settings = settings
    return app


def app_factory() -> Any:
    """For ``uvicorn --factory server.app:app_factory`` against configured DSNs."""
    settings = Settings.from_env()
    return create_app(settings, Topology.load(settings.topology_path, settings.dsns))
