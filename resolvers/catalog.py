"""Catalog reads over every node: filtered resource pages, lookups by code, departments."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, overload

import asyncpg

from govshare.core.errors import BadRequest, InvalidRows, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.federation.pagination import Positions, Resumable, encode_positions, merge_resumable
from govshare.policies.groups import facts_from_code

from . import hosting, row_values
from .sql import Where

logger = logging.getLogger("govshare.catalog")

RESOURCE_COLUMNS = """code, node_code, classification, category, name_zh, name_ug, name_kk, name_en,
    summary_zh, summary_ug, summary_kk, summary_en, provider_code, provider_level, format, update_cycle,
    share_class, share_conditions, share_modes, legal_basis, open_attribute, status, version, published_on,
    related_codes, data_table, data_scope, api_name"""
SELECT_RESOURCES = f"select {RESOURCE_COLUMNS} from resources where "
# Every column a page may select; a page selects the subset its query needs, joined from these names.
RESOURCE_COLUMN_NAMES = frozenset(c.strip() for c in RESOURCE_COLUMNS.split(","))
ORDER_LIMIT = " order by code limit "
COUNT_RESOURCES = "select count(*) from resources where "
# A node's catalog is trusted only about its own database: every listing and lookup serves a row only when
# the node it names, its code's node and its provider's node are all hosted by the database it is read from
# (``hosted_on``, passed as a text[] parameter; in SQL, so counts, limits and cursors agree with what is
# served). A code's node is its first 6 characters, before a '-'. Pages and counts test codes with prefixes
# (``code ^@ 'NNNNNN-'``) inside one ``coalesce(..., false)`` (HOSTED_PREFIXES): the planner then takes
# the pair for half of the rows (its default for a boolean expression) without estimating it. Estimated from
# the columns' statistics, as before, each prefix list cost ~40 us of planning per statement, a federated
# page's 12 statements ~1 ms of PostgreSQL CPU (more than the raw fan-out's whole statements); a generic
# plan took each for 0.5% of the rows and turned the first page of 1,000,000 rows into a parallel scan (20-30
# ms; tests/resolvers/test_catalog_resource_plans.py), as ``left(code, 6)`` had turned one into a sort (1
# s). A row whose test is NULL is left out either way, as before.
# Lookups by code ask only the code's own database (the code's first 6 characters, when a '-' follows them:
# ``group_by_database``), so they check the node, the provider and the '-' after the code's node.
# None of this binds a dishonest server, which evaluates it: every row read is checked again in the service
# (``hosting``), and one that is not its database's own is dropped and logged. The SQL keeps counts, pages
# and cursors right for an honest server (and pages on their index).
HOSTED_NODES = "node_code = any({}::text[])"
HOSTED_PREFIXES = "coalesce(code ^@ any({}::text[]) and provider_code ^@ any({}::text[]), false)"
HOSTED_LOOKUP = ("node_code = any(${0}::text[]) and left(provider_code, 6) = any(${0}::text[])"
                 " and substr(provider_code, 7, 1) = '-' and substr(code, 7, 1) = '-'")
SELECT_RESOURCES_BY_CODE = f"""select {RESOURCE_COLUMNS} from resources
    where code = any($1::text[]) and {HOSTED_LOOKUP.format(2)}"""
SELECT_PROVIDER_RESOURCES = f"""
select p.provider, r.* from unnest($1::text[]) as p(provider)
cross join lateral (
    select {RESOURCE_COLUMNS} from resources
    where provider_code = p.provider and ($2::text is null or code > $2) and node_code = any($4::text[])
      and code ^@ any($5::text[])
    order by code limit $3
) r"""
ITEM_COLUMNS = """resource_code, name, position, title_zh, title_ug, title_kk, title_en, data_type, share_class,
    share_condition, legal_basis, is_key"""
SELECT_ITEMS = f"""select {ITEM_COLUMNS}
    from data_items where resource_code = any($1::text[]) order by resource_code, position"""
DEPARTMENT_COLUMNS = "code, node_code, level, parent_code, division_code, name_zh, name_ug, name_kk, name_en"
DEPARTMENT_NAMES = tuple(c.strip() for c in DEPARTMENT_COLUMNS.split(","))
# Departments follow the same rule: a departments row is served (listed, looked up, as a parent, child or
# provider, counted in memberships and known departments) only by a database hosting both its node and its
# code's node, tested as for resources (``code ^@ 'NNNNNN-'``, the hosted nodes and their prefixes as
# text[] parameters, in SQL so pages, first, hasNextPage and cursors agree with what is served). A code is
# thus served by one database at most, the one hosting its first 6 characters: the same code in any other
# database (an impostor, a stale copy) is never served, so it neither adds a second row nor overrides or
# shadows the owner's, whichever answers first. The division code is not part of it: a county department's
# GB/T 2260 code is no node of the topology.
HOSTED_DEPARTMENTS = "node_code = any({}::text[]) and code ^@ any({}::text[])"
# A provider read beside its resource, on the resource's database (which the provider's code names): its
# row must name a node that database hosts.
HOSTED_PROVIDER = "d.node_code = any({}::text[])"
ITEM_NAMES = tuple(c.strip() for c in ITEM_COLUMNS.split(","))
# One resource with its provider (when its department is on the same database) and its items, in one
# statement instead of three: the provider and the items come back as anonymous records (tuples in the
# order of DEPARTMENT_NAMES and ITEM_NAMES), each only when $2 and $3 ask for them.
SELECT_RESOURCE_DETAILS = f"""select {RESOURCE_COLUMNS},
    case when $2::bool then (select row({", ".join("d." + c for c in DEPARTMENT_NAMES)})
        from departments d where d.code = resources.provider_code and {HOSTED_PROVIDER.format("$4")})
        end as provider_row,
    case when $3::bool then array(select row({", ".join("i." + c for c in ITEM_NAMES)})
        from data_items i where i.resource_code = resources.code order by i.position) end as item_rows
    from resources where code = any($1::text[]) and {HOSTED_LOOKUP.format(4)}"""
# A page's related rows (its resources' providers and items) read with the page, or for a merged page's
# rows in one statement per database holding them, instead of one statement per database for each: the
# columns of each come from RelatedColumns (checked against DEPARTMENT_NAMES and ITEM_NAMES).
PROVIDER_ROW = ("(select row({}) from departments d where d.code = resources.provider_code and "
                + HOSTED_PROVIDER + ") as provider_row")
ITEM_ROWS = ("array(select row({}) from data_items i where i.resource_code = resources.code order by i.position)"
             " as item_rows")
# A merged page's related rows read apart from its page: the provider joined once (a hash join over the
# departments table) rather than looked up per row as PROVIDER_ROW does (a scan of the departments per
# resource: 40% of the statement for 50 resources); unqualified column names would be ambiguous here.
PROVIDER_JOINED = "case when d.code is not null then row({}) end as provider_row"
JOIN_PROVIDER = " left join departments d on d.code = resources.provider_code and " + HOSTED_PROVIDER
SELECT_RELATED = "select resources.code, resources.provider_code{} from resources{} where resources.code = any($1::text[])"
SELECT_DEPARTMENTS = f"""select {DEPARTMENT_COLUMNS} from departments
    where code = any($1::text[]) and {HOSTED_DEPARTMENTS.format("$2", "$3")}"""
SELECT_CHILDREN = f"""select {DEPARTMENT_COLUMNS} from departments
    where parent_code = any($1::text[]) and {HOSTED_DEPARTMENTS.format("$2", "$3")} order by code"""
SELECT_DEPARTMENT_PAGE = f"select {DEPARTMENT_COLUMNS} from departments where "
# A department's level is its code's (policies.groups.facts_from_code: the region node's codes are region,
# <node>-C<letter>-<kind> county, others prefecture), whatever its row's ``level`` says: the same expression
# in SQL ({} is the region's code, a parameter), so a ``levels`` filter agrees with what is served. Checked
# again in the service (``department_page``): the server evaluating it is the one distrusted.
# A resource's provider level is its provider's code's, by the same expression over ``provider_code``
# (PROVIDER_LEVEL): the row's ``provider_level`` column is the node's word, and a prefecture could say
# region there. Checked again in the service too (``resource_page``).
CODE_LEVEL_OF = ("case when left({0}, 6) = {{}} then 'region' when cardinality(string_to_array({0}, '-')) >= 3 "
                 "and split_part({0}, '-', 2) <> 'JG' then 'county' else 'prefecture' end")
CODE_LEVEL = CODE_LEVEL_OF.format("code")
PROVIDER_LEVEL = CODE_LEVEL_OF.format("provider_code")

SHARING_CLASSES = ["UNCONDITIONAL", "CONDITIONAL"]
CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]+")
# Same expression as the index of migration 0006, so the planner can use it.
BIGRAM_MATCH = "govshare_cjk_bigrams(name_zh || ' ' || summary_zh) @> {}::text[]"


@dataclass(frozen=True)
class ResourceFilter:
    nodes: list[str] | None = None
    providers: list[str] | None = None
    provider_levels: list[str] | None = None
    classifications: list[str] | None = None
    share_classes: list[str] | None = None
    share_modes: list[str] | None = None
    update_cycles: list[str] | None = None
    statuses: list[str] | None = None
    keyword: str | None = None
    sharing_catalog: bool = False


@dataclass(frozen=True)
class RelatedColumns:
    """What a page reads beside its resources: the provider's columns and the items' columns (None: not
    selected). Each related row comes back as a record of those columns, in their order."""

    provider: tuple[str, ...] | None = None
    items: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.provider or ()) - set(DEPARTMENT_NAMES) | set(self.items or ()) - set(ITEM_NAMES)
        if unknown:
            raise ValueError(f"not department or item columns: {sorted(unknown)}")
        if self.provider is not None and not {"code", "node_code"} <= set(self.provider):
            raise ValueError("a provider is read with its code and node_code (checked: ``hosting``)")

    def __bool__(self) -> bool:
        return self.provider is not None or self.items is not None

    def sql(self, hosted: str) -> str:
        """The select list's related columns, each after a comma; ``hosted`` is the parameter ($n) holding
        the nodes the database hosts (a provider row naming another node is not read), sent only with a
        provider (an unused parameter is an error)."""
        parts = []
        if self.provider is not None:
            parts.append(PROVIDER_ROW.format(", ".join("d." + c for c in self.provider), hosted))
        if self.items is not None:
            parts.append(ITEM_ROWS.format(", ".join("i." + c for c in self.items)))
        return "".join(", " + part for part in parts)

    def related_sql(self, hosted: str) -> str:
        """SELECT_RELATED for these columns (``hosted`` as in ``sql``)."""
        columns, join = "", ""
        if self.provider is not None:
            columns = ", " + PROVIDER_JOINED.format(", ".join("d." + c for c in self.provider))
            join = JOIN_PROVIDER.format(hosted)
        if self.items is not None:
            columns += ", " + ITEM_ROWS.format(", ".join("i." + c for c in self.items))
        return SELECT_RELATED.format(columns, join)


@dataclass(frozen=True)
class Related:
    """A page row's provider and items as read beside it. ``provider_known`` is false when the provider was
    not read (not selected, or its department is on another database, whose own rows are the authority on
    it: the caller loads it from there); ``items`` are those of the resource's own database (empty when the
    resource's node is unknown or its database did not answer)."""

    provider: Sequence[Any] | None
    provider_known: bool
    items: list[Sequence[Any]]


@dataclass
class Page:
    rows: list[asyncpg.Record]
    has_next: bool
    unavailable: list[NodeUnavailable] = field(default_factory=list)
    # one per row: where every database stands after it (a node that missed a page resumes from its own)
    cursors: Sequence[str] = ()
    # code -> its provider and items, when the page was asked for them (RelatedColumns)
    related: dict[str, Related] = field(default_factory=dict)
    # databases whose related rows could not be read, with the codes that missed them
    related_failures: list[tuple[NodeUnavailable, list[str]]] = field(default_factory=list)


class _Cursors(Sequence[str]):
    """A merged page's cursors, each encoded when read: most pages select nodes, not cursors."""

    def __init__(self, merged: Resumable[asyncpg.Record, str]) -> None:
        self._merged = merged

    def __len__(self) -> int:
        return len(self._merged.rows)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        return encode_positions(self._merged.positions(range(len(self))[index]))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def resource_where(flt: ResourceFilter, after: str | None, hosted: Sequence[str], region: str | None = None
                   ) -> Where:
    """The filter's conditions on one database, which hosts the nodes ``hosted`` (its rows naming a code or
    provider of any other node are not served); ``region``, the region node's code, is needed by a
    ``provider_levels`` filter (the level is the provider code's, PROVIDER_LEVEL)."""
    where = Where()
    where.add(HOSTED_NODES, list(hosted))
    where.add(HOSTED_PREFIXES, [node + "-" for node in hosted])
    if flt.nodes:
        where.add("node_code = any({}::text[])", flt.nodes)
    if flt.providers:
        where.add("provider_code = any({}::text[])", flt.providers)
    if flt.provider_levels:
        if region is None:
            raise ValueError("a provider_levels filter needs the region's code")
        where.add(PROVIDER_LEVEL.format(where.param(region)) + " = any({}::text[])", flt.provider_levels)
    if flt.classifications:
        where.add("classification = any({}::text[])", flt.classifications)
    share_classes = flt.share_classes
    if flt.sharing_catalog:
        share_classes = [c for c in (share_classes or SHARING_CLASSES) if c in SHARING_CLASSES] or ["-"]
        where.add("status = any({}::text[])", ["published"])
    if share_classes:
        where.add("share_class = any({}::text[])", share_classes)
    if flt.share_modes:
        where.add("share_modes && {}::text[]", flt.share_modes)
    if flt.update_cycles:
        where.add("update_cycle = any({}::text[])", flt.update_cycles)
    if flt.statuses and not flt.sharing_catalog:
        where.add("status = any({}::text[])", flt.statuses)
    if flt.keyword is not None:
        keyword = flt.keyword.strip().lower()
        if not keyword:
            raise BadRequest("'keyword' must not be blank")
        if len(keyword) == 2 and CJK.fullmatch(keyword):
            # No trigram in two characters: the CJK bigram index finds the candidates.
            where.add(BIGRAM_MATCH, [keyword])
        elif len(keyword) < 3:
            raise BadRequest("'keyword' needs at least 2 Chinese characters or 3 other characters "
                             "(shorter ones cannot be searched with an index)")
        # search_text is lower-cased at write time; the trigram GIN index serves LIKE '%...%'.
        where.add("search_text like {}", f"%{_escape_like(keyword)}%")
    if after is not None:
        where.add("code > {}", after)
    return where


def databases_for(pools: NodePools, nodes: list[str] | None) -> list[str]:
    topology = pools.topology
    if not nodes:
        return [n.code for n in topology.databases]
    unknown = [n for n in nodes if n not in topology.by_code]
    if unknown:
        raise BadRequest(f"unknown node(s): {', '.join(unknown)}", nodes=unknown)
    return sorted({topology.node(n).database_node for n in nodes})


def select_resources(columns: list[str] | None) -> str:
    """The SELECT head for ``columns`` (all when None); names are checked against the known columns."""
    if columns is None:
        return SELECT_RESOURCES
    unknown = set(columns) - RESOURCE_COLUMN_NAMES
    if unknown:
        raise ValueError(f"not resource columns: {sorted(unknown)}")
    # node and provider always: the service checks every row is its database's own (``hosting``)
    return "select " + ", ".join(dict.fromkeys(["code", "node_code", "provider_code", *columns])) \
        + " from resources where "


# The statement name of a resources page filtered by nodes at most (the federated catalog's first and next
# pages), one of federation.nodes.GENERIC_PLANS: its generic plan is its custom plan's, an index scan in code
# order, at 1,000,000 rows too (tests/resolvers/test_catalog_resource_plans.py), and planning it at every
# execution cost more than running it.
PLAIN_PAGE = "resources.plain_page"
UNHOSTED_ROWS = "UnhostedRows"  # the reason a database's page is left out: it returned rows it does not host


async def fetch_each_own(pools: NodePools, databases: list[str], name: str,
                          statement: Callable[[str], tuple[str, list[Any]]], custom_plans: bool = False,
                          check: Callable[[str, list[asyncpg.Record]], bool] | None = None
                          ) -> dict[str, list[asyncpg.Record] | NodeUnavailable]:
    """One statement per database, concurrently, each with its own arguments; a failed node yields its error.
    ``check(database, rows)``: whether a database's answer may be used, run as soon as it arrives (while
    the others are awaited); one refused yields NodeUnavailable(database, UNHOSTED_ROWS)."""
    async def one(db: str) -> list[asyncpg.Record] | NodeUnavailable:
        sql, args = statement(db)
        try:
            rows = await pools.fetch(db, name, sql, *args, custom_plans=custom_plans)
        except NodeUnavailable as exc:
            return exc
        try:
            if check is not None and not check(db, rows):
                return NodeUnavailable(db, UNHOSTED_ROWS)
        except NodeUnavailable as exc:  # refused for another reason (row_values.INVALID_ROWS)
            return exc
        return rows

    results = await asyncio.gather(*(one(db) for db in databases))
    return dict(zip(databases, results, strict=True))


async def _fetch_from_positions(pools: NodePools, databases: list[str], name: str, after: Positions[str],
                                statement: Callable[[str, str | None], tuple[str, list[Any]]],
                                check: Callable[[str, list[asyncpg.Record]], bool],
                                custom_plans: bool = False) -> dict[str, list[asyncpg.Record] | NodeUnavailable]:
    """One statement per database (``statement(database, position)``), each from its own position, each
    answer checked (``check``) as it arrives."""
    return await fetch_each_own(pools, databases, name, lambda db: statement(db, after.of(db)), custom_plans,
                                check)


def own_resource(pools: NodePools, database: str, row: hosting.Row) -> bool:
    """Whether a resource row read from ``database`` is its own (node, code and provider: ``hosting``);
    logged when it is not."""
    if hosting.owns(pools.topology, database, row["node_code"], row["code"], row["provider_code"],
                    with_provider=True):
        return True
    hosting.dropped(database, "resource", row["code"], row["node_code"], row["provider_code"])
    return False


def own_department(pools: NodePools, database: str, row: hosting.Row) -> bool:
    """Whether a departments row read from ``database`` is its own (node and code); logged when not."""
    if hosting.owns(pools.topology, database, row["node_code"], row["code"]):
        return True
    hosting.dropped(database, "department", row["code"], row["node_code"])
    return False


def text_keys(database: str, rows: Sequence[hosting.Row], what: str, *keys: str) -> bool:
    """Whether ``keys`` hold a text in every row read from ``database``, tested before any of them is compared
    with or looked up among the codes asked (or hashed): a node answering through a view can put a list
    (unhashable) where a code belongs, its own operators in ``public`` making our SQL's ``=`` and ``^@``
    resolve for it (pg_catalog has none for text[] and text, so the pinned search_path does not stop them).
    One C-level pass per key; when one fails, one line is logged and the caller leaves out that database's
    rows of the statement, reported as InvalidRows, as a page is (only that database's rows are lost)."""
    for key in keys:
        kinds = set(map(type, map(itemgetter(key), rows)))
        if not kinds <= {str}:
            logger.warning("database %s answered %s with a %s that is not a text (%s) in %d rows: its rows are "
                           "left out", database, what, key, ", ".join(sorted(k.__name__ for k in kinds - {str})),
                           len(rows))
            return False
    return True


def own_resource_page(pools: NodePools, database: str, rows: list[asyncpg.Record]) -> bool:
    """Whether every row of a resources page read from ``database`` is its own (``own_resource``, in one
    pass: ``hosting.foreign_rows``); every row that is not is logged."""
    foreign = hosting.foreign_rows(pools.topology, database, rows, provider="provider_code")
    for row in foreign:
        hosting.dropped(database, "resource", row["code"], row["node_code"], row["provider_code"])
    return not foreign


def _merged_page(results: dict[str, list[asyncpg.Record] | NodeUnavailable], after: Positions[str],
                 first: int) -> Page:
    """Merge each database's page, checked as it arrived (``fetch_each_own``'s ``check``). A database whose
    page holds a row it does not host (only a dishonest server returns one, its SQL filter having let it
    through) is left out of this page as one that did not answer (NODE_UNAVAILABLE, reason UnhostedRows,
    every such row logged): its rows are missing and it resumes from where it stood, while every other
    database's rows, hasNextPage and cursors are exactly as without it. Dropping only the rows instead would
    let them take the page's places, so that a server's lies could shorten, or end, other nodes' listings."""
    pages: dict[str, list[asyncpg.Record]] = {}
    failed: list[NodeUnavailable] = []
    for db, result in results.items():
        if isinstance(result, NodeUnavailable):
            failed.append(result)
        else:
            pages[db] = result
    merged = merge_resumable(pages, [f.node for f in failed], after, position=lambda r: str(r["code"]),
                             order=lambda code: code, first=first)
    return Page(merged.rows, merged.has_next, failed, _Cursors(merged))


async def resource_page(pools: NodePools, flt: ResourceFilter, first: int, after: Positions[str],
                        columns: list[str] | None = None, related: RelatedColumns | None = None) -> Page:
    """A page merged over the filter's databases. With ``related``, its providers and items too: read in the
    page's own statement when one database serves the page, else in one statement per database holding the
    merged rows (the rows of the other databases' ``first + 1`` are never used)."""
    databases = databases_for(pools, flt.nodes)
    inline = related if related and len(databases) == 1 else None
    head = select_resources(columns)

    def statement(database: str, position: str | None) -> tuple[str, list[Any]]:
        hosted = pools.topology.hosted_on(database)
        where = resource_where(flt, position, hosted, pools.topology.region.code)
        select = head
        if inline is not None:
            related_sql = inline.sql(where.param(list(hosted)) if inline.provider is not None else "")
            select = head.removesuffix(" from resources where ") + related_sql + " from resources where "
        limit = where.param(first + 1)
        return select + where.sql() + ORDER_LIMIT + limit, where.args

    def check(database: str, rows: list[asyncpg.Record]) -> bool:
        if not flt.provider_levels:
            owned = own_resource_page(pools, database, rows)
        else:
            own = _of_provider_levels(flt.provider_levels, pools.topology.region.code)
            owned = all([own(pools, database, row) for row in rows])  # a list: every row refused is logged
        if owned and not row_values.servable_resources(database, rows):
            raise NodeUnavailable(database, row_values.INVALID_ROWS)
        return owned

    # A keyword's pattern decides whether the trigram or bigram index pays: planned for each search. A page
    # filtered by nodes at most, its related rows read apart, is planned once per connection (PLAIN_PAGE).
    name = PLAIN_PAGE if inline is None and flt == ResourceFilter(nodes=flt.nodes) else "resources.page"
    results = await _fetch_from_positions(pools, databases, name, after, statement, check,
                                          custom_plans=flt.keyword is not None)
    page = _merged_page(results, after, first)
    if related:
        await _attach_related(pools, page, related, databases[0] if inline is not None else None)
    return page


def _of_provider_levels(levels: Sequence[str], region: str) -> Callable[[NodePools, str, asyncpg.Record], bool]:
    """``own_resource``, and of a provider level asked for by its provider's code (a server that let another
    through lied about its own SQL, PROVIDER_LEVEL: its page is left out as one with rows it does not host)."""
    def own(pools: NodePools, database: str, row: asyncpg.Record) -> bool:
        if not own_resource(pools, database, row):
            return False
        if facts_from_code(row["provider_code"], region).level not in levels:
            logger.warning("database %s answered resource %s, whose provider %s's level is not one of %s: its "
                           "page is left out", database, row["code"], row["provider_code"], levels)
            return False
        return True

    return own


def _own_provider(pools: NodePools, database: str, provider_code: str, names: Sequence[str],
                  department: Sequence[Any]) -> bool:
    """Whether a provider row read beside a resource on ``database`` is the department its resource names
    and that database's own (``hosting``; ``names``: the row's columns, code and node among them)."""
    code, node = department[names.index("code")], department[names.index("node_code")]
    if code == provider_code and hosting.owns(pools.topology, database, node, code):
        return True
    hosting.dropped(database, "provider", code, node)
    return False


def _related_of(pools: NodePools, rows: Iterable[asyncpg.Record], database: str, related: RelatedColumns,
                asked: Container[str] | None = None) -> tuple[dict[str, Related], set[str]]:
    """The related rows of resource ``rows`` read on ``database`` (only those of codes ``asked``, when
    given), by code; a provider only when the provider's code names this database, and its row is its own.
    Also the provider codes whose row this database answered but does not own (reported, not served)."""
    found: dict[str, Related] = {}
    unhosted: set[str] = set()
    names = related.provider
    items = related.items is not None
    here: dict[str, bool] = {}  # provider code -> its department is on this database (a few per page)
    for row in rows:
        code = row["code"]
        if asked is not None and code not in asked:
            continue
        provider, known = None, False
        if names is not None:
            provider_code = row["provider_code"]
            on_here = here.get(provider_code)
            if on_here is None:
                on_here = here[provider_code] = database_of(pools, provider_code) == database
            known = on_here
            provider = row["provider_row"] if known else None
            if provider is not None and not _own_provider(pools, database, provider_code, names, provider):
                unhosted.add(provider_code)
                provider = None
        found[code] = Related(provider, known, row["item_rows"] if items else [])
    return found, unhosted



async def _attach_related(pools: NodePools, page: Page, related: RelatedColumns, read_on: str | None) -> None:
    """Fill ``page.related``: from the page's own rows where they were read on the database that owns them
    (``read_on``), else with one SELECT_RELATED per database owning any of the rows. A database trusts
    only itself: a row's items come from the resource's own database, its provider only from the provider's."""
    pending: list[str] = []
    own: list[asyncpg.Record] = []
    for row in page.rows:
        if read_on is not None and database_of(pools, row["code"]) == read_on:
            own.append(row)
        else:
            pending.append(row["code"])
    if own:
        page.related.update(_servable_related(page, read_on or "", related,
                                              *_related_of(pools, own, read_on or "", related)))
    if not pending:
        return
    groups = group_by_database(pools, pending)
    sql = related.related_sql("$2")
    hosted = hosted_nodes if related.provider is not None else None
    for (database, codes), result in zip(groups.items(), await _gather_grouped(pools, "resources.related", sql,
                                                                               groups, hosted=hosted),
                                         strict=True):
        if isinstance(result, NodeUnavailable):
            page.related_failures.append((result, codes))
            continue
        if not text_keys(database, result, "resources.related", "code", "provider_code"):
            page.related_failures.append((NodeUnavailable(database, row_values.INVALID_ROWS), codes))
            continue
        # rows already checked on the page; their related rows only from their database
        page.related.update(_servable_related(page, database, related,
                                              *_related_of(pools, result, database, related, set(codes))))


def _servable_related(page: Page, database: str, related: RelatedColumns, found: dict[str, Related],
                      unhosted: set[str] | None = None) -> dict[str, Related]:
    """``found`` without the resources whose items the catalog cannot serve, and without the providers it
    cannot serve (row_values: a provider is then one not found): each is noted as a failure of ``database``
    (InvalidRows), as a related read that failed is, never the whole page's. So are the providers
    ``unhosted`` (``_related_of``): their database answered a row it does not own where its own belongs,
    so a client can tell "no provider" from "the node answered a row it could not serve"."""
    if unhosted:
        page.related_failures.append((InvalidRows(database, sorted(unhosted)), sorted(unhosted)))
    if related.provider is not None:
        providers = {rel.provider[related.provider.index("code")]: rel.provider for rel in found.values()
                     if rel.provider is not None}
        refused_providers = row_values.invalid_providers(database, related.provider, providers) if providers else ()
        if refused_providers:
            code_at = related.provider.index("code")
            for code, rel in found.items():
                if rel.provider is not None and rel.provider[code_at] in refused_providers:
                    found[code] = Related(None, rel.provider_known, rel.items)
            page.related_failures.append((InvalidRows(database, sorted(refused_providers)),
                                          sorted(refused_providers)))
    if related.items is None:
        return found
    names = related.items
    refused = row_values.invalid_item_lists(database, names, {code: rel.items for code, rel in found.items()})
    for code in refused:
        del found[code]
        page.related_failures.append((NodeUnavailable(database, row_values.INVALID_ROWS), [code]))
    return found


async def resource_count(pools: NodePools, flt: ResourceFilter) -> tuple[int, list[NodeUnavailable]]:
    def statement(database: str) -> tuple[str, list[Any]]:
        where = resource_where(flt, None, pools.topology.hosted_on(database), pools.topology.region.code)
        return COUNT_RESOURCES + where.sql(), where.args

    results = await fetch_each_own(pools, databases_for(pools, flt.nodes), "resources.count", statement,
                                    custom_plans=flt.keyword is not None)
    total = sum(r[0]["count"] for r in results.values() if not isinstance(r, NodeUnavailable))
    return total, [r for r in results.values() if isinstance(r, NodeUnavailable)]


def node_of_code(code: str) -> str:
    """Resource and department codes start with the owning node's code."""
    return code[:6]


def group_by_database(pools: NodePools, codes: list[str]) -> dict[str, list[str]]:
    """``codes`` by the database hosting each one's node; a code of no node (no '-' after its first 6
    characters, or an unknown node) is asked of none, as no page lists it."""
    groups: dict[str, list[str]] = {}
    for code in codes:
        node = pools.topology.by_code.get(hosting.node_of(code) or "")
        if node is None:
            continue
        groups.setdefault(node.database_node, []).append(code)
    return groups


async def rows_by_code(pools: NodePools, name: str, sql: str, codes: list[str], key: str = "code",
                       hosted: bool = False, own: Callable[[NodePools, str, asyncpg.Record], bool] | None = None,
                       invalid: Callable[[str, list[asyncpg.Record]], set[str]] | None = None
                       ) -> tuple[dict[str, asyncpg.Record], list[NodeUnavailable]]:
    """One statement per database holding any of ``codes`` (``hosted``: with that database's hosted node
    codes as the second argument); with ``own``, only the rows it finds their database's own (e.g.
    ``own_resource``). Only rows under a code asked of that database are kept; with ``invalid``, not those
    whose values it refuses either (``row_values``: each such database is an InvalidRows failure)."""
    found: dict[str, asyncpg.Record] = {}
    failures: list[NodeUnavailable] = []
    groups = group_by_database(pools, codes)
    results = await _gather_grouped(pools, name, sql, groups, hosted=hosted_nodes if hosted else None)
    for (database, asked), result in zip(groups.items(), results, strict=True):
        if isinstance(result, NodeUnavailable):
            failures.append(result)
            continue
        if not text_keys(database, result, name, key):
            failures.append(InvalidRows(database, sorted(asked)))
            continue
        wanted = set(asked)
        kept = [row for row in result if row[key] in wanted and (own is None or own(pools, database, row))]
        refused = invalid(database, kept) if invalid is not None and kept else None
        if refused:
            failures.append(InvalidRows(database, sorted(refused)))
            kept = [row for row in kept if row[key] not in refused]
        found.update((row[key], row) for row in kept)
    return found, failures


def hosted_nodes(pools: NodePools, database: str) -> tuple[list[str], ...]:
    """The node codes ``database`` hosts: the argument of HOSTED_LOOKUP."""
    return (list(pools.topology.hosted_on(database)),)


def hosted_nodes_and_prefixes(pools: NodePools, database: str) -> tuple[list[str], ...]:
    """The node codes ``database`` hosts, and their codes' prefixes (see HOSTED_PREFIXES)."""
    nodes = list(pools.topology.hosted_on(database))
    return nodes, [node + "-" for node in nodes]


async def _gather_grouped(pools: NodePools, name: str, sql: str, groups: dict[str, list[str]], *extra: Any,
                          hosted: Callable[[NodePools, str], tuple[list[str], ...]] | None = None
                          ) -> list[list[asyncpg.Record] | NodeUnavailable]:
    """``sql`` with each group's codes, then ``extra``, then (``hosted``) its database's own arguments."""
    async def one(db: str, codes: list[str]) -> list[asyncpg.Record] | NodeUnavailable:
        own = hosted(pools, db) if hosted is not None else ()
        try:
            return await pools.fetch(db, name, sql, codes, *extra, *own)
        except NodeUnavailable as exc:
            return exc

    if len(groups) == 1:  # one database (a lookup by code): awaited without gathering a task
        [(db, codes)] = groups.items()
        return [await one(db, codes)]
    return list(await asyncio.gather(*(one(db, codes) for db, codes in groups.items())))


@dataclass(frozen=True)
class ResourceDetails:
    """A resource row with what SELECT_RESOURCE_DETAILS read beside it. ``provider_known`` is false when
    the provider was not asked for or lives on another database (whose own rows are the authority on it:
    the caller loads it from there)."""

    row: asyncpg.Record
    provider: dict[str, Any] | None
    provider_known: bool
    items: list[dict[str, Any]] | None


def database_of(pools: NodePools, code: str) -> str | None:
    node = pools.topology.by_code.get(node_of_code(code))
    return node.database_node if node is not None else None


async def resource_details(pools: NodePools, codes: list[str], provider: bool, items: bool
                           ) -> tuple[dict[str, ResourceDetails], list[NodeUnavailable]]:
    """Resources by code with their provider and items: one statement per database holding any."""
    found: dict[str, ResourceDetails] = {}
    failures: list[NodeUnavailable] = []
    groups = group_by_database(pools, codes)
    for database, result in zip(groups, await _gather_grouped(pools, "resources.details_by_code",
                                                               SELECT_RESOURCE_DETAILS, groups, provider, items,
                                                               hosted=hosted_nodes),
                                strict=True):
        if isinstance(result, NodeUnavailable):
            failures.append(result)
            continue
        if not text_keys(database, result, "resources.details_by_code", "code"):
            failures.append(InvalidRows(database, sorted(groups[database])))
            continue
        asked = set(groups[database])
        rows = [row for row in result if row["code"] in asked and own_resource(pools, database, row)]
        refused = row_values.invalid_resources(database, rows) if rows else set()
        for row in rows:
            if row["code"] in refused:
                continue
            department = row["provider_row"]
            if department is not None and not _own_provider(pools, database, row["provider_code"],
                                                            DEPARTMENT_NAMES, department):
                refused.add(row["provider_code"])  # its database answered a row not its own: reported
                department = None
            if department is not None and row_values.invalid_providers(database, DEPARTMENT_NAMES,
                                                                        {row["provider_code"]: department}):
                refused.add(row["provider_code"])
                department = None
            item_rows = row["item_rows"] if items else None
            if item_rows and not row_values.servable_items(database, row["code"], ITEM_NAMES, item_rows):
                refused.add(row["code"])
                item_rows = []
            found[row["code"]] = ResourceDetails(
                row, dict(zip(DEPARTMENT_NAMES, department, strict=True)) if department is not None else None,
                provider and database_of(pools, row["provider_code"]) == database,
                [dict(zip(ITEM_NAMES, i, strict=True)) for i in item_rows] if item_rows is not None else None)
        if refused:  # rows, providers or items left out: their nodes reported
            failures.append(InvalidRows(database, sorted(refused)))
    return found, failures


async def items_by_resource(pools: NodePools, codes: list[str]
                            ) -> tuple[dict[str, list[asyncpg.Record]], list[NodeUnavailable]]:
    grouped: dict[str, list[asyncpg.Record]] = {code: [] for code in codes}
    failures: list[NodeUnavailable] = []
    groups = group_by_database(pools, codes)
    for (database, asked), result in zip(groups.items(), await _gather_grouped(pools, "items.by_resource",
                                                                               SELECT_ITEMS, groups), strict=True):
        if isinstance(result, NodeUnavailable):
            failures.append(result)
            continue
        if not text_keys(database, result, "items.by_resource", "resource_code"):
            failures.append(InvalidRows(database, sorted(asked)))
            continue
        wanted = set(asked)  # a resource's items only from the database its code names
        for row in result:
            if row["resource_code"] in wanted:
                grouped[row["resource_code"]].append(row)
            else:
                hosting.dropped(database, "item of resource", row["resource_code"], None)
        # a resource with an item the catalog cannot serve loses its items, as beside a page
        refused = row_values.invalid_items(database, [row for row in result if row["resource_code"] in wanted])
        if refused:
            failures.append(InvalidRows(database, sorted(refused)))
            for code in refused:
                grouped[code] = []
    return grouped, failures


async def resources_by_provider(pools: NodePools, providers: list[str], first: int, after: str | None
                                ) -> tuple[dict[str, list[asyncpg.Record]], list[NodeUnavailable]]:
    grouped: dict[str, list[asyncpg.Record]] = {p: [] for p in providers}
    failures: list[NodeUnavailable] = []
    groups = group_by_database(pools, providers)
    for (database, asked), result in zip(groups.items(), await _gather_grouped(
            pools, "resources.by_provider", SELECT_PROVIDER_RESOURCES, groups, after, first + 1,
            hosted=hosted_nodes_and_prefixes), strict=True):
        if isinstance(result, NodeUnavailable):
            failures.append(result)
            continue
        if not text_keys(database, result, "resources.by_provider", "provider", "code"):
            failures.append(InvalidRows(database, sorted(asked)))
            continue
        wanted = set(asked)
        kept = [row for row in result if row["provider"] in wanted and row["provider_code"] == row["provider"]
                and own_resource(pools, database, row)]
        # A provider whose list holds a row the catalog cannot serve loses its list from this database, as a
        # page does (dropping the row alone would let the next take its place and bend hasNextPage).
        invalid = row_values.invalid_resources(database, kept) if kept else set()
        refused = {row["provider"] for row in kept if row["code"] in invalid}
        if refused:
            failures.append(InvalidRows(database, sorted(refused)))
        for row in kept:
            if row["provider"] not in refused:
                grouped[row["provider"]].append(row)
    return grouped, failures


async def departments_by_code(pools: NodePools, name: str, codes: list[str], checked: bool = False
                              ) -> tuple[dict[str, asyncpg.Record], list[NodeUnavailable]]:
    """Departments by code, each asked of the database hosting its code's node (HOSTED_DEPARTMENTS); with
    ``checked``, not those whose values the catalog cannot serve (``row_values``: an InvalidRows failure)."""
    found: dict[str, asyncpg.Record] = {}
    failures: list[NodeUnavailable] = []
    groups = group_by_database(pools, codes)
    for (database, asked), result in zip(groups.items(), await _gather_grouped(
            pools, name, SELECT_DEPARTMENTS, groups, hosted=hosted_nodes_and_prefixes), strict=True):
        if isinstance(result, NodeUnavailable):
            failures.append(result)
            continue
        if not text_keys(database, result, name, "code"):
            failures.append(InvalidRows(database, sorted(asked)))
            continue
        wanted = set(asked)
        kept = [row for row in result if row["code"] in wanted and own_department(pools, database, row)]
        refused = row_values.invalid_departments(database, kept) if checked and kept else None
        if refused:
            failures.append(InvalidRows(database, sorted(refused)))
            kept = [row for row in kept if row["code"] not in refused]
        found.update((row["code"], row) for row in kept)
    return found, failures


async def fetch_each_hosted(pools: NodePools, name: str, sql: str, *args: Any, databases: list[str] | None = None
                            ) -> dict[str, list[asyncpg.Record] | NodeUnavailable]:
    """``sql`` on every database (or ``databases``), concurrently, with ``args`` then that database's hosted
    nodes and their prefixes (the arguments of HOSTED_DEPARTMENTS); a failed node yields its error."""
    wanted = databases if databases is not None else [n.code for n in pools.topology.databases]
    return await fetch_each_own(pools, wanted, name, lambda db: (sql, [*args, *hosted_nodes_and_prefixes(pools, db)]))


async def children_of(pools: NodePools, parents: list[str]
                      ) -> tuple[dict[str, list[asyncpg.Record]], list[NodeUnavailable]]:
    """Children can live on any node (a region bureau's children are prefecture bureaus): asked of every
    database, each serving only the departments it hosts."""
    grouped: dict[str, list[asyncpg.Record]] = {p: [] for p in parents}
    results = await fetch_each_hosted(pools, "departments.children", SELECT_CHILDREN, parents)
    failures = [r for r in results.values() if isinstance(r, NodeUnavailable)]
    for database, result in results.items():
        if isinstance(result, NodeUnavailable):
            continue
        if not text_keys(database, result, "departments.children", "parent_code", "code"):
            failures.append(NodeUnavailable(database, row_values.INVALID_ROWS))  # all its nodes' children
            continue
        kept = [row for row in result if row["parent_code"] in grouped and own_department(pools, database, row)]
        # as a provider's resources: a parent whose children here hold a row that cannot be served loses them
        invalid = row_values.invalid_departments(database, kept) if kept else set()
        refused = {row["parent_code"] for row in kept if row["code"] in invalid}
        if refused:
            failures.append(InvalidRows(database, sorted(invalid)))
        for row in kept:
            if row["parent_code"] not in refused:
                grouped[row["parent_code"]].append(row)
    for rows in grouped.values():
        rows.sort(key=lambda r: r["code"])
    return grouped, failures


@dataclass(frozen=True)
class DepartmentFilter:
    nodes: list[str] | None = None
    levels: list[str] | None = None
    parent: str | None = None


def department_page_statement(flt: DepartmentFilter, hosted: Sequence[str], position: str | None, first: int,
                              region: str) -> tuple[str, list[Any]]:
    """A departments page on one database, which hosts the nodes ``hosted`` (HOSTED_DEPARTMENTS); ``region``
    is the region node's code (levels are the codes', CODE_LEVEL)."""
    where = Where()
    where.add("node_code = any({}::text[])", list(hosted))
    where.add("code ^@ any({}::text[])", [node + "-" for node in hosted])
    if flt.nodes:
        where.add("node_code = any({}::text[])", flt.nodes)
    if flt.levels:
        where.add(CODE_LEVEL.format(where.param(region)) + " = any({}::text[])", flt.levels)
    if flt.parent is not None:
        where.add("parent_code = {}", flt.parent)
    if position is not None:
        where.add("code > {}", position)
    limit = where.param(first + 1)
    return SELECT_DEPARTMENT_PAGE + where.sql() + ORDER_LIMIT + limit, where.args


async def department_page(pools: NodePools, nodes: list[str] | None, levels: list[str] | None,
                          parent: str | None, first: int, after: Positions[str]) -> Page:
    flt = DepartmentFilter(nodes, levels, parent)
    region = pools.topology.region.code

    def statement(database: str, position: str | None) -> tuple[str, list[Any]]:
        return department_page_statement(flt, pools.topology.hosted_on(database), position, first, region)

    def own(pools: NodePools, database: str, row: asyncpg.Record) -> bool:
        """Its database's own, and of a level asked for by its code (a server that let another through
        lied about its own SQL: its page is left out as one with rows it does not host)."""
        if not own_department(pools, database, row):
            return False
        if levels and facts_from_code(row["code"], region).level not in levels:
            logger.warning("database %s answered department %s, whose code's level is not one of %s: its page "
                           "is left out", database, row["code"], levels)
            return False
        return True

    def own_page(database: str, rows: list[asyncpg.Record]) -> bool:
        owned = all([own(pools, database, row) for row in rows])  # a list: every row not hosted is logged
        if owned and not row_values.servable_departments(database, rows):
            raise NodeUnavailable(database, row_values.INVALID_ROWS)
        return owned

    results = await _fetch_from_positions(pools, databases_for(pools, nodes), "departments.page", after, statement,
                                          own_page)
    return _merged_page(results, after, first)
