"""What grants, rules, share requests and objections are checked against is trusted only about its own
database (README trust model): a catalog entry naming another node or provider, or a department row naming
another node, is unknown to them, as it is to the catalog."""

from __future__ import annotations

import httpx
import pytest

from govshare.core.errors import BadRequest
from govshare.resolvers import validation

from ..conftest import Cluster

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
