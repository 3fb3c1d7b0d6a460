"""Access rules through GraphQL: add/remove (permitted and refused callers), validation naming the
field and accepted values, groups, filters, the deny rule's howToRequest, and the loader skipping
stored rows it cannot enforce (fail closed, reported in /readyz and metrics)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from ..admin_helpers import as_user, until
from ..conftest import Cluster
from ..helpers import gql, token

POPULATION = "650000-B01-000001"
ADD = """mutation($rule: RuleInput!, $reason: String!) {
  addRule(rule: $rule, reason: $reason) { rule { id subject resource item effect domain } change { id kind operation } }
}"""
REMOVE = """mutation($id: Int!) { removeRule(id: $id, reason: "test over") { rule { id } change { operation before } } }"""
RULES = """query($f: RuleFilterInput) { accessRules(filter: $f) { id subject resource item shareClass action
  grantState effect domain loaded problem } }"""


async def _sex(client: httpx.AsyncClient, department: str) -> dict[str, Any]:
    body, _ = await gql(client, "{ population(first: 2) { nodes { name sex } } }",
                        Authorization=f"Bearer {token(department)}")
    return body


def _denied(body: dict[str, Any]) -> dict[str, Any] | None:
    for error in body.get("errors", []):
        if error["extensions"].get("item") == "sex":
            return dict(error["extensions"])
    return None


async def test_deny_rule_for_a_group_takes_effect_and_names_itself(client: httpx.AsyncClient) -> None:
    rule = {"subject": "kind:JY", "resource": POPULATION, "item": "sex", "action": "READ", "effect": "DENY"}
    body, _ = await gql(client, ADD, {"rule": rule, "reason": "education bureaus do not need sex"},
                        **as_user("admin.region"))
    added = body["data"]["addRule"]
    rule_id = added["rule"]["id"]
    assert added["rule"]["domain"] == "650000" and added["change"]["operation"] == "add"
    try:
        denied = await until(lambda: _check(client, "650200-JY"))
        assert denied is not None, "the deny rule was not enforced within 2 s"
        assert denied["reason"] == "POLICY_DENIED" and denied["rules"] == [rule_id]
        assert f"access rule {rule_id}" in denied["howToRequest"] and "domain 650000" in denied["howToRequest"]
        assert "share request cannot" in denied["howToRequest"]
        assert _denied(await _sex(client, "650200-RS")) is None  # other kinds unaffected
        listed, _ = await gql(client, RULES, {"f": {"appliesTo": "650200-JY", "effect": "DENY"}},
                              **as_user("supervisor.region"))
        assert [r["id"] for r in listed["data"]["accessRules"]
                if r["subject"] == "kind:JY"] == [rule_id]
        listed, _ = await gql(client, RULES, {"f": {"appliesTo": "650200-RS", "effect": "DENY"}},
                              **as_user("supervisor.region"))
        assert rule_id not in [r["id"] for r in listed["data"]["accessRules"]]
    finally:
        body, _ = await gql(client, REMOVE, {"id": rule_id}, **as_user("admin.region"))
        assert body["data"]["removeRule"]["change"]["before"]["subject"] == "kind:JY"
    assert await until(lambda: _allowed(client, "650200-JY")), "the removed rule still applied after 2 s"


async def _check(client: httpx.AsyncClient, department: str) -> dict[str, Any] | None:
    return _denied(await _sex(client, department))


async def _allowed(client: httpx.AsyncClient, department: str) -> bool:
    return _denied(await _sex(client, department)) is None


async def test_prefecture_admin_only_in_its_domain(client: httpx.AsyncClient, cluster: Cluster) -> None:
    conn = await cluster.connect("650100")
    try:
        local = await conn.fetchrow("""select r.code, i.name from resources r join data_items i on i.resource_code = r.code
            where r.node_code = '650100' and i.share_class = 'UNCONDITIONAL' order by r.code limit 1""")
    finally:
        await conn.close()
    rule = {"subject": "650200-RS", "resource": local["code"], "item": local["name"], "effect": "DENY"}
    refused, _ = await gql(client, ADD, {"rule": {**rule, "resource": POPULATION, "item": "sex"}, "reason": "r"},
                           **as_user("admin.urumqi"))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["errors"][0]["extensions"]["domain"] == "650000"
    for caller in ("developer.urumqi", "supervisor.region", "reviewer.region"):
        refused, _ = await gql(client, ADD, {"rule": rule, "reason": "r"}, **as_user(caller))
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", caller
    body, _ = await gql(client, ADD, {"rule": rule, "reason": "local rule"}, **as_user("admin.urumqi"))
    rule_id = body["data"]["addRule"]["rule"]["id"]
    assert body["data"]["addRule"]["rule"]["domain"] == "650100"
    removed, _ = await gql(client, REMOVE, {"id": rule_id}, **as_user("admin.urumqi"))
    assert removed["data"]["removeRule"]["rule"]["id"] == rule_id


async def test_validation_names_field_and_accepted_values(client: httpx.AsyncClient) -> None:
    base = {"subject": "650200-RS", "resource": POPULATION, "item": "sex", "effect": "DENY"}
    cases = [
        ({"subject": "650200-XX"}, "subject", None),
        ({"subject": "kind:XX"}, "subject", "kind:MZ"),
        ({"subject": "level:city"}, "subject", None),
        ({"subject": "group:nobody-here"}, "subject", None),
        ({"subject": "node:659999"}, "subject", "node:650100"),
        ({"resource": "650000-B01-999999"}, "resource", None),
        ({"item": "sexx"}, "item", "sex"),
        ({"item": "sex", "shareClass": "CONDITIONAL"}, "shareClass", "UNCONDITIONAL"),
        ({"subject": "not a subject"}, "subject", None),
    ]
    for change, field, accepted in cases:
        body, _ = await gql(client, ADD, {"rule": {**base, **change}, "reason": "r"}, **as_user("admin.region"))
        error = body["errors"][0]["extensions"]
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", field), (change, body)
        if accepted is not None:
            assert accepted in error["accepted"], (change, error)
    body, _ = await gql(client, ADD, {"rule": {**base, "effect": "Deny"}, "reason": "r"}, **as_user("admin.region"))
    assert "RuleEffect" in body["errors"][0]["message"]  # enums: refused by GraphQL validation
    body, _ = await gql(client, ADD, {"rule": base, "reason": " "}, **as_user("admin.region"))
    assert body["errors"][0]["extensions"]["field"] == "reason"


async def test_duplicate_rule_is_refused(client: httpx.AsyncClient) -> None:
    rule = {"subject": "650200-WJ", "resource": POPULATION, "item": "registered_on", "effect": "DENY"}
    first, _ = await gql(client, ADD, {"rule": rule, "reason": "once"}, **as_user("admin.region"))
    rule_id = first["data"]["addRule"]["rule"]["id"]
    again, _ = await gql(client, ADD, {"rule": rule, "reason": "twice"}, **as_user("admin.region"))
    assert again["errors"][0]["extensions"]["rule"] == rule_id
    await gql(client, REMOVE, {"id": rule_id}, **as_user("admin.region"))


async def test_unloadable_rows_are_skipped_and_reported(client: httpx.AsyncClient, cluster: Cluster) -> None:
    conn = await cluster.connect("650000")
    marker = uuid.uuid4().hex[:8]
    try:
        bad_allow = await conn.fetchval(
            "insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6, note) values "
            "('p', '650200-GA', $1, 'biometric_template_id', 'NOT_SHARED', 'read', '*', 'Allow', $2) returning id",
            POPULATION, marker)
        short = await conn.fetchval(
            "insert into policy_rules (ptype, v0, v1, v2) values ('p', '*', '*', $1) returning id", marker)
        widened = await conn.fetchval(
            "insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6) values "
            "('p', '650200-SW', $1, 'sex', 'UNCONDITIONAL', 'Read', '*', 'deny') returning id", POPULATION)

        async def reported() -> dict[str, Any] | None:
            ready = (await client.get("/readyz")).json()
            skipped = {r["id"] for r in ready["policy"]["rules_skipped"]}
            return ready if {bad_allow, short} <= skipped else None

        ready = await until(reported)
        assert ready is not None, "skipped rules not reported in /readyz within 2 s"
        assert widened not in {r["id"] for r in ready["policy"]["rules_skipped"]}
        metrics = (await client.get("/metrics")).text
        assert "govshare_policy_rules_skipped 2.0" in metrics
        # enforcement goes on: queries are answered, the malformed allow opened nothing, the malformed
        # deny (action 'Read') closes its item for every action (widened to '*')
        body = await _sex(client, "650200-GA")
        assert body["data"]["population"] is not None and _denied(body) is None
        denied = await until(lambda: _check(client, "650200-SW"))
        assert denied is not None and denied["rules"] == [widened]
        listed, _ = await gql(client, RULES, {"f": {"subject": "650200-GA"}}, **as_user("admin.region"))
        shown = [r for r in listed["data"]["accessRules"] if r["id"] == bad_allow]
        assert shown and shown[0]["loaded"] is False and "effect 'Allow'" in shown[0]["problem"]
    finally:
        await conn.execute("delete from policy_rules where id = any($1::bigint[])", [bad_allow, short, widened])
        await conn.close()
    assert await until(lambda: _allowed(client, "650200-SW"))
