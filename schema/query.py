"""The root Query of the catalog: nodes, departments, resources, the sharing catalog."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from govshare.core.errors import BadRequest, NodeUnavailable
from govshare.federation.pagination import clamp_first, decode_positions
from govshare.resolvers import catalog
from govshare.resolvers.context import Context
from govshare.resolvers.selection import Tree, selection_of

from . import builders
from .common import Language, Level, values
from .departments import Department, DepartmentConnection
from .nodes import Node
from .resources import Resource, ResourceConnection, ResourceFilter

LANG_HELP = "Language of names and summaries below this field; default: Accept-Language, then zh."
LangArg = Annotated[Language | None, strawberry.argument(description=LANG_HELP)]


def _lang(info: Info[Context, None], lang: Language | None) -> str:
    return lang.value if lang is not None else info.context.lang


def _unavailable(info: Info[Context, None], failures: list[NodeUnavailable],
                 requested: list[str] | None) -> list[str]:
    return unavailable(info.context, failures, requested)


def unavailable(context: Context, failures: list[NodeUnavailable], requested: list[str] | None) -> list[str]:
    """The requested nodes a page lacks (each noted for its NODE_UNAVAILABLE error)."""
    topology = context.topology
    codes: list[str] = []
    for failure in failures:
        for code in topology.hosted_on(failure.node):
            if not requested or code in requested:
                codes.append(code)
                context.node_failures.setdefault(code, failure.extensions["reason"])
    return sorted(codes)


async def resource_page(context: Context, flt: ResourceFilter | None, first: int, after: str | None, sharing: bool,
                        selection: Tree, lang: str) -> tuple[catalog.ResourceFilter, catalog.Page, list[str]]:
    """What a resource connection is made of: its filter, its page (with the providers and items its
    selection asks for) and the nodes it lacks. Shared by the resolver and the catalog lane
    (schema/catalog_reads.py), which answer from the same page."""
    domain = (flt or ResourceFilter()).to_domain(sharing_catalog=sharing)
    node = selection.get("edges", {}).get("node", {})
    page = await catalog.resource_page(context.pools, domain, clamp_first(first), decode_positions(after),
                                       builders.resource_columns(node, lang), builders.related_columns(node, lang))
    missing = unavailable(context, page.unavailable, domain.nodes)
    builders.note_failures(context, page.related_failures)
    return domain, page, missing


async def _resources(info: Info[Context, None], flt: ResourceFilter | None, first: int, after: str | None,
                     sharing: bool, lang: Language | None) -> ResourceConnection:
    selection = selection_of(info)
    # The catalog lane may have read this field's page already and handed the answer back to graphql-core
    # (schema/catalog_reads.py): the page is not read twice.
    language = _lang(info, lang)
    fetched = info.context.prefetched.pop(id(info._raw_info.field_nodes[0]), None)
    if fetched is None:
        fetched = await resource_page(info.context, flt, first, after, sharing, selection, language)
    domain, page, missing = fetched
    return await builders.resource_connection(
        info.context, page.rows, page.has_next and bool(page.rows), domain, missing, selection, language,
        page.cursors, page)


async def _lookup(info: Info[Context, None], code: str, loader: Any, key: Any = None) -> Any:
    return await lookup(info.context, code, loader, key)


async def lookup(context: Context, code: str, loader: Any, key: Any = None) -> Any:
    """A row by code (the loader's key: the code unless given) from the one node that owns it; a failed
    node is an error, not a null."""
    node = catalog.node_of_code(code)
    if node not in context.topology.by_code:
        return None
    row = await loader.load(code if key is None else key)
    if row is None and node in context.node_failures:
        raise NodeUnavailable(node, context.node_failures[node])
    return row


async def resource_by_code(info: Info[Context, None], code: str, lang: LangArg = None) -> Resource | None:
    selection = selection_of(info)
    provider, items = "provider" in selection, "dataItems" in selection
    if provider or items:  # one statement for the resource, its provider and its items
        details = await _lookup(info, code, info.context.loaders.resource_details, (code, provider, items))
        if details is None:
            return None
        return await builders.resource_with_details(info.context, details, selection, _lang(info, lang))
    row = await _lookup(info, code, info.context.loaders.resource)
    if row is None:
        return None
    return (await builders.resources(info.context, [row], selection, _lang(info, lang)))[0]


async def department_by_code(info: Info[Context, None], code: str, lang: LangArg = None) -> Department | None:
    row = await _lookup(info, code, info.context.loaders.department)
    if row is None:
        return None
    return (await builders.departments(info.context, [row], selection_of(info), _lang(info, lang)))[0]


# Root fields whose resolvers read their arguments and never change them (schema/literal_arguments.py).
LITERAL_ARGUMENT_FIELDS = ("resource", "department")


# hasNextPage is true only beside an endCursor to continue from: `first: 0` answers an empty page with
# hasNextPage false (a client paging until hasNextPage is false stops), and totalCount still counts.


def nodes(info: Info[Context, None], lang: LangArg = None) -> list[Node] | None:
    return [Node(topology_node=n, lang=_lang(info, lang)) for n in info.context.topology.nodes]


def node(info: Info[Context, None], code: str, lang: LangArg = None) -> Node | None:
    found = info.context.topology.by_code.get(code)
    return Node(topology_node=found, lang=_lang(info, lang)) if found else None


async def resources(info: Info[Context, None], filter: ResourceFilter | None = None, first: int = 20,
                    after: str | None = None, lang: LangArg = None) -> ResourceConnection | None:
    return await _resources(info, filter, first, after, False, lang)


async def sharing_catalog(info: Info[Context, None], filter: ResourceFilter | None = None, first: int = 20,
                          after: str | None = None, lang: LangArg = None) -> ResourceConnection | None:
    return await _resources(info, filter, first, after, True, lang)


async def departments(info: Info[Context, None], nodes: list[str] | None = None, levels: list[Level] | None = None,
                      parent: str | None = None, first: int = 50, after: str | None = None,
                      lang: LangArg = None) -> DepartmentConnection | None:
    if parent is not None and not parent:
        raise BadRequest("'parent' must not be empty")
    page = await catalog.department_page(info.context.pools, nodes, values(levels), parent,
                                         clamp_first(first), decode_positions(after))
    return await builders.department_connection(
        info.context, page.rows, page.has_next and bool(page.rows), _unavailable(info, page.unavailable, nodes),
        selection_of(info), _lang(info, lang), page.cursors)


@strawberry.type(description="Root fields are nullable: one failing field leaves the others' data intact.")
class Query:
    # Resolvers are plain functions (no self): the lookups by code then get their literal arguments
    # converted once per parsed field node (schema/literal_arguments.py, LITERAL_ARGUMENT_FIELDS).
    nodes: list[Node] | None = strawberry.field(
        resolver=nodes, description="Every platform node, with a live reachability probe.")
    node: Node | None = strawberry.field(resolver=node)
    resources: ResourceConnection | None = strawberry.field(
        resolver=resources, description="The resource catalog over every node, ordered by code.")
    sharing_catalog: ResourceConnection | None = strawberry.field(
        resolver=sharing_catalog,
        description="The sharing catalog (共享目录): published UNCONDITIONAL and CONDITIONAL resources.")
    resource: Resource | None = strawberry.field(
        resolver=resource_by_code, description="One resource by code, asked only of the node that owns it.")
    department: Department | None = strawberry.field(
        resolver=department_by_code, description="One department by code, asked only of the node that serves it.")
    departments: DepartmentConnection | None = strawberry.field(
        resolver=departments, description="Departments over every node, ordered by code.")
