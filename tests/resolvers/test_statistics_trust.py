"""Catalog statistics, assessment scores, usage providers and policy previews count only the entries the
catalog serves (README trust model): a prefecture's rows under another node's resource code or naming another
node's provider change no figure, neither the planted database's nor the other node's department's score."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from govshare.resolvers.statistics import providers_of

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql

PLANTED_IN = "650200"
VICTIM = "650100-GA"  # a department of another database, named as the provider of a planted entry
FOREIGN_PROVIDER = "650200-Z93-000001"  # 650200's code naming VICTIM as provider
FOREIGN_CODE = "650100-Z93-000002"  # another node's code, 650200's node and provider
PLANTED = [FOREIGN_PROVIDER, FOREIGN_CODE]
# No Uyghur or Kazakh name, no items, no legal basis: each planted entry would lower a score's `names` part.
INSERT = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status)
    values ($1, '650200', 'department', 'test', '冒名条目', $2, 'prefecture', 'database', 'daily', 'UNCONDITIONAL',
            'open', 'published')"""
BY_PROVIDER = """{ catalogStatistics(groupBy: [PROVIDER, NODE]) { rows { provider node resources missingUyghurNames
  missingKazakhNames } unavailableNodes } }"""
TOTALS = '{ catalogStatistics(groupBy: [], nodes: ["650200"]) { rows { resources missingUyghurNames } } }'
SCORES = """query($d: [String!]) { assessment(departments: $d) { rows { department score
  parts { name ratio detail } } unavailableNodes } }"""


@asynccontextmanager
async def _planted(cluster: Cluster) -> AsyncIterator[str]:
    conn = await cluster.connect(PLANTED_IN)
    try:
        own = await conn.fetchval("select min(provider_code) from resources where node_code = '650200' "
                                  "and status = 'published'")
        async with conn.transaction():
            await conn.execute(INSERT, FOREIGN_PROVIDER, VICTIM)
            await conn.execute(INSERT, FOREIGN_CODE, own)
        yield own
    finally:
        await conn.execute("delete from resources where code = any($1::text[])", PLANTED)
        await conn.close()


async def test_planted_entries_change_no_statistic_or_score(client: httpx.AsyncClient, cluster: Cluster) -> None:
    supervisor = as_user("supervisor.region")
    conn = await cluster.connect(PLANTED_IN)
    try:
        own = await conn.fetchval("select min(provider_code) from resources where node_code = '650200' "
                                  "and status = 'published'")
    finally:
        await conn.close()
    queries = [(BY_PROVIDER, None), (TOTALS, None), (SCORES, {"d": [VICTIM, own]})]
    before = [await gql(client, q, v, **supervisor) for q, v in queries]
    async with _planted(cluster):
        after = [await gql(client, q, v, **supervisor) for q, v in queries]
    for body, _ in after:
        assert "errors" not in body, body
    changed = [q for (q, _), (body, response), (was, was_response) in zip(queries, after, before, strict=True)
               if body != was or response.headers["X-Govshare-Statements"] != was_response.headers["X-Govshare-Statements"]]
    assert not changed, "changed by the planted entries:\n" + "\n".join(changed)
    providers = {r["provider"] for r in after[0][0]["data"]["catalogStatistics"]["rows"]}
    assert {VICTIM, own} <= providers  # real figures: both departments provide resources
    assert {r["department"] for r in after[2][0]["data"]["assessment"]["rows"]} == {VICTIM, own}


async def test_usage_names_no_provider_an_entry_is_not_served_with(client: httpx.AsyncClient,
                                                                   cluster: Cluster) -> None:
    # usageStatistics names each used resource's provider from its catalog row: not from a row the catalog
    # does not serve (a 650200 entry naming 650100-GA), whose use was recorded while it was another.
    pools = client.app.state.pools  # type: ignore[attr-defined]
    async with _planted(cluster) as own:
        found, failures = await providers_of(pools, [FOREIGN_PROVIDER, "650000-B01-000001"])
    assert failures == [] and set(found) == {"650000-B01-000001"}, {c: r["provider_code"] for c, r in found.items()}
    assert own.startswith("650200-")


async def test_a_policy_preview_considers_only_served_items(client: httpx.AsyncClient, cluster: Cluster) -> None:
    preview = """{ previewPolicyChange(add: [{subject: "kind:JY", resource: "650000-B01-000001", item: "sex",
      action: READ, effect: DENY}]) { itemsConsidered } }"""
    admin = as_user("admin.region")
    before, _ = await gql(client, preview, **admin)
    conn = await cluster.connect(PLANTED_IN)
    try:
        async with _planted(cluster):
            await conn.execute("""insert into data_items (resource_code, name, position, title_zh, data_type,
                share_class) select code, 'planted', 1, '冒名数据项', 'string', 'UNCONDITIONAL' from resources
                where code = any($1::text[])""", PLANTED)
            after, _ = await gql(client, preview, **admin)
            await conn.execute("delete from data_items where resource_code = any($1::text[])", PLANTED)
    finally:
        await conn.close()
    assert "errors" not in after, after
    assert after == before and before["data"]["previewPolicyChange"]["itemsConsidered"] > 1000
