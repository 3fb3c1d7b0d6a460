"""Which database's NOTIFY the service acts on: the access rules live in the region's database only, so a
``govshare_policy`` NOTIFY from a prefecture's server (whose owner the service does not trust) reloads
nothing; the region's still does (review-trust3 finding 8). A ``govshare_catalog`` NOTIFY is taken from every
database, but what a stream of them costs is bounded: one catalog re-read at a time, at most one a second,
and the last change is still read."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from ..conftest import Cluster
from .test_schema_names import ROGUE, ROGUE_ITEMS

RELOADS = "govshare_policy_reloads_total"
REFRESHES = "govshare_catalog_refreshes_total"


async def _counter(client: httpx.AsyncClient, name: str) -> float:
    text = (await client.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith(name + "_created"))


async def _reloads(client: httpx.AsyncClient) -> float:
    return await _counter(client, RELOADS)


async def _quiet(client: httpx.AsyncClient, name: str) -> float:
    """The counter once it has not moved for 1.5 s (at most ~10 s): a listener reconnecting after another
    test's fault (which counts as a change, at most once a second) is done."""
    last, since, started = await _counter(client, name), time.monotonic(), time.monotonic()
    while time.monotonic() - since < 1.5 and time.monotonic() - started < 10:
        await asyncio.sleep(0.25)
        now = await _counter(client, name)
        if now != last:
            last, since = now, time.monotonic()
    return last


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
    before = await _quiet(client, RELOADS)
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


@pytest.mark.slow
async def test_a_stream_of_catalog_notifications_costs_a_bounded_number_of_refreshes(client: httpx.AsyncClient,
                                                                                      cluster: Cluster) -> None:
    """650200 NOTIFYs ``govshare_catalog`` every 25 ms for 1.5 s and, last, really changes its catalog (a new
    entry, whose triggers NOTIFY too). Before: each 50 ms burst cost every worker a re-read of every catalog
    (about 20 here). Now: one at a time, at most one a second (leading, then trailing), and the new entry is
    served."""
    code, api = "650200-B01-990331", "burstProbe"
    holder = client.app.state.schemas  # type: ignore[attr-defined]
    pools = client.app.state.pools  # type: ignore[attr-defined]
    before = await _quiet(client, REFRESHES)  # no refresh of an earlier test within the interval
    conn = await cluster.connect("650200")
    try:
        started = time.monotonic()
        for _ in range(60):
            await conn.execute("select pg_notify('govshare_catalog', '')")
            await asyncio.sleep(0.025)
        async with conn.transaction():
            await conn.execute(ROGUE, code, api)
            await conn.execute(ROGUE_ITEMS, code)
        for _ in range(40):  # the last change is read by a run that starts after it
            if code in {s.code for s in holder.current.specs}:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the entry 650200 published at the end of its burst was never read")
        await asyncio.sleep(1.2)  # any run still owed
        elapsed = time.monotonic() - started
        refreshes = await _counter(client, REFRESHES) - before
        # one to start, then at most one a second: the burst and what follows it
        assert 1 <= refreshes <= elapsed + 1, f"{refreshes} catalog re-reads in {elapsed:.1f} s"
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
        await holder.refresh(pools)
    assert code not in {s.code for s in holder.current.specs}
