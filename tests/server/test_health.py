"""/healthz and /readyz, including a node going down and coming back."""

from __future__ import annotations

import httpx

from govshare.migrations.runner import latest_version

from ..conftest import Cluster


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_follows_a_node_down_and_back(client: httpx.AsyncClient, cluster: Cluster) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["nodes"]) == {n.code for n in cluster.topology.nodes}
    assert all(n["migration_version"] == latest_version() for n in body["nodes"].values())
    assert body["schema"]["version"] >= 1
    assert {"population", "legalEntities", "businessLicences"} <= set(body["schema"]["data_resources"])

    cluster.stop("650200")
    try:
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["not_ready"] == ["650200"]
        assert down.json()["nodes"]["650200"]["reachable"] is False
        assert down.json()["nodes"]["650100"]["ready"] is True
    finally:
        cluster.start("650200")
    back = await client.get("/readyz")
    assert back.status_code == 200, back.json()


async def test_readyz_names_hosted_nodes_with_their_host(client: httpx.AsyncClient, cluster: Cluster) -> None:
    cluster.stop("650000")
    try:
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["not_ready"] == ["650000", "653000", "654300"]
    finally:
        cluster.start("650000")
    assert (await client.get("/readyz")).status_code == 200


async def test_metrics_count_requests_statements_and_denials(client: httpx.AsyncClient) -> None:
    from ..helpers import gql, token

    await gql(client, "{ population(first: 1) { nodes { name birthDate } } }",
              Authorization=f"Bearer {token('650200-JY')}")
    await client.post("/graphql", json={"query": "{ nodes { code } }"}, headers={"Authorization": "Bearer x"})
    text = (await client.get("/metrics")).text
    assert 'govshare_graphql_requests_total{outcome="ok"}' in text
    assert 'govshare_graphql_requests_total{outcome="401"}' in text
    assert 'govshare_field_denials_total{reason="NO_GRANT"}' in text
    assert 'govshare_sql_statements_total{database="650000"}' in text
    assert "govshare_schema_version" in text
    assert "650200-JY" not in text and "birth" not in text  # counts only: no departments, no items
