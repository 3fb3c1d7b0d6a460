"""The audit trail: a record for every data query and verification, hash-chained, fail closed."""

from __future__ import annotations

import uuid

import httpx

from resolvers.audit import first_broken_link

from ..conftest import Cluster
from ..helpers import gql, token
from .conftest import TABLE_DEPT

RECORD = """select request_id, user_id, department, action, purpose, grant_ids, resource, items_returned,
    items_denied, row_count, nodes, outcome from audit_log where request_id = $1 order by seq"""


async def _records(cluster: Cluster, request_id: str) -> list[dict[str, object]]:
    conn = await cluster.connect("650000")
    try:
        return [dict(r) for r in await conn.fetch(RECORD, request_id)]
    finally:
        await conn.close()


async def test_allowed_and_denied_reads_are_recorded(client: httpx.AsyncClient, cluster: Cluster,
                                                     grants: dict[str, int]) -> None:
    request_id = uuid.uuid4().hex
    body, _ = await gql(client, """{ population(first: 7, purpose: "P-active") { nodes { name birthDate phone } }
        refused: population(filter: {phone: {eq: "1"}}) { nodes { name } } }""",
                        Authorization=f"Bearer {token(TABLE_DEPT)}", **{"X-Request-Id": request_id})
    assert len(body["data"]["population"]["nodes"]) == 7
    records = await _records(cluster, request_id)
    assert len(records) == 2
    read = next(r for r in records if r["outcome"] == "ok")
    assert read == {
        "request_id": request_id, "user_id": f"demo-user@{TABLE_DEPT}", "department": TABLE_DEPT,
        "action": "read", "purpose": "P-active", "grant_ids": [grants["active"]], "resource": "650000-B01-000001",
        "items_returned": ["name", "birth_date"], "items_denied": ["phone"], "row_count": 7,
        "nodes": ["650000", "650100", "650200", "653000", "654300"], "outcome": "ok"}
    refused = next(r for r in records if r["outcome"] == "refused")
    assert refused["items_denied"] == ["phone"] and refused["row_count"] == 0


async def test_verifications_are_recorded(client: httpx.AsyncClient, cluster: Cluster) -> None:
    request_id = uuid.uuid4().hex
    await gql(client, """{ verify(resource: "population", key: "650100190001010000",
        values: [{item: "name", value: "x"}, {item: "biometric_template_id", value: "y"}]) { found } }""",
              **{"X-Request-Id": request_id})
    [record] = await _records(cluster, request_id)
    assert (record["action"], record["items_returned"], record["items_denied"], record["outcome"]) == (
        "verify", ["name"], ["biometric_template_id"], "not_found")


async def test_a_tampered_record_is_detected_at_its_link(client: httpx.AsyncClient, cluster: Cluster) -> None:
    await gql(client, "{ population(first: 1) { nodes { name } } }")
    conn = await cluster.connect("650000")
    try:
        assert await first_broken_link(conn) is None
        seq, rows = await conn.fetchrow("select seq, row_count from audit_log order by seq limit 1 offset 1")
        await conn.execute("update audit_log set row_count = row_count + 100 where seq = $1", seq)
        try:
            broken = await first_broken_link(conn)
            assert broken is not None and broken[0] == seq and "altered" in broken[1]
        finally:
            await conn.execute("update audit_log set row_count = $2 where seq = $1", seq, rows)
        assert await first_broken_link(conn) is None
        # removing a record breaks the link of the one after it
        victim = await conn.fetchrow("select * from audit_log order by seq limit 1 offset 2")
        await conn.execute("delete from audit_log where seq = $1", victim["seq"])
        try:
            broken = await first_broken_link(conn)
            assert broken is not None and broken[0] > victim["seq"] and "removed" in broken[1]
        finally:
            await conn.execute(
                "insert into audit_log values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                *victim.values())
        assert await first_broken_link(conn) is None
    finally:
        await conn.close()


async def test_no_audit_record_no_data(client: httpx.AsyncClient, cluster: Cluster) -> None:
    conn = await cluster.connect("650100")
    entity = await conn.fetchval("select uscc from legal_entities limit 1")
    await conn.close()
    cluster.stop("650000")  # the audit trail lives on the region database
    try:
        body, response = await gql(client, "{ population(first: 5, filter: {nodes: [\"650100\", \"650200\"]}) "
                                           "{ nodes { name sex } } }")
        assert response.status_code == 200
        assert body["data"] == {"population": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["AUDIT_UNAVAILABLE"]
        # legal entities need no grant lookup and the key is found on a node that answers:
        # only the missing audit record stops the answer
        body, _ = await gql(client, 'query($k: String!) { verify(resource: "legalEntities", key: $k, '
                                    'values: [{item: "name", value: "x"}]) { found } }', {"k": entity})
        # verify is nullable like every root field (issue 7 section 5): null, not the whole answer
        assert body["data"] == {"verify": None} and body["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
    finally:
        cluster.start("650000")
    body, _ = await gql(client, "{ population(first: 5) { nodes { name } } }")
    assert len(body["data"]["population"]["nodes"]) == 5


async def test_a_data_node_down_gives_partial_rows_and_a_partial_record(client: httpx.AsyncClient,
                                                                        cluster: Cluster) -> None:
    request_id = uuid.uuid4().hex
    cluster.stop("650200")
    try:
        body, _ = await gql(client, "{ population(first: 50) { unavailableNodes totalCount nodes { divisionCode } } }",
                            **{"X-Request-Id": request_id})
    finally:
        cluster.start("650200")
    page = body["data"]["population"]
    assert page["unavailableNodes"] == ["650200"] and page["totalCount"] is None
    assert page["nodes"] and "650200" not in {r["divisionCode"] for r in page["nodes"]}
    assert [(e["extensions"]["code"], e["extensions"]["node"]) for e in body["errors"]] == [
        ("NODE_UNAVAILABLE", "650200")]
    [record] = await _records(cluster, request_id)
    assert record["outcome"] == "partial" and "650200" not in record["nodes"]
