"""Authorised database access: a login that reads exactly the granted columns and rows through one
security-barrier view, nothing else; gone at once on revocation, and by the sweep on expiry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.resolvers import access_roles
from govshare.resolvers.database_access import scram_verifier

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql, token

POPULATION = "650000-B01-000001"
DEPT = "650100-SW"
SECOND = "650100-JY"
OPEN = """mutation($grant: Int!) { openDatabaseAccess(grantId: $grant) {
  accessId user password host port database view columns rowScope nodeCodes validUntil } }"""
HOSTED = ["650000", "653000", "654300"]
# What a session ended by the server raises at its next statement (depending on when the termination arrives)
SESSION_ENDED = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, ConnectionError)  # the rows the region database holds (tests/topology.toml)


def headers(department: str = DEPT) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(department)}"}


async def add_grant(cluster: Cluster, department: str, modes: list[str], *, start: timedelta = timedelta(days=-1),
                    end: timedelta = timedelta(days=1), status: str = "active", divisions: list[str] | None = None,
                    items: list[str] | None = None) -> int:
    now = datetime.now(UTC)
    conn = await cluster.connect("650000")
    try:
        return int(await conn.fetchval(
            """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
               row_scope, status, created_by, share_modes) values ($1, $2, $3, 'P-database', $4, $5, $6::jsonb, $7,
               'test', $8) returning id""", department, POPULATION, items or ["birth_date", "citizen_id"],
            now + start, now + end, json.dumps({"division_codes": divisions}) if divisions else None, status, modes))
    finally:
        await conn.close()


async def login(credentials: dict[str, Any]) -> asyncpg.Connection:
    return await asyncpg.connect(host=credentials["host"], port=credentials["port"], user=credentials["user"],
                                 password=credentials["password"], database=credentials["database"])


async def opened(client: httpx.AsyncClient, grant: int, department: str = DEPT) -> dict[str, Any]:
    body, _ = await gql(client, OPEN, {"grant": grant}, **headers(department))
    assert "errors" not in body, body
    return body["data"]["openDatabaseAccess"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def scoped(cluster: Cluster) -> AsyncIterator[int]:
    yield await add_grant(cluster, DEPT, ["database"], divisions=["654300"])


async def test_the_login_reads_exactly_the_granted_columns_and_rows(client: httpx.AsyncClient, cluster: Cluster,
                                                                    scoped: int) -> None:
    body, response = await gql(client, OPEN, {"grant": scoped}, **headers())
    credentials = body["data"]["openDatabaseAccess"]
    # grant, existing access, insert, the owner's function, the record, the audit append
    assert int(response.headers["x-govshare-statements"]) == 6
    assert credentials["columns"] == ["citizen_id", "birth_date"]
    assert credentials["rowScope"] == ["654300"] and credentials["nodeCodes"] == HOSTED
    owner = await cluster.connect("650000")
    try:
        expected = {r["citizen_id"]: r["birth_date"] for r in await owner.fetch(
            "select citizen_id, birth_date from population where node_code = any($1) and division_code = '654300'",
            HOSTED)}
        verifier = await owner.fetchval("select password_verifier from database_accesses where id = $1",
                                        credentials["accessId"])
        leaked = await owner.fetchval("select count(*) from audit_log a where a::text like '%' || $1 || '%'",
                                      credentials["password"])
    finally:
        await owner.close()
    assert expected, "the test needs rows in the scope"
    assert verifier.startswith("SCRAM-SHA-256$") and credentials["password"] not in verifier and leaked == 0

    conn = await login(credentials)
    try:
        rows = await conn.fetch(f"select * from {credentials['view']}")
        assert list(rows[0].keys()) == ["citizen_id", "birth_date"]
        assert {r["citizen_id"]: r["birth_date"] for r in rows} == expected
        for forbidden in ("select * from public.population", "select * from grants", "select * from audit_log",
                          "select * from database_accesses", "create table public.mine (i int)",
                          "select govshare_close_access('govshare_x_650000_1', 'v')"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(forbidden)
    finally:
        await conn.close()


async def test_another_departments_view_stays_closed_and_asking_again_rotates(
        client: httpx.AsyncClient, cluster: Cluster, scoped: int) -> None:
    first = await opened(client, scoped)
    other = await opened(client, await add_grant(cluster, SECOND, ["database", "interface"]), SECOND)
    assert other["user"] != first["user"] and other["view"] != first["view"]
    conn = await login(other)
    try:
        assert await conn.fetchval(f"select count(*) from {other['view']}") > 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"select * from {first['view']}")
    finally:
        await conn.close()
    rotated = await opened(client, scoped)
    assert rotated["user"] == first["user"] and rotated["password"] != first["password"]
    with pytest.raises(asyncpg.InvalidPasswordError):
        await login(first)
    conn = await login(rotated)
    await conn.close()


async def test_revocation_ends_sessions_and_logins_at_once(client: httpx.AsyncClient, cluster: Cluster) -> None:
    grant = await add_grant(cluster, DEPT, ["database"])
    credentials = await opened(client, grant)
    session = await login(credentials)
    try:
        assert await session.fetchval(f"select count(*) from {credentials['view']}") > 0
        body, _ = await gql(client, """mutation($id: Int!) { revokeGrant(id: $id, reason: "用途已结束") {
            grant { state } } }""", {"id": grant}, **as_user("admin.region"))
        assert body["data"]["revokeGrant"]["grant"]["state"] == "REVOKED", body
        with pytest.raises(SESSION_ENDED):
            await session.fetchval(f"select count(*) from {credentials['view']}")
    finally:
        session.terminate()
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        await login(credentials)
    owner = await cluster.connect("650000")
    try:
        state = await owner.fetchval("select state from database_accesses where id = $1", credentials["accessId"])
        role = await owner.fetchval("select count(*) from pg_roles where rolname = $1", credentials["user"])
        view = await owner.fetchval("select to_regclass($1)", credentials["view"])
    finally:
        await owner.close()
    assert (state, role, view) == ("closed", 0, None)


async def test_the_sweep_ends_the_access_of_an_expired_grant(client: httpx.AsyncClient, cluster: Cluster) -> None:
    grant = await add_grant(cluster, DEPT, ["database"], items=["citizen_id"])
    credentials = await opened(client, grant)
    owner = await cluster.connect("650000")
    try:
        await owner.execute("update grants set valid_until = now() - interval '1 second' where id = $1", grant)
    finally:
        await owner.close()
    session = await login(credentials)  # the role's VALID UNTIL still lay ahead
    try:
        # (the service's own sweep may get there first: either way the access is closed now)
        await access_roles.sweep(client.app.state.pools)  # type: ignore[attr-defined]
        with pytest.raises(SESSION_ENDED):
            await session.fetchval("select 1")
    finally:
        session.terminate()
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        await login(credentials)
    owner = await cluster.connect("650000")
    try:
        assert await owner.fetchval("select state from database_accesses where id = $1",
                                    credentials["accessId"]) == "closed"
    finally:
        await owner.close()


async def test_who_may_open_database_access(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """Truth table: only the grantee, under a grant in force that allows DATABASE."""
    hour = timedelta(hours=1)
    cases = [
        (await add_grant(cluster, DEPT, ["database"]), DEPT, None),
        (await add_grant(cluster, DEPT, ["database"]), SECOND, ("NOT_FOUND", None)),
        (await add_grant(cluster, DEPT, ["interface"]), DEPT, ("FORBIDDEN", "SHARE_MODE_NOT_GRANTED")),
        (await add_grant(cluster, DEPT, ["exchange"]), DEPT, ("FORBIDDEN", "SHARE_MODE_NOT_GRANTED")),
        (await add_grant(cluster, DEPT, ["database"], start=-2 * hour, end=-hour), DEPT,
         ("FORBIDDEN", "GRANT_EXPIRED")),
        (await add_grant(cluster, DEPT, ["database"], start=hour, end=2 * hour), DEPT,
         ("FORBIDDEN", "GRANT_NOT_YET_VALID")),
        (await add_grant(cluster, DEPT, ["database"], status="revoked"), DEPT, ("FORBIDDEN", "GRANT_REVOKED")),
        (await add_grant(cluster, DEPT, ["database"], items=["biometric_template_id"]), DEPT,
         ("BAD_USER_INPUT", None)),  # a NOT_SHARED item stored in a grant (bypassing validation) never opens
    ]
    for grant, department, expected in cases:
        body, _ = await gql(client, OPEN, {"grant": grant}, **headers(department))
        if expected is None:
            assert body["data"]["openDatabaseAccess"]["user"].startswith("govshare_x_650000_")
            continue
        error = body["errors"][0]["extensions"]
        assert (error["code"], error.get("reason")) == expected, (grant, department, body)


async def test_the_owner_functions_trust_no_argument(cluster: Cluster) -> None:
    """As the service's own login (no DDL): the functions refuse anything but a shareable item of a published
    register, safe identifiers and a SCRAM verifier; direct DDL is refused."""
    conn = await asyncpg.connect(cluster.service_topology.node("650000").dsn)
    until = datetime.now(UTC) + timedelta(hours=1)
    good = ("govshare_x_650000_999999", "v999999", POPULATION, "population", ["citizen_id"], ["650000"], None,
            scram_verifier("pw"), until)
    open_sql = "select govshare_open_access($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    bad = [
        ("role name", {0: "postgres"}),
        ("role name injection", {0: 'govshare_x_650000_1"; drop table grants; --'}),
        ("view name", {1: "v; drop table grants"}),
        ("NOT_SHARED column", {4: ["citizen_id", "biometric_template_id"]}),
        ("platform table", {3: "grants", 4: ["items"]}),
        ("column of another table", {4: ["row_id"]}),
        ("plain password", {7: "secret"}),
        ("node code", {5: ["650000' or true --"]}),
        ("past expiry", {8: datetime.now(UTC) - timedelta(hours=1)}),
    ]
    try:
        for name, change in bad:
            args = [change.get(i, value) for i, value in enumerate(good)]
            with pytest.raises(asyncpg.PostgresError):
                await conn.fetch(open_sql, *args)
            assert name
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("create role govshare_x_650000_5 login")
        assert await conn.fetchval("select count(*) from pg_roles where rolname like 'govshare_x_650000_99999%'") == 0
        # the good arguments do work, and the close function removes what they made
        await conn.fetch(open_sql, *good)
        await conn.fetch("select govshare_close_access($1, $2)", good[0], good[1])
        assert await conn.fetchval("select count(*) from pg_roles where rolname = $1", good[0]) == 0
    finally:
        await conn.close()
