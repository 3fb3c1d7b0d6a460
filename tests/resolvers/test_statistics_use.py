"""Denied fields by reason and grants near expiry or never used, checked against the audit trail and the
grants read here, with statement counts, the reasons' place in the keyed chain, and who may ask."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from govshare.resolvers import audit_verdicts

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import AUDIT_KEY, gql, token

POPULATION = "650000-B01-000001"
GRANTEE = "650200-SW"
DENIALS = """{ deniedFieldStatistics(departments: ["650100-MZ"]) {
  rows { department resource item reason denials } unavailableNodes } }"""
GRANTS = """query($d: Int!) { grantStatistics(expiringWithinDays: $d) {
  expiringSoon { id grantee resource uses validUntil } neverUsed { id uses lastUsedAt } unavailableNodes } }"""


async def test_denied_fields_are_counted_by_reason(client: httpx.AsyncClient, cluster: Cluster) -> None:
    # phone is CONDITIONAL (no grant for this purpose), biometric_template_id NOT_SHARED
    query, _ = await gql(client, "{ population(first: 1) { nodes { name phone biometricTemplateId } } }",
                         **as_user("developer.urumqi"))
    told = {e["extensions"]["item"]: e["extensions"]["reason"] for e in query["errors"]}
    assert told["biometric_template_id"] == "NOT_SHARED"
    # the reasons the caller was told are in the audit record, in the order of the denied items
    body, _ = await gql(client, "{ auditRecords(first: 2) { records { action itemsDenied deniedReasons } } }",
                        **as_user("developer.urumqi"))
    read = next(r for r in body["data"]["auditRecords"]["records"] if r["action"] == "read")
    assert dict(zip(read["itemsDenied"], read["deniedReasons"], strict=True)) == told
    body, response = await gql(client, DENIALS, **as_user("supervisor.region"))
    assert "errors" not in body, body
    # the aggregate, and the audit record of reading the audit trail
    assert response.headers["X-Govshare-Statements"] == "2"
    conn = await cluster.connect("650000")
    try:
        expected = Counter[tuple[str, str, str]]()
        for r in await conn.fetch("select resource, items_denied, detail from audit_log "
                                  "where department = '650100-MZ' and action in ('read', 'verify') "
                                  "and at >= now() - interval '30 days'"):
            reasons = json.loads(r["detail"]).get("denied_reasons", []) if r["detail"] else []
            for n, item in enumerate(r["items_denied"]):
                expected[(r["resource"], item, reasons[n] if n < len(reasons) else "UNRECORDED")] += 1
        # the reasons are covered by the chain's HMAC like every other field
        verdict = await audit_verdicts.verify_chain(conn, AUDIT_KEY.encode(), [])
    finally:
        await conn.close()
    assert verdict.problems == []
    # reading the figures was itself audited
    trail, _ = await gql(client, '{ auditRecords(first: 1) { records { action resource user } } }',
                         **as_user("supervisor.region"))
    assert trail["data"]["auditRecords"]["records"][0] == {"action": "stats.read", "resource": "audit_log",
                                                          "user": "supervisor.region"}
    rows = body["data"]["deniedFieldStatistics"]["rows"]
    assert {(r["resource"], r["item"], r["reason"]): r["denials"] for r in rows} == dict(expected)
    assert expected[(POPULATION, "biometric_template_id", "NOT_SHARED")] >= 1
    # a prefecture's domain sees denials of its own resources only (population is the region's)
    body, _ = await gql(client, DENIALS, **as_user("admin.urumqi"))
    assert all(r["resource"].startswith("650100") for r in body["data"]["deniedFieldStatistics"]["rows"])


@pytest.fixture
async def fresh_grant(cluster: Cluster) -> AsyncIterator[int]:
    now = datetime.now(UTC)
    conn = await cluster.connect("650000")
    try:
        grant = await conn.fetchval(
            """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
               created_by) values ($1, $2, array['birth_date', 'citizen_id'], 'P-stats', $3, $4, 'test')
               returning id""", GRANTEE, POPULATION, now - timedelta(days=1), now + timedelta(days=3))
    finally:
        await conn.close()
    yield grant
    conn = await cluster.connect("650000")
    try:
        await conn.execute("delete from grants where id = $1", grant)
    finally:
        await conn.close()


async def _expected_grants(cluster: Cluster, days: int) -> tuple[dict[int, int], dict[int, int]]:
    """(expiring soon, never used) as {grant id: uses}, from the grants and every audit record's grant ids."""
    now = datetime.now(UTC)
    conn = await cluster.connect("650000")
    try:
        grants = await conn.fetch("select id, valid_from, valid_until from grants where status = 'active'")
        uses = Counter[int](g for r in await conn.fetch("select grant_ids from audit_log") for g in r["grant_ids"])
    finally:
        await conn.close()
    begun = [g for g in grants if g["valid_from"] <= now]
    expiring = {g["id"]: uses[g["id"]] for g in begun if now < g["valid_until"] <= now + timedelta(days=days)}
    never = {g["id"]: 0 for g in begun if uses[g["id"]] == 0}
    return expiring, never


async def test_grants_near_expiry_and_never_used(client: httpx.AsyncClient, cluster: Cluster,
                                                 fresh_grant: int) -> None:
    body, response = await gql(client, GRANTS, {"d": 5}, **as_user("supervisor.region"))
    assert "errors" not in body, body
    assert response.headers["X-Govshare-Statements"] == "2"  # the statement and the audit record of reading
    stats = body["data"]["grantStatistics"]
    expiring, never = await _expected_grants(cluster, 5)
    assert {g["id"]: g["uses"] for g in stats["expiringSoon"]} == expiring
    assert {g["id"]: g["uses"] for g in stats["neverUsed"]} == never
    assert fresh_grant in expiring and fresh_grant in never
    # outside a two-day window it is no longer "expiring soon", still never used
    body, _ = await gql(client, GRANTS, {"d": 2}, **as_user("supervisor.region"))
    assert fresh_grant not in {g["id"] for g in body["data"]["grantStatistics"]["expiringSoon"]}
    assert fresh_grant in {g["id"] for g in body["data"]["grantStatistics"]["neverUsed"]}
    # one query under the grant, and it is used
    read, _ = await gql(client, '{ population(first: 1, purpose: "P-stats") { nodes { birthDate } } }',
                        Authorization=f"Bearer {token(GRANTEE)}")
    assert "errors" not in read, read
    body, _ = await gql(client, GRANTS, {"d": 5}, **as_user("supervisor.region"))
    stats = body["data"]["grantStatistics"]
    mine = next(g for g in stats["expiringSoon"] if g["id"] == fresh_grant)
    assert mine["uses"] == 1 and mine["grantee"] == GRANTEE
    assert fresh_grant not in {g["id"] for g in stats["neverUsed"]}


@pytest.mark.parametrize("query", [DENIALS, "{ grantStatistics { expiringSoon { id } neverUsed { id } } }"])
@pytest.mark.parametrize(("user", "allowed"), [
    ("supervisor.region", True), ("admin.region", True), ("admin.urumqi", True),
    ("reviewer.region", False), ("registrar.region", False), ("developer.urumqi", False),
])
async def test_who_may_read_use_statistics(client: httpx.AsyncClient, query: str, user: str, allowed: bool) -> None:
    body, _ = await gql(client, query, **as_user(user))
    field = next(iter(body["data"]))
    if allowed:
        assert "errors" not in body, body
        return
    assert body["data"] == {field: None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["action"] == "stats.read"


async def test_bad_use_arguments(client: httpx.AsyncClient) -> None:
    for query in ['{ grantStatistics(expiringWithinDays: 0) { neverUsed { id } } }',
                  '{ grantStatistics(nodes: ["659999"]) { neverUsed { id } } }',
                  '{ deniedFieldStatistics(since: "2026-02-01T00:00:00Z", until: "2026-01-01T00:00:00Z") '
                  '{ rows { item } } }']:
        body, _ = await gql(client, query, **as_user("supervisor.region"))
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (query, body)
