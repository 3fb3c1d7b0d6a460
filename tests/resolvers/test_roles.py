"""Roles through GraphQL and the command line: me, assign and revoke (permitted and refused callers),
history and audit records, and the new role taking effect without a restart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ..admin_helpers import as_user, run_govshare, until
from ..conftest import Cluster
from ..helpers import gql

ME = "{ me { user department node roles { role domain } permissions { action domains } } }"
ASSIGN = """mutation($user: String!, $role: String!, $domain: String!, $reason: String!) {
  assignRole(user: $user, role: $role, domain: $domain, reason: $reason) {
    id kind operation domain actor after reason } }"""
REVOKE = """mutation($user: String!, $role: String!, $domain: String!) {
  revokeRole(user: $user, role: $role, domain: $domain, reason: "test over") { id operation before } }"""


async def test_me_shows_demo_roles(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, ME, **as_user("admin.urumqi"))
    me = body["data"]["me"]
    assert me["user"] == "admin.urumqi" and me["node"] == "650100"
    assert me["roles"] == [{"role": "policy_admin", "domain": "650100"}, {"role": "developer", "domain": "650100"}]
    permissions = {p["action"]: p["domains"] for p in me["permissions"]}
    assert permissions["policy.write"] == ["650100"] and "stats.read" in permissions
    body, _ = await gql(client, ME, **as_user("developer.urumqi"))
    assert body["data"]["me"]["roles"] == [{"role": "developer", "domain": "650100"}]
    assert [p["action"] for p in body["data"]["me"]["permissions"]] == ["request.submit"]


async def test_assign_and_revoke_by_region_admin(client: httpx.AsyncClient, cluster: Cluster) -> None:
    user = f"new-admin-{uuid.uuid4().hex[:6]}"
    body, _ = await gql(client, ASSIGN, {"user": user, "role": "policy_admin", "domain": "650200",
                                         "reason": "new prefecture admin"}, **as_user("admin.region"))
    change = body["data"]["assignRole"]
    assert change["kind"] == "ROLE" and change["actor"] == "admin.region" and change["domain"] == "650200"
    assert change["after"] == {"user": user, "role": "policy_admin", "domain": "650200"}

    async def holds() -> bool:
        me, _ = await gql(client, ME, **as_user(user))
        return {"role": "policy_admin", "domain": "650200"} in me["data"]["me"]["roles"]

    assert await until(holds), "the new role was not in effect within 2 s"
    conn = await cluster.connect("650000")
    try:
        audit = await conn.fetchrow("select action, purpose, user_id from audit_log where purpose like $1",
                                    f"policy change {change['id']}:%")
    finally:
        await conn.close()
    assert audit is not None and audit["action"] == "admin.role.assign" and audit["user_id"] == "admin.region"

    body, _ = await gql(client, REVOKE, {"user": user, "role": "policy_admin", "domain": "650200"},
                        **as_user("admin.region"))
    assert body["data"]["revokeRole"]["operation"] == "revoke"
    assert await until(lambda: _not(holds)), "the revoked role was still in effect after 2 s"


async def _not(check: Any) -> bool:
    return not await check()


async def test_refused_callers(client: httpx.AsyncClient) -> None:
    variables = {"user": "someone", "role": "registrar", "domain": "650200", "reason": "r"}
    for caller in ("admin.urumqi", "developer.urumqi", "supervisor.region", "reviewer.region"):
        body, _ = await gql(client, ASSIGN, variables, **as_user(caller))
        error = body["errors"][0]
        assert error["extensions"]["code"] == "FORBIDDEN", (caller, error)
        assert error["extensions"]["action"] == "role.assign" and error["extensions"]["domain"] == "650200"
        assert body["data"] is None
    # a prefecture admin may assign in its own domain
    user = f"registrar-{uuid.uuid4().hex[:6]}"
    body, _ = await gql(client, ASSIGN, {**variables, "user": user, "domain": "650100"}, **as_user("admin.urumqi"))
    assert body["data"]["assignRole"]["domain"] == "650100"


async def test_bad_input_names_the_field_and_accepted_values(client: httpx.AsyncClient) -> None:
    cases = [({"role": "Policy_Admin"}, "role"), ({"domain": "659999"}, "domain"), ({"reason": "  "}, "reason"),
             ({"user": "two words"}, "user")]
    for change, field in cases:
        variables = {"user": "x", "role": "registrar", "domain": "650100", "reason": "r", **change}
        body, _ = await gql(client, ASSIGN, variables, **as_user("admin.region"))
        error = body["errors"][0]["extensions"]
        assert error["code"] == "BAD_USER_INPUT" and error["field"] == field, (change, error)
    body, _ = await gql(client, ASSIGN, {"user": "x", "role": "boss", "domain": "650100", "reason": "r"},
                        **as_user("admin.region"))
    assert body["errors"][0]["extensions"]["accepted"] == [
        "policy_admin", "sharing_reviewer", "registrar", "supervisor", "developer"]


async def test_cli_bootstrap_assigns_the_first_admin(client: httpx.AsyncClient, cluster: Cluster) -> None:
    user = f"first-admin-{uuid.uuid4().hex[:6]}"
    done = await run_govshare(cluster, "role", "assign", user, "policy_admin", "--domain", "650000",
                                   "--reason", "bootstrap")
    assert done.returncode == 0, done.stderr
    assert f"{user} now holds policy_admin in domain 650000" in done.stdout
    listing = await run_govshare(cluster, "role", "list", "--user", user)
    assert listing.stdout.split()[:3] == [user, "policy_admin", "650000"]
    # trial-s8 F4: the time carries its zone (UTC), as ISO 8601: it was printed bare beside CST grant days
    since = listing.stdout.split()[4]
    assert listing.stdout.split()[3] == "since" and since.endswith("Z")
    assert abs(datetime.fromisoformat(since) - datetime.now(UTC)) < timedelta(minutes=10)
    bad = await run_govshare(cluster, "role", "assign", user, "root", "--domain", "650000",
                                  "--reason", "x")
    assert bad.returncode == 2 and "unknown role 'root'; accepted: policy_admin" in bad.stderr

    async def holds() -> bool:
        me, _ = await gql(client, ME, **as_user(user))
        return {"role": "policy_admin", "domain": "650000"} in me["data"]["me"]["roles"]

    assert await until(holds)


async def test_nobody_assigns_a_role_to_themselves(client: httpx.AsyncClient) -> None:
    """Found from outside: a prefecture policy admin gave itself supervisor and sharing_reviewer."""
    for role in ("supervisor", "sharing_reviewer", "registrar"):
        body, _ = await gql(client, ASSIGN, {"user": "admin.urumqi", "role": role, "domain": "650100",
                                             "reason": "more power"}, **as_user("admin.urumqi"))
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert body["errors"][0]["extensions"]["reason"] == "SELF_ASSIGNMENT"
    body, _ = await gql(client, ME, **as_user("admin.urumqi"))
    assert {r["role"] for r in body["data"]["me"]["roles"]} == {"policy_admin", "developer"}
