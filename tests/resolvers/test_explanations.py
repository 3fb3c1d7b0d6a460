"""explain gives the answer of a real query: both run on every row of the access truth table (and its
row-scope rows), and each must agree with the table and with the other."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import pytest

from ..admin_helpers import as_user, until
from ..helpers import gql, token
from .conftest import NO_GRANT_DEPT, POPULATION, SCOPED_DEPT, TABLE_DEPT
from .test_access_truth_table import ASKED, ITEM, ROWS, SCOPE_ROWS, _a_citizen, _purpose

EXPLAIN = """query($d: String!, $r: String!, $i: String!, $a: DataAction!, $p: String, $n: [String!]) {
  explain(department: $d, resource: $r, item: $i, action: $a, purpose: $p, nodes: $n) {
    allowed reason shareClass grantState grant { id purpose } rowScope howToRequest
    matchedRules { id effect subject } } }"""


async def _query_reason(client: httpx.AsyncClient, department: str, field: str, item: str, stated: str | None,
                        nodes: list[str] | None = None) -> str | None:
    headers = {"Authorization": f"Bearer {token(department)}"}
    if stated is not None:
        headers["X-Govshare-Purpose"] = urllib.parse.quote(stated)
    body, _ = await gql(client, "query($n: [String!]) { population(first: 3, filter: {nodes: $n}) "
                                f"{{ nodes {{ name {field} }} }} }}", {"n": nodes}, **headers)
    reasons = [e["extensions"]["reason"] for e in body.get("errors", []) if e["extensions"].get("item") == item]
    return reasons[0] if reasons else None


async def _verify_reason(client: httpx.AsyncClient, department: str, item: str, stated: str | None) -> str | None:
    citizen = await _a_citizen(client)
    body, _ = await gql(client, """query($k: String!, $v: [VerifyValue!]!, $p: String) { verify(
        resource: "population", key: $k, values: $v, purpose: $p) { items { item outcome reason } } }""",
                        {"k": citizen["id"], "v": [{"item": item, "value": citizen[item]}], "p": stated},
                        Authorization=f"Bearer {token(department)}")
    outcome = body["data"]["verify"]["items"][0]
    return outcome["reason"] if outcome["outcome"] == "FORBIDDEN" else None


async def _explain(client: httpx.AsyncClient, department: str, item: str, action: str, stated: str | None,
                   caller: dict[str, str], nodes: list[str] | None = None) -> dict[str, Any]:
    body, _ = await gql(client, EXPLAIN, {"d": department, "r": POPULATION, "i": item, "a": action.upper(),
                                          "p": stated, "n": nodes}, **caller)
    assert "errors" not in body, body
    return dict(body["data"]["explain"])


@pytest.mark.parametrize(("share_class", "state", "purpose", "action", "reason"), ROWS,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[3]}" for r in ROWS])
async def test_explain_agrees_with_the_real_query(client: httpx.AsyncClient, grants: dict[str, int], share_class: str,
                                                  state: str, purpose: str, action: str, reason: str | None) -> None:
    department = NO_GRANT_DEPT if state == "none" else TABLE_DEPT
    item, field = ITEM[share_class]
    stated = _purpose(state, purpose)
    if action == "read":
        real = await _query_reason(client, department, field, item, stated)
    else:
        real = await _verify_reason(client, department, item, stated)
    # the department asks about itself (no role needed); a supervisor asks about it (policy.read)
    for caller in (as_user("self", department), as_user("supervisor.region")):
        explained = await _explain(client, department, item, action, stated, caller)
        assert (explained["allowed"], explained["reason"]) == (real is None, real) == (reason is None, reason)
        assert explained["shareClass"] == share_class
        if explained["allowed"]:
            assert any(r["effect"] == "allow" for r in explained["matchedRules"])
        if share_class == "CONDITIONAL" and action == "read" and reason is None:
            assert explained["grant"]["id"] == grants["active"] and explained["grantState"] == "ACTIVE"
        if reason in ("NO_GRANT", "GRANT_EXPIRED", "PURPOSE_MISMATCH"):
            assert "share request" in explained["howToRequest"]


@pytest.mark.parametrize(("share_class", "rows", "purpose", "reason"), SCOPE_ROWS,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in SCOPE_ROWS])
async def test_explain_agrees_on_row_scopes(client: httpx.AsyncClient, grants: dict[str, int], share_class: str,
                                            rows: str, purpose: str, reason: str | None) -> None:
    item, field = ITEM[share_class] if share_class != "CONDITIONAL" else ("address", "address")
    stated = {"matching": "P-scope", "different": "P-other", "missing": None}[purpose]
    real = await _query_reason(client, SCOPED_DEPT, field, item, stated, ASKED[rows])
    explained = await _explain(client, SCOPED_DEPT, item, "read", stated, as_user("admin.region"), ASKED[rows])
    assert (explained["allowed"], explained["reason"]) == (real is None, real) == (reason is None, reason)
    if reason is None and share_class == "CONDITIONAL":
        assert explained["rowScope"] == ["650100"]


async def test_explain_of_another_department_needs_policy_read(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, EXPLAIN, {"d": TABLE_DEPT, "r": POPULATION, "i": "name", "a": "READ"},
                        **as_user("developer.urumqi"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body, _ = await gql(client, EXPLAIN, {"d": TABLE_DEPT, "r": POPULATION, "i": "nmae", "a": "READ"},
                        **as_user("admin.region"))
    assert body["errors"][0]["extensions"]["field"] == "item" and "name" in body["errors"][0]["extensions"]["accepted"]


async def test_explain_at_a_past_time_uses_the_rules_of_then(client: httpx.AsyncClient) -> None:
    import asyncio
    from datetime import UTC, datetime

    before = datetime.now(UTC).isoformat()
    await asyncio.sleep(1.2)  # explain treats an `at` over a second old as the past
    rule = {"subject": "650200-ZR", "resource": POPULATION, "item": "ethnicity", "effect": "DENY"}
    body, _ = await gql(client, """mutation($r: RuleInput!) { addRule(rule: $r, reason: "explain at") {
        rule { id } } }""", {"r": rule}, **as_user("admin.region"))
    rule_id = body["data"]["addRule"]["rule"]["id"]
    query = """query($at: DateTime) { explain(department: "650200-ZR", resource: "650000-B01-000001",
        item: "ethnicity", action: VERIFY, at: $at) { allowed reason matchedRules { id } } }"""
    try:
        then, _ = await gql(client, query, {"at": before}, **as_user("admin.region"))
        assert then["data"]["explain"]["allowed"] is True, then
        assert rule_id not in [r["id"] for r in then["data"]["explain"]["matchedRules"]]
        async def now() -> dict[str, Any] | None:
            body, _ = await gql(client, query, {"at": None}, **as_user("admin.region"))
            found = body["data"]["explain"]
            return found if found["reason"] == "POLICY_DENIED" else None

        current = await until(now)  # once this process has reloaded the rules
        assert current is not None and rule_id in [r["id"] for r in current["matchedRules"]]
    finally:
        await gql(client, 'mutation($id: Int!) { removeRule(id: $id, reason: "clean up") { rule { id } } }',
                  {"id": rule_id}, **as_user("admin.region"))


async def test_explain_at_a_past_time_uses_the_item_class_of_then(client: httpx.AsyncClient) -> None:
    import asyncio
    from datetime import UTC, datetime

    before = datetime.now(UTC).isoformat()
    await asyncio.sleep(1.2)  # explain treats an `at` over a second old as the past
    body, _ = await gql(client, """mutation { reclassifyItem(resource: "650000-B01-000001", item: "household_type",
        shareClass: CONDITIONAL, condition: "用于户籍核验", reason: "explain at") { id } }""", **as_user("admin.region"))
    change = body["data"]["reclassifyItem"]["id"]
    query = """query($at: DateTime) { explain(department: "650200-GA", resource: "650000-B01-000001",
        item: "household_type", at: $at) { allowed reason shareClass } }"""
    try:
        then, _ = await gql(client, query, {"at": before}, **as_user("admin.region"))
        assert then["data"]["explain"] == {"allowed": True, "reason": None, "shareClass": "UNCONDITIONAL"}, then
        current, _ = await gql(client, query, {"at": None}, **as_user("admin.region"))
        assert current["data"]["explain"] == {"allowed": False, "reason": "NO_GRANT", "shareClass": "CONDITIONAL"}
    finally:
        await gql(client, 'mutation($id: Int!) { revertPolicyChange(id: $id, reason: "clean up") { id } }',
                  {"id": change}, **as_user("admin.region"))
