"""Build schema objects from rows, loading related rows one nesting level at a time.

The query's selection decides which columns are read and what is loaded: each level is one
``load_many`` per loader (one SQL statement per node per level). Objects carry only the attributes
of selected fields, and every such field is a plain attribute, which strawberry resolves without a
resolver call: the cheapest path through graphql-core's execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeVar

from govshare.core.errors import NodeUnavailable
from govshare.federation.pagination import encode_cursor
from govshare.policies.groups import facts_from_code
from govshare.resolvers import catalog
from govshare.resolvers.context import Context
from govshare.resolvers.selection import Tree

from .common import (
    Classification,
    Level,
    PageInfo,
    ResourceStatus,
    ShareClass,
    ShareMode,
    UpdateCycle,
    in_language,
    localized,
)
from .departments import Department, DepartmentConnection
from .resources import DataItem, Resource, ResourceConnection, ResourceEdge

T = TypeVar("T")
E = TypeVar("E", bound=Enum)
Convert = Callable[[Any, str], Any]
LANGS = ("zh", "ug", "kk", "en")


def _members(cls: type[E]) -> Callable[[Any], E]:
    """An enum's member by value as a dict lookup: calling the enum costs several times more, once per
    cell of every page (~3% of a catalog page's CPU)."""
    table = {member.value: member for member in cls}

    def member(value: Any) -> E:
        found = table.get(value)
        return found if found is not None else cls(value)  # an unknown value fails as the enum would

    return member


_CLASSIFICATION, _LEVEL, _SHARE_CLASS = _members(Classification), _members(Level), _members(ShareClass)
_SHARE_MODE, _STATUS, _UPDATE_CYCLE = _members(ShareMode), _members(ResourceStatus), _members(UpdateCycle)


def _texts(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{lang}" for lang in LANGS)


def _column(column: str, member: Callable[[Any], Any] | None) -> Convert:
    if member is None:
        return lambda r, _: r[column]
    return lambda r, _: member(r[column])


# GraphQL field -> (attribute, column, enum member by value or None): fields whose value is one column (read
# as is, or the enum member of its value). The catalog lane (schema/catalog_reads.py) reads them the same way.
RESOURCE_COLUMN_FIELDS: dict[str, tuple[str, str, Callable[[Any], Any] | None]] = {
    "code": ("code", "code", None),
    "node": ("node", "node_code", None),
    "classification": ("classification", "classification", _CLASSIFICATION),
    "category": ("category", "category", None),
    "providerCode": ("provider_code", "provider_code", None),
    "providerLevel": ("provider_level", "provider_level", _LEVEL),
    "format": ("format", "format", None),
    "updateCycle": ("update_cycle", "update_cycle", _UPDATE_CYCLE),
    "shareClass": ("share_class", "share_class", _SHARE_CLASS),
    "shareConditions": ("share_conditions", "share_conditions", None),
    "legalBasis": ("legal_basis", "legal_basis", None),
    "openAttribute": ("open_attribute", "open_attribute", None),
    "status": ("status", "status", _STATUS),
    "version": ("version", "version", None),
    "publishedOn": ("published_on", "published_on", None),
}
# Fields in the request's language (falling back to zh): field -> column prefix (of resources and departments).
IN_LANGUAGE = {"name": "name", "summary": "summary"}
ITEM_IN_LANGUAGE = {"title": "title"}

# GraphQL field -> (attribute, columns it reads, conversion from (row, lang)).
RESOURCE_FIELDS: dict[str, tuple[str, tuple[str, ...], Convert]] = {
    **{name: (attr, (column,), _column(column, member))
       for name, (attr, column, member) in RESOURCE_COLUMN_FIELDS.items()},
    "name": ("name", _texts("name"), lambda r, lang: in_language(r, "name", lang)),
    "names": ("names", _texts("name"), lambda r, _: localized(r, "name")),
    "summary": ("summary", _texts("summary"), lambda r, lang: in_language(r, "summary", lang)),
    "summaries": ("summaries", _texts("summary"), lambda r, _: localized(r, "summary")),
    "shareModes": ("share_modes", ("share_modes",), lambda r, _: [_SHARE_MODE(m) for m in r["share_modes"]]),
    "relatedCodes": ("related_codes", ("related_codes",), lambda r, _: list(r["related_codes"])),
    "apiName": ("api_name", ("api_name", "status"),
                lambda r, _: r["api_name"] if r["status"] == "published" else None),
}
# Fields filled by loading related rows need these columns of the resource itself.
RELATED_COLUMNS = {"provider": ("provider_code",), "dataItems": ()}


def _read(prefix: str | None, spec_columns: tuple[str, ...], lang: str | None) -> tuple[str, ...]:
    """The columns a field reads: a text in one language (``prefix``) only its own and zh's (``in_language``)
    when the language is known."""
    if prefix is None or lang is None:
        return spec_columns
    return (f"{prefix}_zh",) if lang == "zh" else (f"{prefix}_{lang}", f"{prefix}_zh")


def resource_columns(selection: Tree, lang: str | None = None) -> list[str]:
    """Columns a page must select for the fields of ``selection`` in ``lang`` (always the code)."""
    columns: dict[str, None] = {"code": None}
    for name in selection:
        spec = RESOURCE_FIELDS.get(name)
        for column in _read(IN_LANGUAGE.get(name), spec[1], lang) if spec else RELATED_COLUMNS.get(name, ()):
            columns[column] = None
    return list(columns)


def _instance(cls: type[T], values: dict[str, Any]) -> T:
    # Objects hold only what the query selected: graphql-core reads attributes of selected fields
    # only, so skipping the dataclass __init__ (and the unselected conversions) is safe and cheaper.
    obj = cls.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _instances(cls: type[T], rows: list[Any], specs: list[tuple[str, Convert]], lang: str) -> list[T]:
    """``_instance`` for every row, in one loop (a page completes a few hundred items: ~35% cheaper)."""
    new = cls.__new__
    built: list[T] = []
    append = built.append
    for row in rows:
        obj = new(cls)
        obj.__dict__.update({attr: convert(row, lang) for attr, convert in specs})
        append(obj)
    return built


# GraphQL field -> (attribute, columns it reads, conversion from (row, lang)), as RESOURCE_FIELDS.
DEPARTMENT_FIELDS: dict[str, tuple[str, tuple[str, ...], Convert]] = {
    "code": ("code", ("code",), lambda r, _: r["code"]),
    "name": ("name", _texts("name"), lambda r, lang: in_language(r, "name", lang)),
    "names": ("names", _texts("name"), lambda r, _: localized(r, "name")),
    "level": ("level", ("level",), lambda r, _: _LEVEL(r["level"])),
    "node": ("node", ("node_code",), lambda r, _: r["node_code"]),
    "divisionCode": ("division_code", ("division_code",), lambda r, _: r["division_code"]),
    "parentCode": ("parent_code", ("parent_code",), lambda r, _: r["parent_code"]),
}
# Every department keeps its code (children and resources are looked up by it) and, below a selected
# parent, its parent's code.
_CODE: tuple[str, Convert] = ("code", lambda r, _: r["code"])
_PARENT_CODE: tuple[str, Convert] = ("parent_code", lambda r, _: r["parent_code"])


def department_columns(selection: Tree, lang: str | None = None) -> tuple[str, ...]:
    """Columns the departments of ``selection`` in ``lang`` are built from (always the code, and the node:
    a provider read beside its resource is checked to be its database's own, resolvers/hosting.py)."""
    columns: dict[str, None] = {"code": None, "node_code": None}
    for name in selection:
        spec = DEPARTMENT_FIELDS.get(name)
        for column in _read(IN_LANGUAGE.get(name), spec[1], lang) if spec else ("parent_code",) if name == "parent" else ():
            columns[column] = None
    return tuple(columns)


_UNREAD = object()  # a row read without the column (a NULL in it is None, and coded like any other value)


def coded_levels(rows: Sequence[Any], region: str) -> list[Any]:
    """Departments rows whose ``level`` is their code's (policies.groups.facts_from_code, the access rules'
    ``level:`` group), whatever the row says, NULL or a value outside the enum included (a node's owner can
    drop the column's constraints): a row that says otherwise is served with its code's level. Rows read
    without their level are as they were."""
    return _coded(rows, region, "level", "code")


def coded_provider_levels(rows: Sequence[Any], region: str) -> list[Any]:
    """Resource rows whose ``provider_level`` is their provider's code's (``coded_levels``), whatever the
    node's row says, NULL included: a prefecture's entry saying its provider is region-level is served with
    its code's level. Rows read without their provider level are as they were."""
    return _coded(rows, region, "provider_level", "provider_code")


def _coded(rows: Sequence[Any], region: str, column: str, code_column: str) -> list[Any]:
    coded: list[Any] = []
    for row in rows:
        said = row.get(column, _UNREAD)
        if said is not _UNREAD:
            level = facts_from_code(row[code_column], region).level
            if said != level:
                row = {**dict(row.items()), column: level}
        coded.append(row)
    return coded


async def departments(context: Context, rows: list[Any], selection: Tree, lang: str) -> list[Department]:
    if "level" in selection:
        rows = coded_levels(rows, context.pools.topology.region.code)
    specs = [_CODE, *((attr, convert) for name, (attr, _, convert) in DEPARTMENT_FIELDS.items()
                      if name in selection and name != "code")]
    if "parent" in selection and "parentCode" not in selection:
        specs.append(_PARENT_CODE)
    specs.append(("lang", lambda _r, lang: lang))
    built = _instances(Department, rows, specs, lang)
    jobs = []
    if "parent" in selection:
        jobs.append(_attach_parents(context, built, selection["parent"], lang))
    if "children" in selection:
        jobs.append(_attach_children(context, built, selection["children"], lang))
    await asyncio.gather(*jobs)
    return built


async def _attach_parents(context: Context, built: list[Department], selection: Tree, lang: str) -> None:
    codes = sorted({d.parent_code for d in built if d.parent_code})
    rows = [r for r in await context.loaders.department.load_many(codes) if r is not None]
    parents = {p.code: p for p in await departments(context, rows, selection, lang)}
    for dept in built:
        dept.parent = parents.get(dept.parent_code) if dept.parent_code else None


async def _attach_children(context: Context, built: list[Department], selection: Tree, lang: str) -> None:
    lists = await context.loaders.children.load_many([d.code for d in built])
    flat = [row for rows in lists for row in rows]
    children = iter(await departments(context, flat, selection, lang))
    for dept, rows in zip(built, lists, strict=True):
        dept.children = [next(children) for _ in rows]


def related_columns(selection: Tree, lang: str | None = None) -> catalog.RelatedColumns:
    """What a page of resources with ``selection`` in ``lang`` reads beside them (catalog.resource_page)."""
    provider = selection.get("provider")
    items = selection.get("dataItems")
    return catalog.RelatedColumns(
        department_columns(provider, lang) if provider is not None else None,
        item_columns(items, lang) if items is not None else None)


async def resources(context: Context, rows: list[Any], selection: Tree, lang: str,
                    page: catalog.Page | None = None) -> list[Resource]:
    """Resources from rows; their providers and items from ``page.related`` (read with the page) where the
    page has them, else through the request's loaders (one statement per node per level)."""
    specs = [(attr, convert) for name, (attr, _, convert) in RESOURCE_FIELDS.items() if name in selection]
    if "providerLevel" in selection:
        rows = coded_provider_levels(rows, context.pools.topology.region.code)
    built = _instances(Resource, rows, specs, lang)
    jobs = []
    if "provider" in selection:
        jobs.append(_attach_providers(context, built, [r["provider_code"] for r in rows], selection["provider"], lang,
                                      page, [r["code"] for r in rows]))
    if "dataItems" in selection:
        if page is not None:
            _items_from_page(built, rows, selection["dataItems"], lang, page)
        else:
            jobs.append(_attach_items(context, built, [r["code"] for r in rows], selection["dataItems"], lang))
    await asyncio.gather(*jobs)
    return built


def note_failures(context: Context, failures: list[tuple[NodeUnavailable, list[str]]]) -> None:
    """The nodes whose related rows are missing (those of the codes on each failed database), as the
    request's loaders note theirs."""
    topology = context.topology
    for failure, codes in failures:
        hosted = topology.hosted_on(failure.node)
        for node in sorted({c[:6] for c in codes if c[:6] in hosted}):
            context.node_failures.setdefault(node, failure.extensions["reason"])


def _items_from_page(built: list[Resource], rows: list[Any], selection: Tree, lang: str, page: catalog.Page) -> None:
    specs = [spec for name, spec in ITEM_FIELDS.items() if name in selection]
    names = item_columns(selection, lang)
    for resource, row in zip(built, rows, strict=True):
        related = page.related.get(row["code"])
        resource.data_items = _items([dict(zip(names, i, strict=True)) for i in related.items], specs, lang) \
            if related is not None else []


async def _attach_providers(context: Context, built: list[Resource], provider_codes: list[str],
                            selection: Tree, lang: str, page: catalog.Page | None = None,
                            codes: list[str] | None = None) -> None:
    """Each distinct provider built once: from the page's related rows where it was read there, the others
    through the department loader (from the database that holds it)."""
    read: dict[str, dict[str, Any] | None] = {}
    asked: set[str] = set()
    names = department_columns(selection, lang) if page is not None else ()
    for resource_code, code in zip(codes or [""] * len(built), provider_codes, strict=True):
        related = page.related.get(resource_code) if page is not None else None
        if related is not None and related.provider_known:
            if code not in read:
                read[code] = dict(zip(names, related.provider, strict=True)) if related.provider is not None else None
        else:
            asked.add(code)
    asked.difference_update(read)
    rows = [r for r in read.values() if r is not None]
    if asked:
        rows.extend(r for r in await context.loaders.department.load_many(sorted(asked)) if r is not None)
    providers = {p.code: p for p in await departments(context, rows, selection, lang)}
    for resource, code in zip(built, provider_codes, strict=True):
        resource.provider = providers.get(code)


# As RESOURCE_COLUMN_FIELDS, for data items.
ITEM_COLUMN_FIELDS: dict[str, tuple[str, str, Callable[[Any], Any] | None]] = {
    "name": ("name", "name", None),
    "dataType": ("data_type", "data_type", None),
    "shareClass": ("share_class", "share_class", _SHARE_CLASS),
    "condition": ("condition", "share_condition", None),
    "legalBasis": ("legal_basis", "legal_basis", None),
    "isKey": ("is_key", "is_key", None),
}
ITEM_FIELDS: dict[str, tuple[str, Convert]] = {
    **{name: (attr, _column(column, member)) for name, (attr, column, member) in ITEM_COLUMN_FIELDS.items()},
    "title": ("title", lambda i, lang: in_language(i, "title", lang)),
    "titles": ("titles", lambda i, _: localized(i, "title")),
}
ITEM_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name",), "title": _texts("title"), "titles": _texts("title"), "dataType": ("data_type",),
    "shareClass": ("share_class",), "condition": ("share_condition",), "legalBasis": ("legal_basis",),
    "isKey": ("is_key",),
}


def item_columns(selection: Tree, lang: str | None = None) -> tuple[str, ...]:
    """Columns the items of ``selection`` in ``lang`` are built from (at least their name)."""
    columns: dict[str, None] = {}
    for name in selection:
        spec = ITEM_COLUMNS.get(name)
        for column in _read(ITEM_IN_LANGUAGE.get(name), spec, lang) if spec else ():
            columns[column] = None
    return tuple(columns) or ("name",)


def _items(rows: list[Any], specs: list[tuple[str, Convert]], lang: str) -> list[DataItem]:
    return _instances(DataItem, rows, specs, lang)


async def _attach_items(context: Context, built: list[Resource], codes: list[str], selection: Tree,
                        lang: str) -> None:
    specs = [spec for name, spec in ITEM_FIELDS.items() if name in selection]
    lists = await context.loaders.items.load_many(codes)
    for resource, rows in zip(built, lists, strict=True):
        resource.data_items = _items(rows, specs, lang)


async def resource_with_details(context: Context, details: catalog.ResourceDetails, selection: Tree,
                                lang: str) -> Resource:
    """One resource from a row read with its provider and items (``catalog.resource_details``)."""
    row = details.row
    if "providerLevel" in selection:
        row = coded_provider_levels([row], context.pools.topology.region.code)[0]
    built = _instance(Resource, {attr: convert(row, lang) for name, (attr, _, convert) in RESOURCE_FIELDS.items()
                                 if name in selection})
    if "provider" in selection:
        if details.provider_known:
            found = [details.provider] if details.provider is not None else []
            providers = await departments(context, found, selection["provider"], lang)
            built.provider = providers[0] if providers else None
        else:  # not on the resource's database: asked of the database that holds it
            await _attach_providers(context, [built], [row["provider_code"]], selection["provider"], lang)
    if "dataItems" in selection:
        wanted = selection["dataItems"]
        built.data_items = _items(details.items or [], [s for n, s in ITEM_FIELDS.items() if n in wanted], lang)
    return built


async def resource_connection(context: Context, rows: list[Any], has_next: bool,
                              flt: catalog.ResourceFilter | None, unavailable: list[str], selection: Tree,
                              lang: str, cursors: Sequence[str] | None = None, page: catalog.Page | None = None
                              ) -> ResourceConnection:
    built = await resources(context, rows, selection.get("edges", {}).get("node", {}), lang, page)
    # Merged lists bring their own cursors (a position per node); a single node's list is keyed by code.
    cursors = cursors if cursors is not None else [encode_cursor(r["code"]) for r in rows]
    # Cursors are encoded only where selected (a page of nodes rarely asks for them): an edge's cursor that
    # is not selected is never read, like any attribute of an object the query did not select.
    if "cursor" in selection.get("edges", {}):
        edges = [ResourceEdge(cursor=c, node=b) for c, b in zip(cursors, built, strict=True)]
    else:
        edges = [ResourceEdge(cursor="", node=b) for b in built]
    end_cursor = cursors[-1] if built and "endCursor" in selection.get("pageInfo", {}) else None
    return ResourceConnection(edges=edges, page_info=PageInfo(has_next_page=has_next, end_cursor=end_cursor),
                              unavailable_nodes=unavailable, filter=flt)


async def department_connection(context: Context, rows: list[Any], has_next: bool, unavailable: list[str],
                                selection: Tree, lang: str, cursors: Sequence[str] | None = None
                                ) -> DepartmentConnection:
    built = await departments(context, rows, selection.get("edges", {}).get("node", {}), lang)
    return DepartmentConnection.of(built, has_next, unavailable, cursors)


