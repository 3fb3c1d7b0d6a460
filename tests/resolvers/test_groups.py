"""A prefecture cannot loosen its departments through its catalog rows (README *Trust model*): the
access rules' groups and the grant validator's grantee sector are those of the department's code, made
stricter (never looser) by its row: an institution (<node>-JG-<kind>) whose row says government stays one,
a county department whose row says prefecture stays a county's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from govshare.policies.groups import DepartmentFacts
from govshare.resolvers import validation
from govshare.resolvers.groups import load_memberships
from govshare.server.identity import mint_demo_token

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import GRANT_UNTIL, SECRET, gql

HOSPITAL = "650100-JG-YY"  # the seeded institution of node 650100
COUNTY = "650200-CA-MZ"    # a seeded county bureau of node 650200
ADDED = "650200-ZD"        # a department of 650200 whose row says institution (stricter than its code)
INSERT = """insert into departments (code, node_code, level, division_code, name_zh, sector)
    values ($1, '650200', 'prefecture', '650200', '测试单位', 'institution')"""


@asynccontextmanager
async def _rows_loosened(cluster: Cluster) -> AsyncIterator[None]:
    """What each prefecture's DBA can do to its own rows."""
    urumqi, karamay = await cluster.connect("650100"), await cluster.connect("650200")
    try:
        await urumqi.execute("update departments set sector = 'government' where code = $1", HOSPITAL)
        await karamay.execute("update departments set level = 'prefecture' where code = $1", COUNTY)
        await karamay.execute(INSERT, ADDED)
        yield
    finally:
        await urumqi.execute("update departments set sector = 'institution' where code = $1", HOSPITAL)
        await karamay.execute("update departments set level = 'county' where code = $1", COUNTY)
        await karamay.execute("delete from departments where code = $1", ADDED)
        await urumqi.close()
        await karamay.close()


async def test_rows_make_departments_stricter_never_looser(client: httpx.AsyncClient, cluster: Cluster) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    async with _rows_loosened(cluster):
        memberships = await load_memberships(pools)
        sectors = {code: await validation.sector(pools, code) for code in (HOSPITAL, COUNTY, ADDED, "650100-MZ")}
    facts = {code: memberships.departments[code] for code in (HOSPITAL, COUNTY, ADDED)}
    assert facts == {HOSPITAL: DepartmentFacts(HOSPITAL, "prefecture", "650100", "institution"),
                     COUNTY: DepartmentFacts(COUNTY, "county", "650200", "government"),
                     ADDED: DepartmentFacts(ADDED, "prefecture", "650200", "institution")}
    assert "sector:institution" in memberships.groups_of(HOSPITAL)
    assert "level:county" in memberships.groups_of(COUNTY)
    assert sectors == {HOSPITAL: "institution", COUNTY: "government", ADDED: "institution",
                       "650100-MZ": "government"}


async def _memberships_reloaded(client: httpx.AsyncClient, cluster: Cluster, code: str, sector: str) -> None:
    """The service's memberships reloaded (NOTIFY govshare_policy, as a policy change does) and ``code``'s
    row read with ``sector`` in it (the reload reads rows as they are then)."""
    state = client.app.state  # type: ignore[attr-defined]
    before = state.engine
    conn = await cluster.connect("650000")
    try:
        await conn.execute("select pg_notify('govshare_policy', 'test_groups')")
        for _ in range(150):
            if state.engine is not before:
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError(f"memberships not reloaded (waiting for {code} {sector})")


async def test_an_institution_whose_row_says_government_stays_an_institution(client: httpx.AsyncClient,
                                                                             cluster: Cluster) -> None:
    urumqi = await cluster.connect("650100")
    try:
        resource = await urumqi.fetchrow(
            """select r.code, i.name from resources r join data_items i on i.resource_code = r.code
               where r.node_code = '650100' and r.status = 'published' and i.share_class = 'CONDITIONAL'
                 and 'interface' = any(r.share_modes) order by r.code, i.position limit 1""")
        assert resource is not None
        await urumqi.execute("update departments set sector = 'government' where code = $1", HOSPITAL)
        await _memberships_reloaded(client, cluster, HOSPITAL, "government")
        read, _ = await gql(client, """{ population(first: 2, purpose: "机构核验") { nodes { name } } }""", None,
                            Authorization=f"Bearer {mint_demo_token(SECRET, HOSPITAL, user='inst.user')}")
        grant, _ = await gql(client, """mutation($r: String!, $i: [String!]!) { createGrant(grant: {department:
            "650100-JG-YY", resource: $r, items: $i, purpose: "机构核验", until: "UNTIL"}, reason: "测试")
            { grant { id } } }""".replace("UNTIL", GRANT_UNTIL), {"r": resource["code"], "i": [resource["name"]]}, **as_user("admin.urumqi"))
    finally:
        region = await cluster.connect("650000")
        try:
            await region.execute("delete from grants where grantee_department = $1 and created_by = 'admin.urumqi'",
                                 HOSPITAL)
        finally:
            await region.close()
        await urumqi.execute("update departments set sector = 'institution' where code = $1", HOSPITAL)
        await urumqi.close()
        await _memberships_reloaded(client, cluster, HOSPITAL, "institution")
    # the region's deny rules for sector:institution still apply: no UNCONDITIONAL read
    assert read["data"]["population"]["nodes"] == [{"name": None}, {"name": None}], read
    assert {(e["extensions"]["code"], e["extensions"]["item"]) for e in read["errors"]} == {("FIELD_FORBIDDEN", "name")}
    # and Urumqi's policy admin alone still cannot grant it
    error = grant["errors"][0]["extensions"]
    assert (error["code"], error["domain"], error["reason"]) == ("FORBIDDEN", "650000", "REGION_APPROVAL_REQUIRED")


INSERT_REGION_CLAIM = """insert into departments (code, node_code, level, parent_code, division_code, name_zh, sector)
    values ($1, $2, $3, null, $2, '冒名部门', 'government')"""


async def test_a_hosted_prefecture_s_code_saying_region_gets_the_groups_of_its_code(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    # review-trust2 finding 8, departments: the region database hosts 654300, so a row there under 654300's
    # code naming node 650000 is that database's own and served; but its code is a prefecture's, and
    # level:region is taken only from a department of the region by its node and its code.
    code = "654300-ZR3"
    pools = client.app.state.pools  # type: ignore[attr-defined]
    conn = await cluster.connect("650000")
    try:
        await conn.execute(INSERT_REGION_CLAIM, code, "650000", "region")
        memberships = await load_memberships(pools)
    finally:
        await conn.execute("delete from departments where code = $1", code)
        await conn.close()
    groups = memberships.groups_of(code)
    assert "level:region" not in groups, groups
    assert "level:prefecture" in groups and "node:654300" in groups, groups
    assert "level:region" in memberships.groups_of("650000-GA")  # the region's own stay so
