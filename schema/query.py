"""The root Query of the catalog: nodes, departments, resources, the sharing catalog."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from federation.pagination import clamp_first, decode_cursor
from resolvers import catalog
from server.context import Context
from server.errors import BadRequest

from .common import Level, values
from .departments import Department, DepartmentConnection
from .nodes import Node
from .resources import Resource, ResourceConnection, ResourceFilter


def _unavailable(info: Info[Context, None], failures: list[catalog.NodeUnavailable],
                 requested: list[str] | None) -> list[str]:
    topology = info.context.topology
    codes: list[str] = []
    for failure in failures:
        for code in topology.hosted_on(failure.node):
            if not requested or code in requested:
                codes.append(code)
                info.context.node_failures.setdefault(code, failure.extensions["reason"])
    return sorted(codes)


async def _resources(info: Info[Context, None], flt: ResourceFilter | None, first: int, after: str | None,
                     sharing: bool) -> ResourceConnection:
    domain = (flt or ResourceFilter()).to_domain(sharing_catalog=sharing)
    limit = clamp_first(first)
    page = await catalog.resource_page(info.context.pools, domain, limit, decode_cursor(after))
    return ResourceConnection.from_rows(info, page.rows, page.has_next, domain,
                                        _unavailable(info, page.unavailable, domain.nodes))


@strawberry.type
class Query:
    @strawberry.field(description="Every platform node, with a live reachability probe.")
    def nodes(self, info: Info[Context, None]) -> list[Node]:
        return [Node(topology_node=n) for n in info.context.topology.nodes]

    @strawberry.field
    def node(self, info: Info[Context, None], code: str) -> Node | None:
        found = info.context.topology.by_code.get(code)
        return Node(topology_node=found) if found else None

    @strawberry.field(description="The resource catalog over every node, ordered by code.")
    async def resources(self, info: Info[Context, None], filter: ResourceFilter | None = None,
                        first: int = 20, after: str | None = None) -> ResourceConnection:
        return await _resources(info, filter, first, after, sharing=False)

    @strawberry.field(description="The sharing catalog (共享目录): published UNCONDITIONAL and CONDITIONAL resources.")
    async def sharing_catalog(self, info: Info[Context, None], filter: ResourceFilter | None = None,
                              first: int = 20, after: str | None = None) -> ResourceConnection:
        return await _resources(info, filter, first, after, sharing=True)

    @strawberry.field(description="One resource by code, asked only of the node that owns it.")
    async def resource(self, info: Info[Context, None], code: str) -> Resource | None:
        node = info.context.topology.by_code.get(catalog.node_of_code(code))
        if node is None:
            return None
        row = await info.context.loaders.resource.load(code)
        if row is None and node.code in info.context.node_failures:
            raise catalog.NodeUnavailable(node.code, info.context.node_failures[node.code])
        return Resource(row=row) if row is not None else None

    @strawberry.field
    async def department(self, info: Info[Context, None], code: str) -> Department | None:
        node = info.context.topology.by_code.get(catalog.node_of_code(code))
        if node is None:
            return None
        row = await info.context.loaders.department.load(code)
        if row is None and node.code in info.context.node_failures:
            raise catalog.NodeUnavailable(node.code, info.context.node_failures[node.code])
        return Department(row=row) if row is not None else None

    @strawberry.field(description="Departments over every node, ordered by code.")
    async def departments(self, info: Info[Context, None], nodes: list[str] | None = None,
                          levels: list[Level] | None = None, parent: str | None = None,
                          first: int = 50, after: str | None = None) -> DepartmentConnection:
        if parent is not None and not parent:
            raise BadRequest("'parent' must not be empty")
        page = await catalog.department_page(info.context.pools, nodes, values(levels), parent,
                                             clamp_first(first), decode_cursor(after))
        return DepartmentConnection.from_rows(page.rows, page.has_next, _unavailable(info, page.unavailable, nodes))
