"""Item classes, named groups and the history: every change recorded (who, when, before, after, why),
queryable, the policy at a past time, and reverts as new changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from ..admin_helpers import as_user, until
from ..helpers import gql, token

POPULATION = "650000-B01-000001"
RECLASSIFY = """mutation($item: String!, $c: ShareClass!, $cond: String, $law: String, $reason: String!) {
  reclassifyItem(resource: "650000-B01-000001", item: $item, shareClass: $c, condition: $cond, legalBasis: $law,
                 reason: $reason) { id kind before after reverts } }"""
REVERT = """mutation($id: Int!) { revertPolicyChange(id: $id, reason: "undo in test") {
  id kind operation reverts before after } }"""
CHANGES = """query($r: String, $k: ChangeKind, $since: DateTime) { policyChanges(resource: $r, kind: $k, since: $since) {
  id at actor kind operation before after reason reverts } }"""
AT = """query($at: DateTime!) { policyAt(at: $at) { rules { id subject } roles { user role domain }
  groups { name members } classes { resource item shareClass } grants { id state } } }"""
ADD = """mutation($rule: RuleInput!) { addRule(rule: $rule, reason: "history test") { rule { id } change { id } } }"""


async def _household(client: httpx.AsyncClient) -> str | None:
    body, _ = await gql(client, "{ population(first: 1) { nodes { householdType } } }",
                        Authorization=f"Bearer {token('650200-GA')}")
    reasons = [e["extensions"].get("reason") for e in body.get("errors", [])]
    return reasons[0] if reasons else None


async def test_reclassify_validate_enforce_revert(client: httpx.AsyncClient) -> None:
    start = datetime.now(UTC)
    variables: dict[str, Any] = {"item": "household_type", "c": "CONDITIONAL", "reason": "new regulation"}
    body, _ = await gql(client, RECLASSIFY, variables, **as_user("admin.region"))
    assert body["errors"][0]["extensions"]["field"] == "condition"
    body, _ = await gql(client, RECLASSIFY, {**variables, "c": "NOT_SHARED"}, **as_user("admin.region"))
    assert body["errors"][0]["extensions"]["field"] == "legalBasis"
    for caller in ("admin.urumqi", "supervisor.region", "developer.urumqi"):
        body, _ = await gql(client, RECLASSIFY, {**variables, "cond": "c"}, **as_user(caller))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", caller
    body, _ = await gql(client, RECLASSIFY, {**variables, "cond": "用于户籍核验"}, **as_user("admin.region"))
    change = body["data"]["reclassifyItem"]
    assert change["before"]["shareClass"] == "UNCONDITIONAL" and change["after"]["condition"] == "用于户籍核验"
    try:
        assert await until(lambda: _is(client, "NO_GRANT")), "the new class was not enforced within 2 s"
        at_start, _ = await gql(client, AT, {"at": start.isoformat()}, **as_user("supervisor.region"))
        then = [c for c in at_start["data"]["policyAt"]["classes"] if c["item"] == "household_type"]
        assert then == [{"resource": POPULATION, "item": "household_type", "shareClass": "UNCONDITIONAL"}]
    finally:
        body, _ = await gql(client, REVERT, {"id": change["id"]}, **as_user("admin.region"))
    reverted = body["data"]["revertPolicyChange"]
    assert reverted["reverts"] == change["id"] and reverted["after"]["shareClass"] == "UNCONDITIONAL"
    assert await until(lambda: _is(client, None)), "the revert was not enforced within 2 s"
    again, _ = await gql(client, REVERT, {"id": change["id"]}, **as_user("admin.region"))
    assert "reverted already" in again["errors"][0]["message"]
    listed, _ = await gql(client, CHANGES, {"r": POPULATION, "k": "CLASS", "since": start.isoformat()},
                          **as_user("supervisor.region"))
    history = listed["data"]["policyChanges"]
    assert [(c["id"], c["reverts"]) for c in history] == [(reverted["id"], change["id"]), (change["id"], None)]
    assert history[1]["actor"] == "admin.region" and history[1]["reason"] == "new regulation"


async def _is(client: httpx.AsyncClient, reason: str | None) -> bool:
    return await _household(client) == reason


async def test_rules_at_past_times_and_revert_of_a_removal(client: httpx.AsyncClient) -> None:
    rule = {"subject": "650200-SW", "resource": POPULATION, "item": "registered_on", "effect": "DENY"}
    body, _ = await gql(client, ADD, {"rule": rule}, **as_user("admin.region"))
    rule_id = body["data"]["addRule"]["rule"]["id"]
    await asyncio.sleep(0.01)
    between = datetime.now(UTC)
    removed, _ = await gql(client, 'mutation($id: Int!) { removeRule(id: $id, reason: "gone") { change { id } } }',
                           {"id": rule_id}, **as_user("admin.region"))
    removal = removed["data"]["removeRule"]["change"]["id"]
    past, _ = await gql(client, AT, {"at": between.isoformat()}, **as_user("supervisor.region"))
    now, _ = await gql(client, AT, {"at": datetime.now(UTC).isoformat()}, **as_user("supervisor.region"))
    assert rule_id in [r["id"] for r in past["data"]["policyAt"]["rules"]]
    assert rule_id not in [r["id"] for r in now["data"]["policyAt"]["rules"]]
    assert {"user": "admin.region", "role": "policy_admin", "domain": "650000"} in now["data"]["policyAt"]["roles"]
    refused, _ = await gql(client, REVERT, {"id": removal}, **as_user("admin.urumqi"))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body, _ = await gql(client, REVERT, {"id": removal}, **as_user("admin.region"))
    readded = body["data"]["revertPolicyChange"]
    assert readded["operation"] == "add" and readded["after"]["subject"] == "650200-SW"
    await gql(client, 'mutation($id: Int!) { removeRule(id: $id, reason: "clean up") { rule { id } } }',
              {"id": readded["after"]["id"]}, **as_user("admin.region"))
    refused, _ = await gql(client, AT, {"at": between.isoformat()}, **as_user("developer.urumqi"))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_named_group_in_a_rule(client: httpx.AsyncClient) -> None:
    save = """mutation($m: [String!]!) { saveDepartmentGroup(name: "relief-bureaus", members: $m,
      reason: "低保联审") { id operation before after } }"""
    body, _ = await gql(client, save, {"m": ["650100-MZ", "650200-XX"]}, **as_user("admin.region"))
    assert body["errors"][0]["extensions"]["field"] == "members"
    body, _ = await gql(client, save, {"m": ["650100-MZ"]}, **as_user("developer.urumqi"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body, _ = await gql(client, save, {"m": ["650100-MZ", "650200-MZ"]}, **as_user("admin.region"))
    created = body["data"]["saveDepartmentGroup"]
    assert created["operation"] == "create" and created["after"]["members"] == ["650100-MZ", "650200-MZ"]
    rule = {"subject": "group:relief-bureaus", "resource": POPULATION, "item": "registered_on", "effect": "DENY"}
    added = await until(lambda: _add(client, rule))  # the group is known once the policy reloads
    rule_id = added["data"]["addRule"]["rule"]["id"]

    async def registered(department: str) -> str | None:
        body, _ = await gql(client, "{ population(first: 1) { nodes { registeredOn } } }",
                            Authorization=f"Bearer {token(department)}")
        return next((e["extensions"]["reason"] for e in body.get("errors", [])), None)

    try:
        assert await until(lambda: _equals(registered("650200-MZ"), "POLICY_DENIED"))
        assert await registered("650200-GA") is None
        members, _ = await gql(client, '{ groupMembers(group: "group:relief-bureaus") }', **as_user("admin.region"))
        assert members["data"]["groupMembers"] == ["650100-MZ", "650200-MZ"]
        body, _ = await gql(client, save, {"m": ["650100-MZ"]}, **as_user("admin.region"))
        update = body["data"]["saveDepartmentGroup"]
        assert update["operation"] == "update" and update["before"]["members"] == ["650100-MZ", "650200-MZ"]
        assert await until(lambda: _equals(registered("650200-MZ"), None))
        body, _ = await gql(client, REVERT, {"id": update["id"]}, **as_user("admin.region"))
        assert body["data"]["revertPolicyChange"]["after"]["members"] == ["650100-MZ", "650200-MZ"]
        assert await until(lambda: _equals(registered("650200-MZ"), "POLICY_DENIED"))
    finally:
        await gql(client, 'mutation($id: Int!) { removeRule(id: $id, reason: "clean up") { rule { id } } }',
                  {"id": rule_id}, **as_user("admin.region"))
        await gql(client, 'mutation { removeDepartmentGroup(name: "relief-bureaus", reason: "clean up") { id } }',
                  **as_user("admin.region"))


async def _add(client: httpx.AsyncClient, rule: dict[str, str]) -> dict[str, Any] | None:
    body, _ = await gql(client, ADD, {"rule": rule}, **as_user("admin.region"))
    return body if body.get("data") else None


async def _equals(pending: Any, expected: str | None) -> bool:
    return bool(await pending == expected)
