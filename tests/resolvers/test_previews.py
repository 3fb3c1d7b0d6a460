"""previewPolicyChange: the decisions a change would turn, checked against explain after the change is
really made; nothing stored by the preview itself; within 2 s."""

from __future__ import annotations

from typing import Any

import httpx

from ..admin_helpers import as_user, until
from ..helpers import gql

POPULATION = "650000-B01-000001"
PREVIEW = """query($add: [RuleInput!], $remove: [Int!], $re: [ReclassifyInput!]) {
  previewPolicyChange(add: $add, remove: $remove, reclassify: $re, limit: 2000) {
    totalChanges departmentsConsidered itemsConsidered elapsedMs
    changes { departments resource item action grantState shareClassBefore shareClassAfter
              before { allowed reason } after { allowed reason } } } }"""
EXPLAIN = """query($d: String!, $i: String!, $a: DataAction!) { explain(department: $d, resource: "650000-B01-000001",
  item: $i, action: $a) { allowed reason } }"""
DENY_JY = {"subject": "kind:JY", "resource": POPULATION, "item": "sex", "action": "READ", "effect": "DENY"}


async def _preview(client: httpx.AsyncClient, **variables: Any) -> dict[str, Any]:
    body, _ = await gql(client, PREVIEW, variables, **as_user("admin.region"))
    assert "errors" not in body, body
    return dict(body["data"]["previewPolicyChange"])


async def test_a_deny_rule_for_a_group(client: httpx.AsyncClient) -> None:
    rules_before, _ = await gql(client, "{ accessRules { id } }", **as_user("admin.region"))
    preview = await _preview(client, add=[DENY_JY])
    assert preview["elapsedMs"] < 2000 and preview["itemsConsidered"] > 1000
    [change] = preview["changes"]
    assert (change["resource"], change["item"], change["action"], change["grantState"]) == (
        POPULATION, "sex", "read", "none")
    assert change["before"] == {"allowed": True, "reason": None}
    assert change["after"] == {"allowed": False, "reason": "POLICY_DENIED"}
    assert change["departments"] == ["650000-JY", "650100-JY", "650200-JY", "653000-JY", "654300-JY"]
    assert preview["totalChanges"] == 5
    rules_after, _ = await gql(client, "{ accessRules { id } }", **as_user("admin.region"))
    assert rules_after == rules_before  # a preview stores nothing
    # the preview's "after" is what enforcement answers once the rule is really added
    body, _ = await gql(client, """mutation($r: RuleInput!) { addRule(rule: $r, reason: "preview check") {
        rule { id } } }""", {"r": DENY_JY}, **as_user("admin.region"))
    rule_id = body["data"]["addRule"]["rule"]["id"]
    try:
        async def denied() -> bool:
            found, _ = await gql(client, EXPLAIN, {"d": "650100-JY", "i": "sex", "a": "READ"},
                                 **as_user("admin.region"))
            return found["data"]["explain"] == {"allowed": False, "reason": "POLICY_DENIED"}

        assert await until(denied)
        # and removing it, previewed, turns exactly those decisions back
        back = await _preview(client, remove=[rule_id])
        assert [(c["item"], c["before"]["reason"], c["after"]["allowed"]) for c in back["changes"]] == [
            ("sex", "POLICY_DENIED", True)]
    finally:
        await gql(client, 'mutation($id: Int!) { removeRule(id: $id, reason: "clean up") { rule { id } } }',
                  {"id": rule_id}, **as_user("admin.region"))


async def test_removing_the_conditional_allow_and_reclassifying(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, """{ accessRules(filter: {effect: ALLOW, action: READ}) { id shareClass grantState
        subject } }""", **as_user("admin.region"))
    conditional = next(r["id"] for r in body["data"]["accessRules"]
                       if (r["shareClass"], r["grantState"], r["subject"]) == ("CONDITIONAL", "active", "*"))
    preview = await _preview(client, remove=[conditional])
    assert preview["changes"] and all(
        c["grantState"] == "active" and c["action"] == "read" and c["before"]["allowed"]
        and c["after"] == {"allowed": False, "reason": "POLICY_DENIED"} for c in preview["changes"])
    assert preview["totalChanges"] >= preview["departmentsConsidered"]
    reclassified = await _preview(client, re=[{"resource": POPULATION, "item": "household_type",
                                                "shareClass": "NOT_SHARED"}])
    changed = {(c["action"], c["after"]["reason"]) for c in reclassified["changes"]}
    assert changed == {("read", "NOT_SHARED"), ("verify", "NOT_SHARED")}
    assert all(c["item"] == "household_type" and c["shareClassAfter"] == "NOT_SHARED"
               for c in reclassified["changes"])
    assert reclassified["totalChanges"] == 2 * reclassified["departmentsConsidered"]


async def test_preview_validates_and_needs_policy_read(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, PREVIEW, {"add": [{**DENY_JY, "subject": "kind:XX"}]}, **as_user("admin.region"))
    assert body["errors"][0]["extensions"]["field"] == "subject"
    body, _ = await gql(client, PREVIEW, {"remove": [999999]}, **as_user("admin.region"))
    assert body["errors"][0]["extensions"]["field"] == "remove"
    body, _ = await gql(client, PREVIEW, {"add": [DENY_JY]}, **as_user("developer.urumqi"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
