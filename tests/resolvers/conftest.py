"""Grants in every state for the shared-data tests, and a spy on the SQL sent to nodes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ..conftest import Cluster

POPULATION = "650000-B01-000001"
TABLE_DEPT = "650200-RS"      # holds a grant in each state, one purpose per state
NO_GRANT_DEPT = "650200-JY"   # holds no grant at all
SCOPED_DEPT = "650200-WJ"     # holds a grant scoped to division 650100
PURPOSES = {"active": "P-active", "expired": "P-expired", "not_yet_valid": "P-future", "revoked": "P-revoked"}


@pytest.fixture(scope="session")
async def grants(cluster: Cluster) -> AsyncIterator[dict[str, int]]:
    now = datetime.now(UTC)
    day = timedelta(days=1)
    rows = {
        "active": (TABLE_DEPT, ["birth_date", "citizen_id"], PURPOSES["active"], now - day, now + day, None, "active"),
        "expired": (TABLE_DEPT, ["birth_date", "citizen_id"], PURPOSES["expired"], now - 9 * day, now - day, None,
                    "active"),
        "not_yet_valid": (TABLE_DEPT, ["birth_date", "citizen_id"], PURPOSES["not_yet_valid"], now + day,
                          now + 9 * day, None, "active"),
        "revoked": (TABLE_DEPT, ["birth_date", "citizen_id"], PURPOSES["revoked"], now - day, now + day, None,
                    "revoked"),
        "scoped": (SCOPED_DEPT, ["address", "birth_date"], "P-scope", now - day, now + day,
                   json.dumps({"division_codes": ["650100"]}), "active"),
    }
    conn = await cluster.connect("650000")
    ids: dict[str, int] = {}
    try:
        for state, (dept, items, purpose, start, end, scope, status) in rows.items():
            ids[state] = await conn.fetchval(
                """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
                   row_scope, status, created_by) values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, 'test')
                   returning id""", dept, POPULATION, items, purpose, start, end, scope, status)
    finally:
        await conn.close()
    yield ids
    # A new connection: the region server may have been restarted by a failure test meanwhile.
    conn = await cluster.connect("650000")
    try:
        await conn.execute("delete from grants where id = any($1::bigint[])", list(ids.values()))
    finally:
        await conn.close()


class Spy:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def sql(self) -> str:
        return "\n".join(sql for _, sql in self.calls)


@pytest.fixture
def spy(client: httpx.AsyncClient) -> Iterator[Spy]:
    """Records every statement the app sends to a node (name and SQL text)."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    original = pools.fetch
    recorder = Spy()

    async def fetch(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        recorder.calls.append((name, sql))
        return await original(database, name, sql, *args, **kwargs)

    pools.fetch = fetch
    try:
        yield recorder
    finally:
        pools.fetch = original
