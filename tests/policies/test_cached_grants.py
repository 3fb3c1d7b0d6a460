"""Grants cached per process, and the access version every audit append checks (migration 0026).

The HTTP tests show the behaviour a caller sees; the others drive a data query with a cache of their
own, which no NOTIFY reaches, so that only the audit append's check can notice a change.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.core.errors import AuditUnavailable
from govshare.federation.nodes import NodePools, StatementLog, statement_log
from govshare.policies.cached_grants import CachedGrants, read_access_version
from govshare.policies.decisions import AccessDecider, PolicyEngine
from govshare.policies.grants import Grant
from govshare.resolvers import audit, shared_data
from govshare.resolvers.context import read_grants
from govshare.resolvers.data_requests import DataRequest

from ..conftest import Cluster
from ..helpers import gql, token

POPULATION = "650000-B01-000001"
DEPARTMENT = "653000-RS"  # used by no other test (653000-SW is the workflow tests' applicant): its grants and rules are this file's own


def _query(purpose: str) -> str:
    return f'{{ population(first: 2, purpose: "{purpose}", filter: {{nodes: ["650100"]}}) {{ nodes {{ name birthDate }} }} }}'


async def _settled(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    """Wait until the app has taken in the last change's NOTIFY (so it cannot drop the cache mid-test)."""
    current = await conn.fetchval("select version from access_version")
    for _ in range(100):
        if client.app.state.engine.version == current:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the app did not reload its rules after a grant change")


@pytest.fixture
async def region(cluster: Cluster, client: httpx.AsyncClient) -> AsyncIterator[asyncpg.Connection]:
    conn = await cluster.connect("650000")
    try:
        yield conn
    finally:
        # Only what a test added: each statement on these tables announces a change (a rules reload).
        if await conn.fetchval("select count(*) from grants where grantee_department = $1", DEPARTMENT):
            await conn.execute("delete from grants where grantee_department = $1", DEPARTMENT)
        if await conn.fetchval("select count(*) from policy_rules where v0 = $1", DEPARTMENT):
            await conn.execute("delete from policy_rules where v0 = $1", DEPARTMENT)
        # The app reloads its rules on these changes' NOTIFY: done before the next test counts statements.
        await _settled(client, conn)
        await conn.close()


async def _grant(conn: asyncpg.Connection, purpose: str, until: str = "1 day") -> int:
    return int(await conn.fetchval(
        """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until, created_by)
           values ($1, $2, '{birth_date}', $3, now() - interval '1 day', now() + $4::text::interval, 'test') returning id""",
        DEPARTMENT, POPULATION, purpose, until))


async def _records(conn: asyncpg.Connection, request_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(
        "select items_returned, items_denied, outcome from audit_log where request_id = $1 order by seq", request_id)]


async def test_a_revoked_grant_stops_data_on_the_next_request(client: httpx.AsyncClient,
                                                              region: asyncpg.Connection) -> None:
    purpose = "cached-grants-revoke"
    bearer = f"Bearer {token(DEPARTMENT)}"
    grant = await _grant(region, purpose)
    await _settled(client, region)
    for _ in range(2):  # the second from the cache: no grants read
        body, response = await gql(client, _query(purpose), Authorization=bearer)
        assert "errors" not in body and all(r["birthDate"] for r in body["data"]["population"]["nodes"])
    assert response.headers["x-govshare-statements"] == "2"  # data page + audit append
    await region.execute("update grants set status = 'revoked' where id = $1", grant)
    body, response = await gql(client, _query(purpose), Authorization=bearer)  # at once: no waiting for the NOTIFY
    assert [e["extensions"]["reason"] for e in body["errors"]] == ["GRANT_REVOKED"]
    assert all(r["birthDate"] is None and r["name"] for r in body["data"]["population"]["nodes"])
    [record] = await _records(region, response.headers["x-request-id"])
    assert record["items_returned"] == ["name"] and record["items_denied"] == ["birth_date"]


class Harness:
    """A data query as the schema runs it, but on a grants cache and an engine of the test's own."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        app = client.app  # type: ignore[attr-defined]
        self.pools: NodePools = app.state.pools
        self.spec = next(s for s in app.state.schemas.current.specs if s.code == POPULATION)
        self.engine: PolicyEngine = app.state.engine
        self.reads: list[str] = []
        self.cache = CachedGrants(self._fetch)
        self.reloads = 0

    async def _fetch(self, department: str, resources: Sequence[str]) -> list[Any]:
        self.reads.append(department)
        return await read_grants(self.pools, department, resources)

    async def engines(self, version: int) -> PolicyEngine:
        """A fresh engine, as the app reloads one (server/app.py)."""
        self.reloads += 1
        pool = self.pools.pool("650000")
        loaded = await read_access_version(pool)
        fresh = await PolicyEngine.load(pool, self.engine.memberships)
        fresh.version = loaded
        self.engine = fresh
        return fresh

    async def read(self, purpose: str, items: list[str]) -> tuple[str, shared_data.DataPage, StatementLog]:
        request_id = uuid.uuid4().hex
        decider = AccessDecider(self.engine, DEPARTMENT, self.cache.get, datetime.now(UTC), self.engines)
        caller = shared_data.Caller(request_id, "tester", DEPARTMENT, decider, self.pools)
        log = StatementLog()
        token_ = statement_log.set(log)
        try:
            page = await shared_data.read(caller, DataRequest(self.spec, items, first=2, purpose=purpose,
                                                              nodes=["650100"]))
        finally:
            statement_log.reset(token_)
        return request_id, page, log


async def test_a_stale_cached_grant_is_caught_by_the_audit_append(client: httpx.AsyncClient,
                                                                  region: asyncpg.Connection) -> None:
    purpose = "cached-grants-stale"
    harness = Harness(client)
    await harness.engines(0)  # an engine at the current version
    grant = await _grant(region, purpose)
    _, page, _ = await harness.read(purpose, ["name", "birth_date"])
    assert not page.denied and all(r["birth_date"] for r in page.rows)
    await region.execute("update grants set status = 'revoked' where id = $1", grant)
    reloads = harness.reloads
    request_id, page, log = await harness.read(purpose, ["name", "birth_date"])
    # The cached grant decided first: its data page ran, its audit append was refused (version changed),
    # then the request decided again on grants read afresh and a reloaded engine.
    assert log.count("grants.by_department") == 1 and log.count("data.page") == 2
    assert harness.reads == [DEPARTMENT, DEPARTMENT] and harness.reloads == reloads + 1
    assert [d.reason.value for d in page.denied if d.reason] == ["GRANT_REVOKED"]
    assert all(set(r) == {"name", "birth_date"} and r["birth_date"] is None for r in page.rows)
    # Only the answer that left has a record: the refused attempt wrote nothing.
    assert await _records(region, request_id) == [
        {"items_returned": ["name"], "items_denied": ["birth_date"], "outcome": "ok"}]


async def test_a_policy_change_is_caught_by_the_audit_append(client: httpx.AsyncClient,
                                                             region: asyncpg.Connection) -> None:
    harness = Harness(client)
    await harness.engines(0)
    _, page, _ = await harness.read("cached-grants-policy", ["name"])
    assert not page.denied
    await region.execute("""insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6)
        values ('p', $1, $2, 'name', '*', 'read', '*', 'deny')""", DEPARTMENT, POPULATION)
    request_id, page, log = await harness.read("cached-grants-policy", ["name"])
    assert [d.reason.value for d in page.denied if d.reason] == ["POLICY_DENIED"]
    assert log.count("data.page") == 2 and log.count("audit.append") == 2
    assert await _records(region, request_id) == [{"items_returned": [], "items_denied": ["name"], "outcome": "ok"}]


async def test_an_expired_cached_grant_is_denied_without_reading_grants(client: httpx.AsyncClient,
                                                                        region: asyncpg.Connection) -> None:
    purpose = "cached-grants-expiry"
    harness = Harness(client)
    await harness.engines(0)
    await _grant(region, purpose, until="1.5 seconds")
    _, page, _ = await harness.read(purpose, ["birth_date"])
    assert not page.denied
    await asyncio.sleep(1.6)
    _, page, log = await harness.read(purpose, ["birth_date"])
    # Validity is checked against the request's clock on the cached row: no change, no read.
    assert [d.reason.value for d in page.denied if d.reason] == ["GRANT_EXPIRED"]
    assert harness.reads == [DEPARTMENT] and log.count("grants.by_department") == 0


async def test_a_query_that_never_sees_current_rules_fails_closed(client: httpx.AsyncClient,
                                                                   region: asyncpg.Connection) -> None:
    harness = Harness(client)
    await harness.engines(0)

    async def always_old(department: str, resource: str, known: int) -> tuple[int, list[Grant]]:
        return 0, []  # a version that is never current

    decider = AccessDecider(harness.engine, DEPARTMENT, always_old, datetime.now(UTC))
    request_id = uuid.uuid4().hex
    caller = shared_data.Caller(request_id, "tester", DEPARTMENT, decider, harness.pools)
    with pytest.raises(AuditUnavailable):
        await shared_data.read(caller, DataRequest(harness.spec, ["birth_date"], first=1, purpose="x",
                                                   nodes=["650100"]))
    assert await _records(region, request_id) == []


async def test_unchecked_records_are_written_beside_a_stale_batch(client: httpx.AsyncClient,
                                                                   region: asyncpg.Connection) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    current = await read_access_version(pools.pool("650000"))
    stale_id, plain_id = uuid.uuid4().hex, uuid.uuid4().hex
    stale = audit.AuditRecord(stale_id, "tester", DEPARTMENT, "read", None, POPULATION, access_version=current - 1)
    plain = audit.AuditRecord(plain_id, "tester", DEPARTMENT, "read", None, POPULATION)
    outcomes = await asyncio.gather(audit.append(pools, stale), audit.append(pools, plain), return_exceptions=True)
    assert isinstance(outcomes[0], audit.AccessChanged) and outcomes[0].version == current
    assert isinstance(outcomes[1], int)
    assert await _records(region, stale_id) == [] and len(await _records(region, plain_id)) == 1
