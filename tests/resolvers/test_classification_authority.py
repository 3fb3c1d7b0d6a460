"""A node's catalog cannot declassify another node's data nor widen its reach (issue 7, section 1).

The attack: a prefecture that can write its own catalog database publishes a resource pointing at the
region's `population` register, claiming every node's rows (`all_nodes`) with every item UNCONDITIONAL.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from ..conftest import Cluster
from ..helpers import gql

ROGUE_ITEMS = """insert into data_items (resource_code, name, position, title_zh, data_type, share_class, is_key)
    values ($1, 'citizen_id', 0, '公民身份号码', 'string', 'UNCONDITIONAL', true),
           ($1, 'division_code', 1, '行政区划代码', 'string', 'UNCONDITIONAL', false),
           ($1, 'phone', 2, '联系电话', 'string', 'UNCONDITIONAL', false),
           ($1, 'biometric_template_id', 3, '生物特征模板编号', 'string', 'UNCONDITIONAL', false)"""
ROGUE = """insert into resources (code, node_code, classification, category, name_zh, provider_code, provider_level,
    format, update_cycle, share_class, open_attribute, status, data_table, data_scope, api_name)
    values ($1, $2, 'department', 'population', '全区人口（伪造）', $3, 'prefecture', 'database', 'daily',
            'UNCONDITIONAL', 'open', 'published', 'population', 'all_nodes', $4)"""
QUERY = """{ %s(first: 1000) { totalCount
    nodes { divisionCode biometricTemplateId phone citizenId } } }"""


async def _published(client: httpx.AsyncClient, api: str) -> dict[str, Any]:
    started = time.monotonic()
    while time.monotonic() - started < 10:
        body, _ = await gql(client, QUERY % api)
        if body.get("data", {}).get(api) is not None:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{api} was not published")


def _reasons(body: dict[str, Any]) -> dict[str, str]:
    return {e["extensions"]["item"]: e["extensions"]["reason"] for e in body.get("errors", [])}


@pytest.mark.parametrize("database, node, api", [("650100", "650100", "everyoneFrom650100"),
                                                 ("650000", "654300", "everyoneFrom654300")])
async def test_a_prefecture_entry_on_the_population_register_reads_nothing_it_should_not(
        client: httpx.AsyncClient, cluster: Cluster, database: str, node: str, api: str) -> None:
    code = f"{node}-B01-990099"
    conn = await cluster.connect(database)
    try:
        own_rows = await conn.fetchval("select count(*) from population where node_code = $1", node)
        async with conn.transaction():
            await conn.execute(ROGUE, code, node, f"{node}-GA", api)
            await conn.execute(ROGUE_ITEMS, code)
        body = await _published(client, api)
        page = body["data"][api]
        # No widened scope: the provider node's own rows only, not the region's nor the other prefectures'.
        assert {r["divisionCode"] for r in page["nodes"]} == {node}
        assert page["totalCount"] == own_rows and len(page["nodes"]) == min(own_rows, 1000)
        # No loosened class: the region's classes apply (NOT_SHARED never, CONDITIONAL needs a grant).
        assert all(r["biometricTemplateId"] is None and r["phone"] is None and r["citizenId"] is None
                   for r in page["nodes"])
        assert _reasons(body) == {"biometric_template_id": "NOT_SHARED", "phone": "NO_GRANT",
                                  "citizen_id": "NO_GRANT"}
        # Verification through the entry reaches no other node's row either.
        prefecture = await cluster.connect("650200")
        try:
            other = await prefecture.fetchval("select citizen_id from population limit 1")
        finally:
            await prefecture.close()
        body, _ = await gql(client, """query($r: String!, $k: String!) { verify(resource: $r, key: $k,
            values: [{item: "division_code", value: "650200"}]) { found } }""", {"r": api, "k": other})
        assert body["data"]["verify"] == {"found": False}
        # The conflict is reported (the 一数一源 list of supervision) and logged.
        ready = (await client.get("/readyz")).json()
        findings = [f for f in ready["schema"]["catalog_findings"] if f["resource"] == code]
        assert {(f["kind"], f.get("column")) for f in findings} >= {
            ("scope_narrowed", None), ("class_conflict", "biometric_template_id"), ("class_conflict", "phone"),
            ("class_conflict", "citizen_id")}
        holder = client.app.state.schemas  # type: ignore[attr-defined]
        assert {(f.resource, f.column) for f in holder.conflicts} >= {
            (code, "biometric_template_id"), (code, "phone"), (code, "citizen_id")}
        assert all(f.kind != "scope_narrowed" for f in holder.conflicts)
        biometric = next(f for f in findings if f.get("column") == "biometric_template_id")
        assert biometric["applied"] == "NOT_SHARED"
        assert biometric["classes"] == {"650000-B01-000001": "NOT_SHARED", code: "UNCONDITIONAL"}
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()


PLATFORM_ENTRY = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status, data_table, data_scope, api_name)
    values ($1, '650000', 'department', 'platform', '审计日志（伪造）', '650000-GA', 'region', 'database', 'daily',
            'UNCONDITIONAL', 'open', 'published', $2, 'provider', $3)"""
PLATFORM_ITEMS = """insert into data_items (resource_code, name, position, title_zh, data_type, share_class, is_key)
    values ($1, 'department', 0, '部门', 'string', 'UNCONDITIONAL', true),
           ($1, 'user_id', 1, '用户', 'string', 'UNCONDITIONAL', false)"""


@pytest.mark.parametrize("table", ["audit_log", "role_assignments"])
async def test_a_platform_table_is_never_served_as_shared_data(client: httpx.AsyncClient, cluster: Cluster,
                                                               table: str) -> None:
    """Even the region's own catalog cannot publish the audit trail or the role assignments: only
    registers (node_code and row_id columns) hold shared data. Found from outside: such an entry was
    served and its queries reported the region as unavailable."""
    code, api = "650000-D90-990077", "platformLeak"
    conn = await cluster.connect("650000")
    try:
        async with conn.transaction():
            await conn.execute(PLATFORM_ENTRY, code, table, api)
            await conn.execute(PLATFORM_ITEMS, code)
        started = time.monotonic()
        findings: list[dict[str, Any]] = []
        while time.monotonic() - started < 10 and not findings:
            ready = (await client.get("/readyz")).json()
            findings = [f for f in ready["schema"]["catalog_findings"] if f["resource"] == code]
            await asyncio.sleep(0.05)
        assert [(f["kind"], "not a shared-data register" in f["detail"]) for f in findings] == [
            ("entry_refused", True)]
        body, _ = await gql(client, "{ " + api + "(first: 1) { nodes { department } } }")
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"  # no such field
        body, _ = await gql(client, "{ legalEntities(first: 1) { nodes { name } } }")
        assert "errors" not in body  # the region is not reported unavailable
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
