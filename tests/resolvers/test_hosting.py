"""Whether a row read from a node database is that database's own (resolvers/hosting.py)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from govshare.core.errors import UnknownDepartment
from govshare.federation.nodes import NodePools
from govshare.federation.topology import Topology
from govshare.resolvers.catalog import (
    HOSTED_DEPARTMENTS,
    DepartmentFilter,
    ResourceFilter,
    department_page_statement,
    resource_where,
)
from govshare.resolvers.groups import load_memberships
from govshare.resolvers.hosting import belongs, foreign_rows, node_of, own_rows, owns
from govshare.server.databases import SERVICE_LOGIN
from govshare.server.departments import KnownDepartments

from ..conftest import DATABASE, TOPOLOGY, Cluster
from ..schema.test_catalog_reads_edge_cases import _fresh, _send
from . import test_catalog as catalog_tests
from . import test_catalog_departments as department_tests

INSERT_DEPARTMENT = """insert into departments (code, node_code, level, parent_code, division_code, name_zh, sector)
    values ($1, $2, $3, null, $2, '冒名部门', $4)"""

REGION = "650000"  # hosts 654300 and 653000 in the test topology


@pytest.fixture(scope="module")
def topology() -> Topology:
    return Topology.load(TOPOLOGY)


@pytest.mark.parametrize(("code", "node"), [
    ("650200-GA", "650200"), ("650200-", "650200"), ("650200-Z97-000001", "650200"),
    ("6502001-Z-000001", None), ("650200", None), ("65020", None), ("", None), (" 650200-GA", None),
    ("\uff16\uff15\uff10\uff12\uff10\uff10-GA", None), (None, None), (650200, None),
])
def test_a_code_belongs_to_the_six_characters_before_its_dash(code: object, node: str | None) -> None:
    assert node_of(code) == node
    assert belongs(code, ["650200"]) is (node == "650200")


@pytest.mark.parametrize(("database", "node", "code", "provider", "own"), [
    ("650200", "650200", "650200-Z-1", "650200-GA", True),
    ("650200", "650200", "650000-GA", None, False),          # an impostor of the region's department
    ("650200", "650200", "650200-Z-1", "650000-GA", False),  # a foreign provider
    ("650200", "650100", "650200-Z-1", "650200-GA", False),  # a foreign node
    ("650200", "650200", "6502001-Z-1", "650200-GA", False),  # no '-' after the node
    ("650200", "650200", "650200-Z-1", "6502001-GA", False),
    ("650100", "650200", "650200-Z-1", "650200-GA", False),
    (REGION, "654300", "654300-B01-1", "650000-GA", True),  # nodes the region database hosts
    (REGION, REGION, "653000-GA", None, True),
    (REGION, "654300", "650200-B01-1", "654300-GA", False),  # 650200 has a database of its own
    (REGION, None, "650000-GA", None, False),
])
def test_a_row_is_its_databases_own_when_its_node_code_and_provider_are_hosted_there(
        topology: Topology, database: str, node: str | None, code: str, provider: str | None, own: bool) -> None:
    assert owns(topology, database, node, code, provider, with_provider=provider is not None) is own


def test_rows_not_owned_are_dropped_and_logged_naming_the_database(
        topology: Topology, caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"code": "650200-Z-1", "node_code": "650200", "provider_code": "650200-GA"},
            {"code": "650000-GA", "node_code": "650200", "provider_code": "650200-GA"},
            {"code": "650200-Z-2", "node_code": "650200", "provider_code": "650000-GA"},
            {"code": "650200-Z-3", "node_code": "650200", "provider_code": "650200-CA-GA"}]
    with caplog.at_level(logging.WARNING, logger="govshare.hosting"):
        kept = own_rows(topology, "650200", rows, "resource", provider="provider_code")
        departments = own_rows(topology, "650200", rows, "department")
    assert kept == [rows[0], rows[3]]
    assert departments == [rows[0], rows[2], rows[3]]  # no provider asked for: only node and code
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3
    assert all("database 650200" in w and "dropped" in w for w in warnings)
    assert "'650000-GA'" in warnings[0] and "'650200-Z-2'" in warnings[1]


OWNERSHIP_CASES = [  # (node, code, provider): rows of every kind owns() tells apart, on 650200 and the region
    ("650200", "650200-Z-1", "650200-GA"), ("650200", "650000-GA", "650200-GA"), ("650200", "650200-Z-1", "650000-GA"),
    ("650100", "650200-Z-1", "650200-GA"), ("650200", "6502001-Z-1", "650200-GA"), ("650200", "650200-Z-1", "6502001-GA"),
    ("654300", "654300-B01-1", "650000-GA"), ("650000", "653000-GA", "650000-GA"), ("654300", "650200-B01-1", "654300-GA"),
    ("654300", "654300-B01-2", "650200-GA"),
    (None, "650000-GA", "650000-GA"), ("650200", None, "650200-GA"), ("650200", "650200-Z-1", None),
    (["650200"], "650200-Z-1", "650200-GA"), ("650200", 650200, "650200-GA"), ("650200", "650200", "650200-GA"),
    ("650200", "\uff16\uff15\uff10\uff12\uff10\uff10-Z-1", "650200-GA"), ("650200", " 650200-Z-1", "650200-GA"),
]


@pytest.mark.parametrize("database", ["650200", REGION])
def test_a_pages_foreign_rows_are_exactly_those_owns_refuses(topology: Topology, database: str) -> None:
    rows = [{"node_code": n, "code": c, "provider_code": p} for n, c, p in OWNERSHIP_CASES]
    with_provider = [r for r in rows if not owns(topology, database, r["node_code"], r["code"], r["provider_code"],
                                                 with_provider=True)]
    without = [r for r in rows if not owns(topology, database, r["node_code"], r["code"])]
    assert foreign_rows(topology, database, rows, provider="provider_code") == with_provider
    assert foreign_rows(topology, database, rows) == without
    assert 0 < len(with_provider) < len(rows) and len(without) < len(with_provider)  # the cases tell them apart
    own = [r for r in rows if r not in with_provider]
    assert own and foreign_rows(topology, database, own, provider="provider_code") == []
    for row in with_provider:  # one row not its own among its own is found wherever it stands
        for at in (0, len(own)):
            page = [*own[:at], row, *own[at:]]
            assert foreign_rows(topology, database, page, provider="provider_code") == [row]


# --- A dishonest server: 650200's owner makes its own PostgreSQL pass rows the SQL filters refuse ------------
# (review-trust2 finding 1). The service checks every row again (hosting.py), so the answers stay exactly
# those of an honest server, and the search_path of its connections is pinned (federation/nodes.py).

DISHONEST = "650200"
EVIL_OPERATOR = [  # the reviewer's probe: a text ^@ text of its own, found first by the login's search_path
    "create function public.rt3_always(text, text) returns boolean language sql immutable as 'select true'",
    "create operator public.^@ (leftarg = text, rightarg = text, function = public.rt3_always)",
    f"alter role {SERVICE_LOGIN} in database {DATABASE} set search_path = public, pg_catalog",
]
UNDO_EVIL_OPERATOR = [
    f"alter role {SERVICE_LOGIN} in database {DATABASE} reset search_path",
    "drop operator if exists public.^@ (text, text)",
    "drop function if exists public.rt3_always(text, text)",
]


@asynccontextmanager
async def _evil_search_path(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    conn = await cluster.connect(DISHONEST)
    try:
        for sql in EVIL_OPERATOR:
            await conn.execute(sql)
        yield conn
    finally:
        for sql in UNDO_EVIL_OPERATOR:
            await conn.execute(sql)
        await conn.close()


def _dishonest_columns(table: str, passes: list[str]) -> tuple[list[str], list[str]]:
    """``table``'s code columns typed as a domain whose ^@ (an exact signature: chosen over pg_catalog's
    whatever the search_path) lets ``passes`` through every prefix test, and its node_code as one whose =
    lets nodes 650000 and 650100 through every node test."""
    assert "'" not in "".join(passes)
    listed = ", ".join(f"'{code}'" for code in passes)  # test constants
    codes = ["code", "provider_code"] if table == "resources" else ["code"]
    attack = [
        "create domain rt3_code as text",
        "create domain rt3_node as text",
        "create function public.rt3_prefix(rt3_code, text) returns boolean language sql immutable as "
        f"$$select pg_catalog.starts_with($1::text, $2) or $1::text = any(array[{listed}])$$",
        "create operator public.^@ (leftarg = rt3_code, rightarg = text, function = public.rt3_prefix)",
        "create function public.rt3_equal(rt3_node, text) returns boolean language sql immutable as "
        "$$select $1::text operator(pg_catalog.=) $2 or $1::text = any(array['650000', '650100'])$$",
        "create operator public.= (leftarg = rt3_node, rightarg = text, function = public.rt3_equal)",
        f"alter table {table} " + ", ".join(f"alter column {c} type rt3_code" for c in codes)
        + ", alter column node_code type rt3_node",
    ]
    undo = [
        f"alter table {table} " + ", ".join(f"alter column {c} type text" for c in [*codes, "node_code"]),
        "drop operator if exists public.= (rt3_node, text)",
        "drop operator if exists public.^@ (rt3_code, text)",
        "drop function if exists public.rt3_equal(rt3_node, text)",
        "drop function if exists public.rt3_prefix(rt3_code, text)",
        "drop domain if exists rt3_node",
        "drop domain if exists rt3_code",
    ]
    return attack, undo


@asynccontextmanager
async def _dishonest_server(cluster: Cluster, table: str, passes: list[str]) -> AsyncIterator[None]:
    attack, undo = _dishonest_columns(table, passes)
    conn = await cluster.connect(DISHONEST)
    try:
        for sql in attack:
            await conn.execute(sql)
        yield
    finally:
        try:
            for sql in undo:
                await conn.execute(sql)
        finally:
            await conn.close()


async def test_a_server_whose_login_finds_its_own_operator_first_changes_no_groups(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    real = (await load_memberships(pools)).groups_of("650000-GA")
    assert {"level:region", "node:650000", "sector:government"} <= real
    async with _evil_search_path(cluster) as conn:
        await conn.execute(INSERT_DEPARTMENT, "650000-GA", DISHONEST, "prefecture", "institution")
        try:
            fresh = NodePools(cluster.service_topology, timeout=2.0, max_size=2)  # connections made now
            try:
                await fresh.open()
                memberships = await load_memberships(fresh)
                listed = await fresh.fetch(DISHONEST, "probe", "select code from departments where "
                                           + HOSTED_DEPARTMENTS.format("$1", "$2"), [DISHONEST], [DISHONEST + "-"])
                path = await fresh.fetch(DISHONEST, "probe", "select current_setting('search_path') as path")
            finally:
                await fresh.close()
        finally:
            await conn.execute("delete from departments where code = '650000-GA'")
    assert memberships.groups_of("650000-GA") == real
    assert path[0]["path"] == "pg_catalog, public, pg_temp"  # the pool's, not the login's
    assert "650000-GA" not in {r["code"] for r in listed}  # pg_catalog's ^@ ran


@pytest.fixture
async def providers(cluster: Cluster) -> catalog_tests.Providers:
    """As test_catalog's: a department of 650200 and one of 650100."""
    codes = []
    for node in (DISHONEST, "650100"):
        conn = await cluster.connect(node)
        try:
            codes.append(await conn.fetchval("select min(code) from departments where node_code = $1", node))
        finally:
            await conn.close()
    return catalog_tests.Providers(*codes)


async def _answers(client: httpx.AsyncClient, queries: list[str]) -> dict[str, httpx.Response]:
    return {q: await _send(client, _fresh(q)) for q in queries}


LEFT_OUT = {"code": "NODE_UNAVAILABLE", "node": DISHONEST, "reason": "UnhostedRows"}
CODES = re.compile(r'"code":"([^"]*)"')


def _served_as_by_an_honest_server(before: dict[str, httpx.Response], after: dict[str, httpx.Response],
                                   planted: list[str]) -> list[str]:
    """The queries answered otherwise than ``before`` (an honest server's answers), except pages that left
    650200 out as not answering (UnhostedRows) and list none of its rows; with how each differs."""
    wrong = []
    for query, answer in after.items():
        body, codes = answer.json(), set(CODES.findall(answer.text))
        if "冒名" in answer.text or codes & set(planted):
            wrong.append(f"{query}\n  serves a planted row: {answer.text[:500]}")
        elif answer.content == before[query].content:
            assert answer.headers["x-govshare-statements"] == before[query].headers["x-govshare-statements"]
        elif not (body.get("errors") and all(e["extensions"] == LEFT_OUT for e in body["errors"])
                  and not any(code.startswith(DISHONEST + "-") for code in codes)):
            wrong.append(f"{query}\n  before {before[query].text[:500]}\n  after  {answer.text[:500]}")
    return wrong


async def test_resources_a_dishonest_server_passes_through_its_own_filter_are_served_nowhere(
        client: httpx.AsyncClient, cluster: Cluster, providers: catalog_tests.Providers,
        caplog: pytest.LogCaptureFixture) -> None:
    """Resources under another node's code, naming another node's provider or another node: 650200's server
    lets them through its filters (operators of its own on the columns' types, which a pinned search_path
    does not stop). Every lookup answers as without them, every page either so or leaving 650200 out."""
    queries = catalog_tests._lane_queries(providers) + catalog_tests._core_queries(providers)
    before = await _answers(client, queries)
    async with catalog_tests._planted(cluster, providers), \
            _dishonest_server(cluster, "resources", [*catalog_tests.PLANTED, providers.other]):
        # the attack works: a page statement of the service on 650200 returns the planted rows
        where = resource_where(ResourceFilter(), None, [DISHONEST])
        pools = client.app.state.pools  # type: ignore[attr-defined]
        through = {r["code"] for r in await pools.fetch(DISHONEST, "probe", "select code from resources where "
                                                         + where.sql(), *where.args)}
        assert set(catalog_tests.PLANTED) <= through
        with caplog.at_level(logging.WARNING, logger="govshare.hosting"):
            after = await _answers(client, queries)
    wrong = _served_as_by_an_honest_server(before, after, catalog_tests.PLANTED)
    assert not wrong, "\n".join(wrong)
    left_out = [q for q in queries if after[q].content != before[q].content]
    assert left_out and all("resources(" in q or "sharingCatalog(" in q for q in left_out)
    assert after[queries[-1]].json() == before[queries[-1]].json()  # _entities: both null
    warnings = [r.getMessage() for r in caplog.records if r.name == "govshare.hosting"]
    assert warnings and all("database 650200" in w for w in warnings)
    assert {code for code in catalog_tests.PLANTED if any(repr(code) in w for w in warnings)} \
        == set(catalog_tests.PLANTED)


async def test_departments_a_dishonest_server_passes_through_its_own_filter_give_nothing(
        client: httpx.AsyncClient, cluster: Cluster, caplog: pytest.LogCaptureFixture) -> None:
    """Departments (an impostor of the region's 650000-GA, another prefecture's code, another node) let
    through 650200's filters: no lookup, tree, membership or known department changes; pages answer as
    without them or leave 650200 out."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    queries = department_tests.QUERIES
    real = (await load_memberships(pools)).groups_of(department_tests.IMPOSTOR)
    before = await _answers(client, queries)
    async with department_tests._planted(cluster), \
            _dishonest_server(cluster, "departments", department_tests.PLANTED):
        sql, args = department_page_statement(DepartmentFilter(), [DISHONEST], None, 100, "650000")
        through = {r["code"] for r in await pools.fetch(DISHONEST, "probe", sql, *args)}
        assert set(department_tests.PLANTED) <= through  # the attack works
        with caplog.at_level(logging.WARNING, logger="govshare.hosting"):
            after = await _answers(client, queries)
            memberships = await load_memberships(pools)
            known = KnownDepartments(pools)
            await known.refresh()
            for code in (department_tests.FOREIGN_CODE, department_tests.FOREIGN_NODE):
                with pytest.raises(UnknownDepartment):
                    await known.check(code)
    wrong = _served_as_by_an_honest_server(before, after, [department_tests.FOREIGN_CODE,
                                                            department_tests.FOREIGN_NODE])
    assert not wrong, "\n".join(wrong)
    assert memberships.groups_of(department_tests.IMPOSTOR) == real
    assert not {department_tests.FOREIGN_CODE, department_tests.FOREIGN_NODE} & set(memberships.departments)
    warnings = [r.getMessage() for r in caplog.records if r.name == "govshare.hosting"]
    assert warnings and all("database 650200" in w for w in warnings)
