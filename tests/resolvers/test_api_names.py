"""An api name stays with the resource that holds it (resolvers/api_names.py, migration 0035): 650100,
whose code sorts lower, cannot take over a name 650200's entry is served under, neither while 650200
publishes it nor while 650200's database does not answer; once 650200 no longer publishes it, the name is
released and 650100's entry gets it. The claims live in the region's database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx

from govshare.resolvers.api_names import Claim, held
from govshare.resolvers.specs import DataResourceSpec

from ..conftest import Cluster
from ..server.test_schema_names import ROGUE_ITEMS

NAME = "claimProbe"
FIRST, LATER = "650200-B01-990341", "650100-B01-990342"  # the later one's code sorts first
ENTRY = """insert into resources (code, node_code, classification, category, name_zh, provider_code, provider_level,
    format, update_cycle, share_class, open_attribute, status, data_table, data_scope, api_name)
    values ($1, $2, 'department', 'population', '人口', $2 || '-GA', 'prefecture', 'database', 'daily',
            'UNCONDITIONAL', 'open', 'published', 'population', 'provider', $3)"""


async def _publish(cluster: Cluster, node: str, code: str) -> None:
    conn = await cluster.connect(node)
    try:
        async with conn.transaction():
            await conn.execute(ENTRY, code, node, NAME)
            await conn.execute(ROGUE_ITEMS, code)
    finally:
        await conn.close()


async def _claim(region: asyncpg.Connection) -> str | None:
    return await region.fetchval("select resource_code from api_name_claims where api_name = $1", NAME)  # type: ignore[no-any-return]


@asynccontextmanager
async def _cleaned(cluster: Cluster, client: httpx.AsyncClient) -> AsyncIterator[asyncpg.Connection]:
    region = await cluster.connect("650000")
    try:
        yield region
    finally:
        for node, code in (("650200", FIRST), ("650100", LATER)):
            conn = await cluster.connect(node)
            await conn.execute("delete from resources where code = $1", code)
            await conn.close()
        await region.execute("delete from api_name_claims where api_name = $1", NAME)
        await region.close()
        await client.app.state.schemas.refresh(client.app.state.pools)  # type: ignore[attr-defined]


def _served(client: httpx.AsyncClient) -> dict[str, str]:
    return {s.api_name: s.code for s in client.app.state.schemas.current.specs}  # type: ignore[attr-defined]


async def test_a_name_stays_with_the_resource_that_claimed_it_first(client: httpx.AsyncClient,
                                                                    cluster: Cluster) -> None:
    holder = client.app.state.schemas  # type: ignore[attr-defined]
    pools = client.app.state.pools  # type: ignore[attr-defined]
    async with _cleaned(cluster, client) as region:
        await _publish(cluster, "650200", FIRST)
        await holder.refresh(pools)
        assert _served(client).get(NAME) == FIRST
        assert await _claim(region) == FIRST
        # 650100 publishes the same name; its code sorts first, which decided before
        await _publish(cluster, "650100", LATER)
        await holder.refresh(pools)
        assert _served(client).get(NAME) == FIRST, "650100 took over the name 650200's entry is served under"
        taken = [f for f in holder.current.findings if f.kind == "api_name_taken" and f.resource == LATER]
        assert [f.database for f in taken] == ["650100"] and FIRST in taken[0].detail
        ready = (await client.get("/readyz")).json()
        assert any(f["resource"] == LATER and f["kind"] == "api_name_taken" for f in ready["schema"]["catalog_findings"])
        metrics = (await client.get("/metrics")).text
        assert re.search(r"^govshare_api_names_taken(\{[^}]*\})? [1-9]", metrics, re.M), "no metric of the name taken"
        # 650200 no longer publishes it: the name is released to 650100's entry
        conn = await cluster.connect("650200")
        try:
            await conn.execute("delete from resources where code = $1", FIRST)
        finally:
            await conn.close()
        await holder.refresh(pools)
        assert _served(client).get(NAME) == LATER
        assert await _claim(region) == LATER
    assert NAME not in _served(client)


SPEC = DataResourceSpec(FIRST, "650200", NAME, "population", "provider", "650200-GA",
                        {"zh": "人口", "ug": None, "kk": None, "en": None}, "test", ())


def test_a_database_that_does_not_answer_keeps_its_claims(cluster: Cluster) -> None:
    topology = cluster.service_topology
    claims = {NAME: Claim(FIRST, "650200"), "gone": Claim("650200-B01-990343", "650200"),
              "unknownNode": Claim("659900-B01-000001", "659900")}
    # 650200 did not answer (its last catalog, if any, is not the question): every claim of it is kept
    assert held(topology, claims, {"650100": ()}, {"650000", "650100"}) == {NAME: FIRST, "gone": "650200-B01-990343"}
    # 650200 answered: a claim it still publishes is kept, one it no longer publishes is released
    assert held(topology, claims, {"650200": (SPEC,)}, {"650200"}) == {NAME: FIRST}
