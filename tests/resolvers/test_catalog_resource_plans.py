"""Resource pages keep their index at 200,000 rows and 1,000,000 (both slow: a few seconds of seeding) with the trust filter
(catalog.HOSTED_PREFIXES): index scans in code order, no sort and no sequential or parallel scan, under
custom and generic plans; the plain page (catalog.PLAIN_PAGE, planned once per connection) has one plan
whatever its values; and the filter still leaves out rows of a node the database does not host. With the
prefixes estimated from the statistics instead, the plain page's generic plan at 1,000,000 rows was a
parallel scan of the whole index (Gather Merge, 20-30 ms instead of 0.05)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.federation.nodes import GENERIC_PLANS, NodePools
from govshare.migrations.runner import migrate
from govshare.resolvers import catalog

from ..conftest import Cluster
from ..helpers import gql

NODE = "650200"
OTHER = "650100"  # a node this database does not host: 500 rows under its codes, naming NODE, planted
REGION = "650000"
ROWS = 200_000
FILL = """
insert into resources (code, node_code, classification, category, name_zh, provider_code, provider_level, format,
                       update_cycle, share_class, open_attribute, status, legal_basis)
select '{NODE}-D' || lpad((i % 90)::text, 2, '0') || '-' || lpad(i::text, 7, '0'), '{NODE}', 'department', 'x',
       '资源' || i, '{NODE}-' || case when i % 7 = 0 then 'GA' else 'MZ' end, 'prefecture', 'table', 'daily',
       (array['UNCONDITIONAL', 'CONDITIONAL', 'NOT_SHARED'])[1 + i % 3], 'open',
       case when i % 5 = 0 then 'draft' else 'published' end, 'law'
from generate_series(1, {rows}) i;
insert into resources (code, node_code, classification, category, name_zh, provider_code, provider_level, format,
                       update_cycle, share_class, open_attribute, status)
select '{OTHER}-D01-' || lpad(i::text, 7, '0'), '{NODE}', 'department', 'x', '冒名' || i, '{NODE}-MZ',
       'prefecture', 'table', 'daily', 'UNCONDITIONAL', 'open', 'published'
from generate_series(1, 500) i;
analyze resources"""


@pytest.fixture(scope="module", params=[pytest.param(ROWS, marks=pytest.mark.slow), pytest.param(1_000_000, marks=pytest.mark.slow)], ids=str)
async def big_resources(cluster: Cluster, request: pytest.FixtureRequest) -> AsyncIterator[asyncpg.Connection]:
    name = f"resources_{uuid.uuid4().hex[:10]}"
    server = cluster.servers[NODE]
    admin = await asyncpg.connect(server.dsn())
    await admin.execute(f"create database {name}")
    conn = await asyncpg.connect(server.dsn(name))
    try:
        await migrate(conn)
        await conn.execute(FILL.format(rows=request.param, NODE=NODE, OTHER=OTHER))
        yield conn
    finally:
        await conn.close()
        await admin.execute(f"drop database {name} with (force)")
        await admin.close()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


async def _plan(conn: asyncpg.Connection, sql: str, args: list[Any], mode: str) -> list[dict[str, Any]]:
    """The plan a prepared ``sql`` runs with under ``mode``. EXPLAIN EXECUTE of a prepared statement shows
    its cached plan (a generic one under force_generic_plan); an EXPLAIN of the statement itself would
    plan it for the values given, custom whatever the mode."""
    await conn.execute(f"set plan_cache_mode = {mode}")
    await conn.execute("prepare page as " + sql)
    try:
        # EXECUTE takes no parameters of its own: each value as a literal, quoted by the server
        literals = [str(a) if isinstance(a, int) else await conn.fetchval(
            "select quote_literal($1::text[]::text)" if isinstance(a, list) else "select quote_literal($1::text)", a)
            for a in args]
        raw = await conn.fetchval(f"explain (format json) execute page({', '.join(literals)})")
    finally:
        await conn.execute("deallocate page")
    return _nodes(json.loads(raw)[0]["Plan"])


PAGES = {
    "every resource": catalog.ResourceFilter(),
    "one node": catalog.ResourceFilter(nodes=[NODE]),
    "one provider": catalog.ResourceFilter(providers=[f"{NODE}-GA"]),
    "conditional": catalog.ResourceFilter(share_classes=["CONDITIONAL"]),
    "sharing catalog": catalog.ResourceFilter(sharing_catalog=True),
}
SCANS_IN_ORDER = {"Index Scan", "Index Only Scan"}


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("page", PAGES)
async def test_resource_pages_stay_on_an_index_in_code_order(big_resources: asyncpg.Connection, page: str,
                                                             mode: str) -> None:
    for position in (None, f"{NODE}-D44-0100000"):
        where = catalog.resource_where(PAGES[page], position, [NODE], REGION)
        limit = where.param(51)
        sql = catalog.select_resources(["name_zh"]) + where.sql() + catalog.ORDER_LIMIT + limit
        kinds = {n["Node Type"] for n in await _plan(big_resources, sql, where.args, mode)}
        assert kinds & SCANS_IN_ORDER and not kinds & {"Seq Scan", "Sort", "Gather", "Gather Merge"}, \
            (page, position, mode, kinds)
        rows = await big_resources.fetch(sql, *where.args)
        assert len(rows) == 51 and all(r["code"].startswith(NODE + "-") and r["code"] > (position or "") for r in rows)


async def test_the_plain_page_has_one_plan_planned_once(big_resources: asyncpg.Connection) -> None:
    assert catalog.PLAIN_PAGE in GENERIC_PLANS
    where = catalog.resource_where(catalog.ResourceFilter(), None, [NODE], REGION)
    limit = where.param(51)
    sql = catalog.select_resources(["name_zh"]) + where.sql() + catalog.ORDER_LIMIT + limit
    generic = await _plan(big_resources, sql, where.args, "force_generic_plan")
    custom = await _plan(big_resources, sql, where.args, "force_custom_plan")
    shape = [(n["Node Type"], n.get("Index Name")) for n in generic]
    assert shape == [(n["Node Type"], n.get("Index Name")) for n in custom]
    assert shape == [("Limit", None), ("Index Scan", "resources_pkey")]


async def test_the_filter_leaves_out_rows_the_database_does_not_host(big_resources: asyncpg.Connection) -> None:
    where = catalog.resource_where(catalog.ResourceFilter(), None, [NODE], REGION)
    sql = catalog.COUNT_RESOURCES + where.sql()
    rows = await big_resources.fetchval("select count(*) from resources") - 500
    assert await big_resources.fetchval(sql, *where.args) == rows  # not the 500 rows under codes of 650100
    await big_resources.execute(f"update resources set provider_code = '{OTHER}-MZ' where code = "
                                f"'{NODE}-D01-0000001'")
    try:
        assert await big_resources.fetchval(sql, *where.args) == rows - 1  # a provider of another node
    finally:
        await big_resources.execute(f"update resources set provider_code = '{NODE}-MZ' where code = "
                                    f"'{NODE}-D01-0000001'")


PAGE = "{ resources(first: 5%s) { edges { node { code provider { name } dataItems { name } } } } }"


@pytest.mark.parametrize(("arguments", "expected"), [
    ("", catalog.PLAIN_PAGE),
    (', filter: {nodes: ["650100", "650200"]}', catalog.PLAIN_PAGE),
    (', filter: {classifications: [BASIC]}', "resources.page"),  # other filters: planned for their values
    (', filter: {nodes: ["650100"]}', "resources.page"),  # one database: related rows read in its statement
])
async def test_which_pages_are_plain(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, arguments: str,
                                     expected: str) -> None:
    pools: NodePools = client.app.state.pools  # type: ignore[attr-defined]
    names: list[str] = []
    fetch = pools.fetch

    async def recorded(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        names.append(name)
        return await fetch(database, name, sql, *args, **kwargs)

    monkeypatch.setattr(pools, "fetch", recorded)
    body, _ = await gql(client, PAGE % arguments)
    assert "errors" not in body and body["data"]["resources"]["edges"], body
    pages = [n for n in names if n in {catalog.PLAIN_PAGE, "resources.page"}]
    assert pages and set(pages) == {expected}, names
