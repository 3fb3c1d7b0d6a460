"""The app's shared rate limits when the region database (which keeps them) is down: verification fails
closed with its own code, the query budget keeps limiting per process and other nodes' data is served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import httpx
import pytest

from govshare.core.settings import Settings
from govshare.server.app import create_app

from ..conftest import Cluster
from ..helpers import gql, token

DEPARTMENT = "650100-GA"
VERIFY = '{ verify(resource: "population", key: "650100190001010005", values: [{item: "name", value: "x"}]) { found } }'
CATALOG = '{ resources(first: 1, filter: {nodes: ["650100"]}) { edges { node { code } } } }'


async def _empty_buckets(cluster: Cluster) -> None:
    conn = await asyncpg.connect(cluster.dsn("650000"))
    try:
        await conn.execute("delete from rate_buckets where subject = $1", DEPARTMENT)
    finally:
        await conn.close()


@pytest.fixture
async def budgeted(cluster: Cluster, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await _empty_buckets(cluster)
    app = create_app(replace(settings, query_budget_per_minute=5), cluster.service_topology)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://govshare.test",
            headers={"Authorization": f"Bearer {token(DEPARTMENT)}"}) as http:
        yield http
    await _empty_buckets(cluster)


async def test_the_budget_refuses_beyond_its_allowance(budgeted: httpx.AsyncClient) -> None:
    statuses = [(await budgeted.post("/graphql", json={"query": CATALOG})).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_without_the_region_verification_fails_closed_and_the_budget_limits_locally(
        budgeted: httpx.AsyncClient, cluster: Cluster) -> None:
    cluster.stop("650000")
    try:
        body, response = await gql(budgeted, VERIFY)
        assert response.status_code == 200 and body["data"]["verify"] is None
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMIT_UNAVAILABLE"  # the budget let it through
        answers = [await budgeted.post("/graphql", json={"query": CATALOG}) for _ in range(5)]
        # the prefecture's rows are still served; the budget still counts, in this process alone
        assert [a.status_code for a in answers] == [200] * 4 + [429]
        assert answers[0].json()["data"]["resources"]["edges"]
    finally:
        cluster.start("650000")
    metrics = (await budgeted.get("/metrics")).text
    assert 'govshare_rate_limit_leases_total{limit="queries",outcome="unavailable"} 1.0' in metrics
    assert 'govshare_rate_limit_leases_total{limit="verification",outcome="unavailable"} 1.0' in metrics
