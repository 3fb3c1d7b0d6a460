"""What grants, rules, share requests and objections are checked against is trusted only about its own
database (README trust model): a catalog entry naming another node or provider, or a department row naming
another node, is unknown to them, as it is to the catalog."""

from __future__ import annotations

import httpx
import pytest

from govshare.core.errors import BadRequest
from govshare.resolvers import validation
from govshare.server.identity import mint_demo_token

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import GRANT_UNTIL, SECRET, gql

PLANTED_IN = "650200"
FOREIGN_NODE = "650200-Z92-000001"  # 650200's code naming node 650100
FOREIGN_PROVIDER = "650200-Z92-000002"  # 650200's code naming provider 650100-GA
INSERT = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status)
    values ($1, $2, 'department', 'test', '冒名条目', $3, 'prefecture', 'database', 'daily', 'CONDITIONAL',
            'open', 'published')"""
INSTITUTION = "650200-JG-ZZ"  # an institution (sector) whose row names node 650100


async def test_entries_and_departments_naming_another_node_are_unknown(client: httpx.AsyncClient,
                                                                       cluster: Cluster) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    conn = await cluster.connect(PLANTED_IN)
    try:
        own = await conn.fetchval("select min(code) from departments where node_code = '650200'")
        await conn.execute(INSERT, FOREIGN_NODE, "650100", own)
        await conn.execute(INSERT, FOREIGN_PROVIDER, PLANTED_IN, "650100-GA")
        await conn.execute("""insert into departments (code, node_code, level, division_code, name_zh, sector)
                              values ($1, '650100', 'prefecture', '650100', '冒名机构', 'institution')""", INSTITUTION)
        refused = []
        for code in (FOREIGN_NODE, FOREIGN_PROVIDER):
            with pytest.raises(BadRequest) as caught:
                await validation.resource(pools, code)
            refused.append(caught.value.message)
        with pytest.raises(BadRequest) as unknown:
            await validation.department(pools, INSTITUTION)
        sector = await validation.sector(pools, INSTITUTION)
        # 650200's own institution whose row says government: its code says institution, the stricter holds
        await conn.execute("""insert into departments (code, node_code, level, division_code, name_zh)
                              values ('650200-JG-ZY', '650200', 'prefecture', '650200', '自称政府')""")
        own_sector = await validation.sector(pools, "650200-JG-ZY")
        real = await validation.resource(pools, "650000-B01-000001")
    finally:
        await conn.execute("delete from resources where code = any($1::text[])", [FOREIGN_NODE, FOREIGN_PROVIDER])
        await conn.execute("delete from departments where code = any($1::text[])", [INSTITUTION, "650200-JG-ZY"])
        await conn.close()
    assert refused == [f"unknown resource {FOREIGN_NODE!r}", f"unknown resource {FOREIGN_PROVIDER!r}"]
    assert unknown.value.message == f"unknown department {INSTITUTION!r}"
    # its row is not read: the sector its code says (JG: an institution), never the row's
    assert sector == own_sector == "institution"
    assert real.node == "650000" and real.items


# --- validation.resource accepts a resource only as the catalog serves it (review-trust2 finding 3) ---------

PLANTED = "650200-Z93-00000"  # + a digit
INSERT_SERVED = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status, share_modes)
    values ($1, $2, 'department', 'test', '测试条目', $3, 'prefecture', 'database', 'daily', 'CONDITIONAL',
            'open', 'published', '{interface}')"""
INSERT_ITEM = """insert into data_items (resource_code, name, position, title_zh, data_type, share_class,
    share_condition) values ($1, 'plate', 1, '号牌', 'string', 'CONDITIONAL', '经批准')"""
# database, code, the row's node_code, provider -> the node validation takes (None: refused)
ROWS = [
    ("650200", "650200-Z93-000001", "650200", "650000-GA", None),      # another database's provider
    ("650200", "650200-Z93-000002", "650100", "650200-GA", None),      # another database's node
    ("650200", "650200-Z93-000003", "650200", "650200-GA", "650200"),  # its own
    ("650200", "6502001-Z93-000004", "650200", "650200-GA", None),     # no node code (no '-' after 6 digits)
    ("650200", "650200-Z93-000005", "650200", "6502001-GA", None),     # a provider of no node
    ("650000", "654300-Z93-000006", "654300", "654300-GA", "654300"),  # a hosted prefecture's, in its host
    ("650000", "654300-Z93-000007", "650000", "650000-GA", "654300"),  # ... naming the host: the code's node
]


async def test_validation_takes_a_resource_as_the_catalog_serves_it(client: httpx.AsyncClient,
                                                                    cluster: Cluster) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    conns = {db: await cluster.connect(db) for db in {r[0] for r in ROWS}}
    taken: dict[str, str | None] = {}
    served: dict[str, bool] = {}
    try:
        for db, code, node, provider, _ in ROWS:
            await conns[db].execute(INSERT_SERVED, code, node, provider)
            await conns[db].execute(INSERT_ITEM, code)
        for _, code, *_ in ROWS:
            try:
                taken[code] = (await validation.resource(pools, code)).node
            except BadRequest as exc:
                assert exc.message.startswith(f"unknown resource {code!r}"), exc.message
                taken[code] = None
            body, _ = await gql(client, "query($c: String!) { resource(code: $c) { code } }", {"c": code})
            served[code] = body["data"]["resource"] is not None
    finally:
        for db, conn in conns.items():
            await conn.execute("delete from resources where code = any($1::text[])", [r[1] for r in ROWS if r[0] == db])
            await conn.close()
    assert taken == {code: node for _, code, _, _, node in ROWS}
    # what grants, rules, share requests, objections, reclassification and explain accept is what
    # resource(code:) serves
    assert served == {code: node is not None for code, node in taken.items()}


@pytest.mark.parametrize(("node", "provider"), [("650200", "650000-GA"), ("650100", "650200-GA")])
async def test_objections_and_grants_refuse_a_resource_the_catalog_does_not_serve(
        client: httpx.AsyncClient, cluster: Cluster, node: str, provider: str) -> None:
    code = "650200-Z93-000009"
    conn = await cluster.connect(PLANTED_IN)
    try:
        await conn.execute(INSERT_SERVED, code, node, provider)
        await conn.execute(INSERT_ITEM, code)
        objection, _ = await gql(client, """mutation($c: String!) { raiseObjection(resourceCode: $c, key: "新A00001",
            item: "plate", expected: "新A00002") { id providerCode } }""", {"c": code})
        # the region's public-security department would be asked to answer for 650200's data
        listed, _ = await gql(client, "{ objections { resourceCode } }", None,
                              Authorization=f"Bearer {mint_demo_token(SECRET, '650000-GA')}")
        # Urumqi's policy admin (650100 only) on 650200's resource whose row says 650100
        grant, _ = await gql(client, """mutation($c: String!) { createGrant(grant: {department: "650100-MZ",
            resource: $c, items: ["plate"], purpose: "跨节点授权", until: "UNTIL"}, reason: "测试")
            { grant { id } } }""".replace("UNTIL", GRANT_UNTIL), {"c": code}, **as_user("admin.urumqi"))
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
        region = await cluster.connect("650000")
        try:
            await region.execute("delete from objections where resource_code = $1", code)
            await region.execute("delete from grants where resource_code = $1", code)
        finally:
            await region.close()
    for body in (objection, grant):
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert body["errors"][0]["message"] == f"unknown resource {code!r}", body
    assert code not in {o["resourceCode"] for o in listed["data"]["objections"]}
