"""Catalog statistics, assessment scores, usage providers and policy previews count only the entries the
catalog serves (README trust model): a prefecture's rows under another node's resource code or naming another
node's provider change no figure, neither the planted database's nor the other node's department's score;
nor when the prefecture's server itself lets them through the SQL filters (tests/hostile_servers.py), since
the service checks every row (or group of rows) it reads again (resolvers/hosting.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from govshare.resolvers.statistics import providers_of

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql
from ..hostile_servers import filters_passing_everything

PLANTED_IN = "650200"
VICTIM = "650100-GA"  # a department of another database, named as the provider of a planted entry
FOREIGN_PROVIDER = "650200-Z93-000001"  # 650200's code naming VICTIM as provider
FOREIGN_CODE = "650100-Z93-000002"  # another node's code, 650200's node and provider
REGION_PROVIDER = "650200-Z93-000003"  # 650200's code naming the region's 650000-GA as provider (review-trust2)
PLANTED = [FOREIGN_PROVIDER, FOREIGN_CODE, REGION_PROVIDER]
# No Uyghur or Kazakh name, no items, no legal basis: each planted entry would lower a score's `names` part.
INSERT = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status)
    values ($1, '650200', 'department', 'test', '冒名条目', $2, 'prefecture', 'database', 'daily', 'UNCONDITIONAL',
            'open', 'published')"""
BY_PROVIDER = """{ catalogStatistics(groupBy: [PROVIDER, NODE]) { rows { provider node resources missingUyghurNames
  missingKazakhNames } unavailableNodes } }"""
TOTALS = '{ catalogStatistics(groupBy: [], nodes: ["650200"]) { rows { resources missingUyghurNames } } }'
RECLASSIFY = """query($r: String!) { previewPolicyChange(reclassify: [{resource: $r, item: "planted",
  shareClass: NOT_SHARED}]) { totalChanges itemsConsidered } }"""
SCORES = """query($d: [String!]) { assessment(departments: $d) { rows { department score
  parts { name ratio detail } } unavailableNodes } }"""


@asynccontextmanager
async def _hostile(cluster: Cluster, hostile: bool, *, equality: bool = False) -> AsyncIterator[None]:
    if not hostile:
        yield
        return
    async with filters_passing_everything(cluster, PLANTED_IN, equality=equality):
        yield


async def _own_provider(cluster: Cluster) -> str:
    conn = await cluster.connect(PLANTED_IN)
    try:
        return str(await conn.fetchval("select min(provider_code) from resources where node_code = '650200' "
                                       "and status = 'published'"))
    finally:
        await conn.close()


@asynccontextmanager
async def _planted(cluster: Cluster) -> AsyncIterator[str]:
    conn = await cluster.connect(PLANTED_IN)
    try:
        own = await conn.fetchval("select min(provider_code) from resources where node_code = '650200' "
                                  "and status = 'published'")
        async with conn.transaction():
            await conn.execute(INSERT, FOREIGN_PROVIDER, VICTIM)
            await conn.execute(INSERT, FOREIGN_CODE, own)
            await conn.execute(INSERT, REGION_PROVIDER, "650000-GA")
        yield own
    finally:
        await conn.execute("delete from resources where code = any($1::text[])", PLANTED)
        await conn.close()


async def test_planted_entries_change_no_statistic_or_score(client: httpx.AsyncClient, cluster: Cluster) -> None:
    supervisor = as_user("supervisor.region")
    own = await _own_provider(cluster)
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


async def test_a_server_letting_planted_entries_through_loses_its_figures_not_anothers(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    # 650200's server makes every prefix test true, so its counts take in the planted rows: none of them is
    # used (650200 is reported as not answering), and no other node's figure or score moves.
    supervisor = as_user("supervisor.region")
    own = await _own_provider(cluster)
    queries = [(BY_PROVIDER, None), (TOTALS, None), (SCORES, {"d": [VICTIM, own]})]
    before = [await gql(client, q, v, **supervisor) for q, v in queries]
    async with _planted(cluster), filters_passing_everything(cluster, PLANTED_IN):
        after = [await gql(client, q, v, **supervisor) for q, v in queries]
    for body, _ in after:
        assert "errors" not in body, body
    statements = [(r.headers["X-Govshare-Statements"], w.headers["X-Govshare-Statements"])
                  for (_, r), (_, w) in zip(after, before, strict=True)]
    assert all(now == was for now, was in statements), statements
    (stats, _), (totals, _), (scores, _) = after
    was_stats, was_scores = before[0][0]["data"]["catalogStatistics"], before[2][0]["data"]["assessment"]
    assert stats["data"]["catalogStatistics"] == {
        "rows": [r for r in was_stats["rows"] if r["node"] != PLANTED_IN], "unavailableNodes": [PLANTED_IN]}
    assert totals["data"]["catalogStatistics"]["rows"] == []
    assert scores["data"]["assessment"] == {
        "rows": [r for r in was_scores["rows"] if r["department"] == VICTIM], "unavailableNodes": [PLANTED_IN]}
    assert {r["department"] for r in was_scores["rows"]} == {VICTIM, own}


@pytest.mark.parametrize("hostile", [False, True], ids=["honest server", "server passing every text filter"])
async def test_usage_names_no_provider_an_entry_is_not_served_with(client: httpx.AsyncClient,
                                                                   cluster: Cluster, hostile: bool) -> None:
    # usageStatistics names each used resource's provider from its catalog row: not from a row the catalog
    # does not serve (a 650200 entry naming 650100-GA or 650000-GA), whose use was recorded while it was
    # another; nor from rows 650200's server returns that were not asked for.
    pools = client.app.state.pools  # type: ignore[attr-defined]
    conn = await cluster.connect(PLANTED_IN)
    try:
        served = await conn.fetchrow("select code, provider_code from resources where node_code = '650200' "
                                     "and provider_code ^@ '650200-' order by code limit 1")
    finally:
        await conn.close()
    asked = [FOREIGN_PROVIDER, REGION_PROVIDER, "650000-B01-000001", served["code"]]
    async with _planted(cluster) as own, _hostile(cluster, hostile, equality=True):
        found, failures = await providers_of(pools, asked)
    assert failures == [], failures
    assert {c: r["provider_code"] for c, r in found.items()} == {
        "650000-B01-000001": "650000-GA", served["code"]: served["provider_code"]}
    assert own.startswith("650200-")


@pytest.mark.parametrize("hostile", [False, True], ids=["honest server", "server passing every prefix test"])
async def test_a_policy_preview_considers_only_served_items(client: httpx.AsyncClient, cluster: Cluster,
                                                            hostile: bool) -> None:
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
            async with _hostile(cluster, hostile):
                after, _ = await gql(client, preview, **admin)
                # review-trust2: reclassifying an item the catalog does not serve is refused like any unknown item
                refused = {code: await gql(client, RECLASSIFY, {"r": code}, **admin) for code in PLANTED}
            await conn.execute("delete from data_items where resource_code = any($1::text[])", PLANTED)
    finally:
        await conn.close()
    assert "errors" not in after, after
    assert after == before and before["data"]["previewPolicyChange"]["itemsConsidered"] > 1000
    accepted = {code: body for code, (body, _) in refused.items()
                if not body.get("errors") or body["errors"][0]["extensions"]["code"] != "BAD_USER_INPUT"}
    assert not accepted, accepted
