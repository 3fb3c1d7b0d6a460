"""A node's catalog is trusted only about its own database (resolvers/catalog.py): rows a database lists under
another database's resource code, or naming another database's provider or node, are served by no catalog
listing or lookup, on graphql-core's path and on the catalog lane alike; legitimate answers do not change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from ..conftest import Cluster
from ..schema.test_catalog_reads_edge_cases import _fresh, _send, both

PLANTED_IN = "650200"
FOREIGN_CODE = "650100-Z97-000001"  # a 650100 code, listed by 650200's database
FOREIGN_PROVIDER = "650200-Z98-000001"  # 650200's code, naming a 650100 department as its provider
FOREIGN_NODE = "650200-Z99-000001"  # 650200's code and provider, naming node 650100
PLANTED = [FOREIGN_CODE, FOREIGN_PROVIDER, FOREIGN_NODE]
INSERT = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status)
    values ($1, $3, 'department', 'test', '冒名条目', $2, 'prefecture', 'database', 'daily', 'UNCONDITIONAL',
            'open', 'published')"""
INSERT_ITEM = """insert into data_items (resource_code, name, position, title_zh, data_type, share_class)
    values ($1, 'planted', 1, '冒名数据项', 'string', 'UNCONDITIONAL')"""


@dataclass(frozen=True)
class Providers:
    own: str  # a department of 650200 (the planted database)
    other: str  # a department of 650100 (another database)


@pytest.fixture
async def providers(cluster: Cluster) -> Providers:
    own = await cluster.connect(PLANTED_IN)
    other = await cluster.connect("650100")
    try:
        return Providers(await own.fetchval("select min(code) from departments where node_code = '650200'"),
                         await other.fetchval("select min(code) from departments where node_code = '650100'"))
    finally:
        await own.close()
        await other.close()


@asynccontextmanager
async def _planted(cluster: Cluster, providers: Providers) -> AsyncIterator[None]:
    conn = await cluster.connect(PLANTED_IN)
    try:
        assert await conn.fetchval("select count(*) from resources where code = any($1::text[])",
                                   PLANTED) == 0
        async with conn.transaction():
            await conn.execute(INSERT, FOREIGN_CODE, providers.own, PLANTED_IN)
            await conn.execute(INSERT, FOREIGN_PROVIDER, providers.other, PLANTED_IN)
            await conn.execute(INSERT, FOREIGN_NODE, providers.own, "650100")
            for code in PLANTED:
                await conn.execute(INSERT_ITEM, code)
        yield
    finally:
        await conn.execute("delete from data_items where resource_code = any($1::text[])", PLANTED)
        await conn.execute("delete from resources where code = any($1::text[])", PLANTED)
        await conn.close()


PAGE = "totalCount edges { cursor node { code providerCode provider { code } dataItems { name } } } " \
       "pageInfo { hasNextPage endCursor } unavailableNodes"


def _lane_queries(providers: Providers) -> list[str]:
    """Documents the catalog lane answers (compared with graphql-core by ``both``)."""
    return [
        f'{{ resources(first: 200, filter: {{nodes: ["{PLANTED_IN}"]}}) {{ {PAGE} }} }}',
        f'{{ sharingCatalog(first: 200, filter: {{nodes: ["{PLANTED_IN}"]}}) {{ {PAGE} }} }}',
        # 650100-Z97-... sorts before every 650200 code: a page cut right after it
        f'{{ resources(first: 2, filter: {{nodes: ["{PLANTED_IN}"]}}) {{ {PAGE} }} }}',
        # over every database, by the providers the planted rows name
        f'{{ resources(first: 3, filter: {{providers: ["{providers.own}", "{providers.other}"]}}) {{ {PAGE} }} }}',
        f'{{ sharingCatalog(first: 50, filter: {{providers: ["{providers.other}"]}}) {{ {PAGE} }} }}',
        f'{{ resources(first: 5, filter: {{keyword: "冒名"}}) {{ {PAGE} }} }}',
        f'{{ resources(first: 5, filter: {{keyword: "冒名条"}}) {{ {PAGE} }} }}',
        f'{{ resource(code: "{FOREIGN_PROVIDER}") {{ code name providerCode }} }}',
        f'{{ resource(code: "{FOREIGN_PROVIDER}") {{ code provider {{ code }} dataItems {{ name }} }} }}',
        f'{{ resource(code: "{FOREIGN_CODE}") {{ code name }} }}',
        f'{{ resource(code: "{FOREIGN_CODE}") {{ code provider {{ code }} }} }}',
        f'{{ resource(code: "{FOREIGN_NODE}") {{ code node }} }}',
        f'{{ resource(code: "{FOREIGN_NODE}") {{ code node dataItems {{ name }} }} }}',
        '{ resources(first: 200, filter: {nodes: ["650100"]}) { totalCount edges { node { code } } } }',
    ]


def _core_queries(providers: Providers) -> list[str]:
    """Documents graphql-core answers alone (a provider's resources, federation entities)."""
    return [
        f'{{ department(code: "{providers.own}") {{ resources(first: 100) {{ edges {{ node {{ code }} }} '
        f'pageInfo {{ hasNextPage }} }} }} }}',
        f'{{ department(code: "{providers.other}") {{ resources(first: 100) {{ edges {{ node {{ code }} }} '
        f'pageInfo {{ hasNextPage }} }} }} }}',
        f'{{ _entities(representations: [{{__typename: "Resource", code: "{FOREIGN_PROVIDER}"}}, '
        f'{{__typename: "Resource", code: "{FOREIGN_NODE}"}}]) {{ ... on Resource {{ code name }} }} }}',
    ]


async def test_planted_foreign_rows_are_served_by_no_listing_or_lookup_on_either_path(
        client: httpx.AsyncClient, cluster: Cluster, providers: Providers) -> None:
    lane_queries, core_queries = _lane_queries(providers), _core_queries(providers)
    before = {q: await _send(client, _fresh(q)) for q in lane_queries + core_queries}
    for answer in before.values():
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    after: dict[str, httpx.Response] = {}
    async with _planted(cluster, providers):
        for query in lane_queries:
            after[query], _ = await both(client, query)  # asserts the lane's answer is graphql-core's, statements too
        for query in core_queries:
            after[query] = await _send(client, _fresh(query))
    for query in lane_queries + core_queries:
        served = [code for code in PLANTED if code in after[query].text]
        assert not served, f"{query} serves {served}"
        assert after[query].content == before[query].content, f"{query} changed: {after[query].text[:300]}"
        assert after[query].headers["x-govshare-statements"] == before[query].headers["x-govshare-statements"]
    # the answers are real ones: the pages list 650200's resources, the lookups answer null
    first_page = after[lane_queries[0]].json()["data"]["resources"]
    assert first_page["totalCount"] == len(first_page["edges"]) > 0
    assert after[lane_queries[7]].json() == {"data": {"resource": None}}
    assert after[core_queries[0]].json()["data"]["department"]["resources"]["edges"]



async def test_a_code_without_its_node_s_dash_is_served_by_no_lookup(client: httpx.AsyncClient, cluster: Cluster,
                                                                     providers: Providers) -> None:
    # Pages test codes with the prefix 'NNNNNN-' (a code's node is its first 6 characters, before a '-'):
    # lookups by code hold the same rule, so a row the pages do not list is not served by code either.
    code = "650200Z96-000001"
    conn = await cluster.connect(PLANTED_IN)
    try:
        await conn.execute(INSERT, code, providers.own, PLANTED_IN)
        answers = [(await both(client, f'{{ resource(code: "{code}") {{ code {fields} }} }}'))[1]
                   for fields in ("name", "provider { code } dataItems { name }")]
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
    assert [a.json() for a in answers] == [{"data": {"resource": None}}] * 2


async def test_a_lookup_serves_only_codes_a_page_would_list(client: httpx.AsyncClient, cluster: Cluster,
                                                           providers: Providers) -> None:
    # review-trust2 finding 7: the first 6 characters are 650200's, but no '-' follows them, so the code is
    # no node's: no page lists it (code ^@ '650200-'), and no lookup or entity serves it either.
    code = "6502001-Z-000001"
    queries = [f'{{ resource(code: "{code}") {{ code name }} }}',
               f'{{ resource(code: "{code}") {{ code provider {{ code }} dataItems {{ name }} }} }}']
    entities = (f'{{ _entities(representations: [{{__typename: "Resource", code: "{code}"}}]) '
                '{ ... on Resource { code } } }')
    page = f'{{ resources(first: 100, filter: {{nodes: ["{PLANTED_IN}"]}}) {{ totalCount edges {{ node {{ code }} }} }} }}'
    conn = await cluster.connect(PLANTED_IN)
    try:
        await conn.execute(INSERT, code, providers.own, PLANTED_IN)
        await conn.execute(INSERT_ITEM, code)
        looked_up = [(await both(client, query))[0].json() for query in queries]
        entity = (await _send(client, _fresh(entities))).json()
        listed = (await _send(client, _fresh(page))).json()
    finally:
        await conn.execute("delete from data_items where resource_code = $1", code)
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
    assert code not in str(listed) and listed["data"]["resources"]["edges"]
    assert looked_up == [{"data": {"resource": None}}] * 2
    assert entity == {"data": {"_entities": [None]}}


HOSTED_ENTRY = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status, data_table, data_scope, api_name,
    share_modes)
    values ($1, '654300', 'department', 'population', '阿勒泰人口', $2, 'region', 'database', 'daily',
            'UNCONDITIONAL', 'open', 'published', 'population', 'provider', $3, '{interface}')"""
HOSTED_ITEM = """insert into data_items (resource_code, name, position, title_zh, data_type, share_class, is_key)
    values ($1, 'citizen_id', 0, '公民身份号码', 'string', 'UNCONDITIONAL', true)"""


async def test_the_catalog_and_the_data_api_serve_the_same_entries_of_a_hosted_prefecture(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    # review-trust2 finding 8. The region database hosts 654300: its entry naming the region's 650000-GA as
    # provider names only nodes of that database, so the catalog and the data API both serve it (README
    # trust model); one naming 650100-GA (another database's department) is served by neither.
    served, refused = "654300-B01-990097", "654300-B01-990098"
    catalog_query = (f'{{ a: resource(code: "{served}") {{ code provider {{ code }} }} '
                     f'b: resource(code: "{refused}") {{ code }} '
                     'sharingCatalog(first: 10, filter: {nodes: ["654300"], providers: ["650000-GA", "650100-GA"]}) '
                     '{ totalCount edges { node { code } } } }')

    def data_api() -> set[str]:
        specs = client.app.state.schemas.current.specs  # type: ignore[attr-defined]
        return {s.code for s in specs} & {served, refused}

    async def schema_has(codes: set[str]) -> None:
        for _ in range(100):
            findings = (await client.get("/readyz")).json()["schema"]["catalog_findings"]
            if data_api() == codes and (refused in {f["resource"] for f in findings}) == bool(codes):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the schema was not rebuilt: {data_api()} instead of {codes}")

    conn = await cluster.connect("650000")
    try:
        async with conn.transaction():
            await conn.execute(HOSTED_ENTRY, served, "650000-GA", "rt3AltayServed")
            await conn.execute(HOSTED_ENTRY, refused, "650100-GA", "rt3AltayRefused")
            await conn.execute(HOSTED_ITEM, served)
            await conn.execute(HOSTED_ITEM, refused)
        await schema_has({served})
        listed = await _send(client, _fresh(catalog_query))
    finally:
        await conn.execute("delete from data_items where resource_code = any($1::text[])", [served, refused])
        await conn.execute("delete from resources where code = any($1::text[])", [served, refused])
        await conn.close()
        await schema_has(set())  # as before, for the tests after this one
    assert listed.json() == {"data": {
        "a": {"code": served, "provider": {"code": "650000-GA"}}, "b": None,
        "sharingCatalog": {"totalCount": 1, "edges": [{"node": {"code": served}}]}}}
