"""The service runs as a least-privilege role: reads everything, writes only what it administers,
appends to the audit trail only through its function (migrations 0007-0009)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from ..conftest import Cluster


async def test_the_app_connects_as_the_service_role_not_a_superuser(client: httpx.AsyncClient) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    [row] = await pools.fetch("650000", "test.whoami", """select current_user as who,
        (select rolsuper from pg_roles where rolname = current_user) as super,
        pg_has_role(current_user, 'govshare_service', 'member') as member""")
    assert (row["who"], row["super"], row["member"]) == ("govshare_app", False, True)


@pytest.mark.parametrize("statement", [
    "update audit_log set row_count = 0",
    "delete from audit_log",
    "truncate audit_log",
    "insert into audit_log (request_id, user_id, department, action, resource, outcome, prev_hash, hash) "
    "values ('x', 'x', 'x', 'read', 'x', 'ok', 'x', 'x')",
    "delete from audit_checkpoints",
    "update population set phone = null",
    "insert into population (citizen_id, node_code, name, sex, birth_date, ethnicity, address, division_code, "
    "household_type, registered_on) values ('x', 'x', 'x', '男', '2000-01-01', 'x', 'x', 'x', 'x', '2000-01-01')",
    "delete from grants",
    "create table mine (id int)",
    "select govshare_grant_service()",
])
async def test_the_service_role_cannot(cluster: Cluster, statement: str) -> None:
    server = cluster.servers["650000"]
    conn = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()
    assert server.is_running()


async def test_the_service_role_reads_and_appends_through_the_function(cluster: Cluster) -> None:
    conn = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    try:
        assert await conn.fetchval("select count(*) from population") > 0
        head = await conn.fetchrow("select seq, hash from audit_head()")
        # a batch that does not continue the head is not written; the head comes back
        row = await conn.fetchrow("select * from audit_append_batch($1, $2, '[]'::jsonb)", head["seq"] + 7, "0" * 64)
        assert (row["appended"], row["last_seq"]) == (False, head["seq"])
    finally:
        await conn.close()
