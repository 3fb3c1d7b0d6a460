"""Which database's NOTIFY the service acts on: the access rules live in the region's database only, so a
``govshare_policy`` NOTIFY from a prefecture's server (whose owner the service does not trust) reloads
nothing; the region's still does (review-trust3 finding 8)."""

from __future__ import annotations

import asyncio

import httpx

from ..conftest import Cluster

RELOADS = "govshare_policy_reloads_total"


async def _reloads(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(RELOADS) and not line.startswith(RELOADS + "_created"))


async def _notify_burst(cluster: Cluster, node: str, times: int) -> None:
    conn = await cluster.connect(node)
    try:
        for _ in range(times):
            await conn.execute("select pg_notify('govshare_policy', '')")
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def test_a_prefectures_policy_notifications_reload_no_rules(client: httpx.AsyncClient,
                                                                  cluster: Cluster) -> None:
    before = await _reloads(client)
    await _notify_burst(cluster, "650200", 25)
    await asyncio.sleep(0.5)
    assert await _reloads(client) - before == 0, "650200's NOTIFYs made the worker reload the access rules"


async def test_the_regions_policy_notification_still_reloads_the_rules(client: httpx.AsyncClient,
                                                                       cluster: Cluster) -> None:
    before = await _reloads(client)
    await _notify_burst(cluster, "650000", 1)
    for _ in range(50):
        if await _reloads(client) > before:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the region's govshare_policy NOTIFY did not reload the rules")
