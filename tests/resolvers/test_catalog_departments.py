"""A node's catalog is trusted only about its own database, departments included (resolvers/catalog.py): a
departments row is served only by the database that hosts both its node and its code's node. Rows a
prefecture database lists under another node's code or node (an impostor of a region department, a
department of another prefecture, a child it claims under a region department) are served by no page,
lookup, parent, children, provider or entity, nor counted in the memberships the access rules use or the
departments a token may act for; a code held by two databases is served only from its owner's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from govshare.core.errors import UnknownDepartment
from govshare.federation.pagination import encode_cursor
from govshare.resolvers.groups import existing_departments, load_memberships
from govshare.server.departments import KnownDepartments

from ..conftest import Cluster
from ..hostile_servers import filters_passing_everything
from ..schema.test_catalog_reads_edge_cases import _fresh, _send, both

PLANTED_IN = "650200"
IMPOSTOR = "650000-GA"  # the region's department, planted in 650200's database under another name and sector
FOREIGN_CODE = "650100-ZA"  # another prefecture's code, node 650200, claiming a region parent
FOREIGN_NODE = "650200-ZB"  # 650200's own code naming node 650100, claiming a region parent
PLANTED = [IMPOSTOR, FOREIGN_CODE, FOREIGN_NODE]
INSERT = """insert into departments (code, node_code, level, parent_code, division_code, name_zh, sector)
    values ($1, $2, $3, $4, $2, '冒名部门', $5)"""
# A resource of 650200 itself, naming the foreign-node row as its provider (the resource is 650200's own:
# served; its provider row is not, so the provider reads null on every path).
PROVIDED = "650200-Z95-000001"
INSERT_RESOURCE = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status)
    values ($1, '650200', 'department', 'test', '冒名提供', $2, 'prefecture', 'database', 'daily',
            'UNCONDITIONAL', 'open', 'published')"""


@asynccontextmanager
async def _planted(cluster: Cluster, resource: bool = False) -> AsyncIterator[None]:
    conn = await cluster.connect(PLANTED_IN)
    try:
        assert await conn.fetchval("select count(*) from departments where code = any($1::text[])", PLANTED) == 0
        async with conn.transaction():
            await conn.execute(INSERT, IMPOSTOR, "650000", "region", None, "institution")
            await conn.execute(INSERT, FOREIGN_CODE, PLANTED_IN, "prefecture", IMPOSTOR, "government")
            await conn.execute(INSERT, FOREIGN_NODE, "650100", "prefecture", IMPOSTOR, "government")
            if resource:
                await conn.execute(INSERT_RESOURCE, PROVIDED, FOREIGN_NODE)
        yield
    finally:
        await conn.execute("delete from resources where code = $1", PROVIDED)
        await conn.execute("delete from departments where code = any($1::text[])", PLANTED)
        await conn.close()


DEPARTMENT = "code node level name parentCode"
PAGE = f"edges {{ cursor node {{ {DEPARTMENT} }} }} pageInfo {{ hasNextPage endCursor }} unavailableNodes"
QUERIES = [
    # over every database: the impostor would be a second 650000-GA, the others extra rows
    f"{{ departments(first: 100) {{ {PAGE} }} }}",
    f'{{ departments(first: 100, after: "{encode_cursor("650100-GA")}") {{ {PAGE} }} }}',
    f'{{ departments(first: 100, nodes: ["650200"]) {{ {PAGE} }} }}',
    # 650100-ZA sorts before every 650200 code: a page cut right after it
    f'{{ departments(first: 2, nodes: ["650200"]) {{ {PAGE} }} }}',
    f'{{ departments(first: 100, levels: [REGION]) {{ {PAGE} }} }}',
    f'{{ departments(first: 100, parent: "{IMPOSTOR}") {{ {PAGE} }} }}',
    f'{{ departments(first: 3, parent: "{IMPOSTOR}") {{ {PAGE} }} }}',
    f'{{ department(code: "{IMPOSTOR}") {{ {DEPARTMENT} parent {{ code }} children {{ {DEPARTMENT} }} }} }}',
    f'{{ department(code: "{FOREIGN_NODE}") {{ {DEPARTMENT} }} }}',
    f'{{ department(code: "{FOREIGN_CODE}") {{ {DEPARTMENT} }} }}',
    f'{{ department(code: "650200-GA") {{ {DEPARTMENT} parent {{ {DEPARTMENT} children {{ code }} }} }} }}',
    f'{{ _entities(representations: [{{__typename: "Department", code: "{FOREIGN_NODE}"}}, '
    f'{{__typename: "Department", code: "{IMPOSTOR}"}}]) {{ ... on Department {{ code name }} }} }}',
]


async def test_planted_departments_are_served_by_no_page_lookup_or_tree(client: httpx.AsyncClient,
                                                                         cluster: Cluster) -> None:
    before = {q: await _send(client, _fresh(q)) for q in QUERIES}
    for answer in before.values():
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    async with _planted(cluster):
        after = {q: await _send(client, _fresh(q)) for q in QUERIES}
    changed = [query for query in QUERIES if "冒名" in after[query].text or after[query].content != before[query].content
               or after[query].headers["x-govshare-statements"] != before[query].headers["x-govshare-statements"]]
    assert not changed, "changed by the planted rows:\n" + "\n".join(changed)
    # the answers are real ones: the pages list departments, the region's own 650000-GA and its children
    assert len(after[QUERIES[2]].json()["data"]["departments"]["edges"]) > 2
    region = after[QUERIES[7]].json()["data"]["department"]
    assert region["node"] == "650000" and region["children"]
    assert after[QUERIES[8]].json() == {"data": {"department": None}}
    # a page of one database is one statement; over every database one statement each
    assert before[QUERIES[2]].headers["x-govshare-statements"] == "1"
    databases = len(cluster.topology.databases)
    assert before[QUERIES[0]].headers["x-govshare-statements"] == str(databases)


async def test_a_provider_row_naming_another_node_is_not_served_beside_its_resource(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    # The resource is 650200's own (served); its provider's departments row names node 650100, so the provider
    # is null, whether read with the resource (one database: inline; several: beside the merged page; a lookup:
    # in the lookup's statement) or through the department loader, on graphql-core's path and the lane alike.
    queries = [
        f'{{ resources(first: 5, filter: {{nodes: ["650200"], providers: ["{FOREIGN_NODE}"]}}) '
        '{ edges { node { code provider { code name } } } } }',
        f'{{ resources(first: 5, filter: {{providers: ["{FOREIGN_NODE}"]}}) '
        '{ edges { node { code provider { code name } } } } }',
        f'{{ resource(code: "{PROVIDED}") {{ code provider {{ code name }} dataItems {{ name }} }} }}',
    ]
    async with _planted(cluster, resource=True):
        answers = [(await both(client, q))[1] for q in queries]
        bare = await _send(client, _fresh(f'{{ resource(code: "{PROVIDED}") {{ code provider {{ code }} }} }}'))
        # items without a provider read no provider row (and send no parameter for one)
        items = [(await both(client, q.replace("provider { code name }", "dataItems { name }")))[1]
                 for q in queries[:2]]
    edge = {"node": {"code": PROVIDED, "provider": None}}
    assert answers[0].json() == answers[1].json() == {"data": {"resources": {"edges": [edge]}}}
    assert answers[2].json() == {"data": {"resource": {"code": PROVIDED, "provider": None, "dataItems": []}}}
    assert bare.json() == {"data": {"resource": {"code": PROVIDED, "provider": None}}}
    assert items[0].json() == items[1].json() == {"data": {"resources": {"edges": [
        {"node": {"code": PROVIDED, "dataItems": []}}]}}}
    # the one-database page and the lookup stay one statement
    assert answers[0].headers["x-govshare-statements"] == answers[2].headers["x-govshare-statements"] == "1"


async def test_planted_departments_give_no_memberships_and_are_not_known(client: httpx.AsyncClient,
                                                                         cluster: Cluster) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    real = (await load_memberships(pools)).groups_of(IMPOSTOR)
    assert {"level:region", "node:650000", "sector:government"} <= real
    async with _planted(cluster):
        memberships = await load_memberships(pools)
        known = KnownDepartments(pools)
        await known.refresh()
        existing = await existing_departments(pools, [*PLANTED, "650200-GA"])
        for code in (FOREIGN_CODE, FOREIGN_NODE):
            with pytest.raises(UnknownDepartment):
                await known.check(code)
        await known.check(IMPOSTOR)  # the region's own row
    # the region's 650000-GA keeps its own facts (the impostor said sector institution)
    assert memberships.groups_of(IMPOSTOR) == real
    assert FOREIGN_CODE not in memberships.departments and FOREIGN_NODE not in memberships.departments
    assert existing == {IMPOSTOR, "650200-GA"}  # 650000-GA from the region's database


async def test_a_department_row_looser_than_its_code_gets_its_code_s_groups(client: httpx.AsyncClient,
                                                                             cluster: Cluster) -> None:
    # 650200's own department saying it is a region department: the access rules' level:region is the
    # region's alone, so its groups are those its code says (level:prefecture), as for an unread department.
    # 650200's institution (its code says JG) whose row says government: an institution for the rules too.
    code, institution = "650200-ZC", "650200-JG-ZE"
    pools = client.app.state.pools  # type: ignore[attr-defined]
    conn = await cluster.connect(PLANTED_IN)
    try:
        await conn.execute(INSERT, code, PLANTED_IN, "region", None, "government")
        await conn.execute(INSERT, institution, PLANTED_IN, "prefecture", None, "government")
        memberships = await load_memberships(pools)
    finally:
        await conn.execute("delete from departments where code = any($1::text[])", [code, institution])
        await conn.close()
    groups = memberships.groups_of(code)
    assert "level:prefecture" in groups and "level:region" not in groups, groups
    assert "sector:institution" in memberships.groups_of(institution)


LIAR, LYING_COUNTY, LIAR_PROVIDES = "650200-ZC", "650200-CA-ZD", "650200-Z95-000002"


@asynccontextmanager
async def _lying_levels(cluster: Cluster) -> AsyncIterator[None]:
    """650200's own departments whose rows lie about their level: a prefecture bureau saying region, a county
    bureau (its code says C<letter>) saying prefecture; a resource of 650200 provided by the first."""
    conn = await cluster.connect(PLANTED_IN)
    try:
        async with conn.transaction():
            await conn.execute(INSERT, LIAR, PLANTED_IN, "region", None, "government")
            await conn.execute(INSERT, LYING_COUNTY, PLANTED_IN, "prefecture", LIAR, "government")
            await conn.execute(INSERT_RESOURCE, LIAR_PROVIDES, LIAR)
        yield
    finally:
        await conn.execute("delete from resources where code = $1", LIAR_PROVIDES)
        await conn.execute("delete from departments where code = any($1::text[])", [LIAR, LYING_COUNTY])
        await conn.close()


def _listed(answer: httpx.Response) -> dict[str, str]:
    page = answer.json()["data"]["departments"]
    assert page["unavailableNodes"] == [], page
    return {e["node"]["code"]: e["node"]["level"] for e in page["edges"]}


async def test_a_department_s_level_is_its_code_s_whatever_its_row_says(client: httpx.AsyncClient,
                                                                        cluster: Cluster) -> None:
    """The catalog's ``Department.level`` and ``departments(levels:)`` take the level the access rules take
    (policies.groups.facts_from_code): a prefecture's row saying region is neither shown nor listed as one."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    page = "edges { node { code level } } unavailableNodes"
    async with _lying_levels(cluster):
        memberships = await load_memberships(pools)
        regions = _listed(await _send(client, _fresh(f"{{ departments(first: 100, levels: [REGION]) {{ {page} }} }}")))
        prefecture = _listed(await _send(client, _fresh(
            f'{{ departments(first: 100, nodes: ["650200"], levels: [PREFECTURE]) {{ {page} }} }}')))
        county = _listed(await _send(client, _fresh(
            f'{{ departments(first: 100, nodes: ["650200"], levels: [COUNTY]) {{ {page} }} }}')))
        looked_up = await _send(client, _fresh(f'{{ department(code: "{LIAR}") {{ level children {{ code level }} }} }}'))
        # a provider beside its resource: graphql-core's path and the catalog lane alike
        provided = await both(client, f'{{ resource(code: "{LIAR_PROVIDES}") {{ provider {{ code level }} }} }}')
        listed = await both(client, f'{{ resources(first: 5, filter: {{nodes: ["650200"], providers: ["{LIAR}"]}}) '
                                    '{ edges { node { provider { level } } } } }')
    assert LIAR not in regions and set(regions) and all(c.startswith("650000-") for c in regions), regions
    assert prefecture.get(LIAR) == "PREFECTURE" and LYING_COUNTY not in prefecture
    assert county.get(LYING_COUNTY) == "COUNTY" and LIAR not in county
    assert looked_up.json()["data"]["department"] == {"level": "PREFECTURE",
                                                      "children": [{"code": LYING_COUNTY, "level": "COUNTY"}]}
    for answer in provided:
        assert answer.json()["data"]["resource"]["provider"] == {"code": LIAR, "level": "PREFECTURE"}
    for answer in listed:
        assert answer.json()["data"]["resources"]["edges"] == [{"node": {"provider": {"level": "PREFECTURE"}}}]
    # the same facts as the access rules' groups
    assert "level:prefecture" in memberships.groups_of(LIAR)
    assert "level:county" in memberships.groups_of(LYING_COUNTY)


async def test_a_server_lying_about_its_level_filter_is_left_out(client: httpx.AsyncClient,
                                                                 cluster: Cluster) -> None:
    """650200's server answers its ``levels`` filter true for every row (its text ``=``): the service checks
    each row's level from its code again, and leaves 650200's page out as one that did not answer."""
    query = '{ departments(first: 100, nodes: ["650200"], levels: [COUNTY]) { edges { node { code } } unavailableNodes } }'
    honest = (await _send(client, _fresh(query))).json()["data"]["departments"]
    assert honest["edges"] and honest["unavailableNodes"] == []
    async with filters_passing_everything(cluster, PLANTED_IN, equality=True):
        lying = (await _send(client, _fresh(query))).json()["data"]["departments"]
    assert lying == {"edges": [], "unavailableNodes": ["650200"]}, lying
