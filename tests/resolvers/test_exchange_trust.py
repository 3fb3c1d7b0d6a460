"""An export (exchange job) takes from a prefecture database only its own nodes' rows, as data pages do
(review-trust3 finding 3): a server whose text filters pass everything and that tags a row as another
node's fails the run, as a node failing during an export does, and leaves no file; the export's own
connections pin ``search_path`` as the pools' do. Under a scoped grant each row must also lie within the
grant's divisions, and within its own node's (review-trust3 finding 4, as data pages check it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from govshare.resolvers import exchange_runs

from ..conftest import Cluster
from ..helpers import gql
from ..hostile_servers import filters_passing_everything
from .test_exchanges import DEPT, GRANTED, POPULATION, START, finished, grants, headers

__all__ = ["grants"]  # the module's fixture, used here

# 650200's own row (node_code 650200) placed in Urumqi's division 650102.
PLANT_IN_URUMQI = """insert into population (citizen_id, node_code, name, sex, birth_date, ethnicity, address,
    division_code, household_type, registered_on) values ($1, '650200', 'A冒充乌鲁木齐', '男', '1999-01-01', '汉族',
    '克拉玛依', '650100', '城镇', '2000-01-01')"""

ATTACKER = "650200"
CITIZEN = "650100199901018888"
PLANT = """insert into population (citizen_id, node_code, name, sex, birth_date, ethnicity, address, division_code,
    household_type, registered_on) values ($1, '650100', 'A冒名出口', '男', '1999-01-01', '汉族', '乌鲁木齐市',
    '650102', '城镇', '2000-01-01')"""


async def test_an_export_fails_when_a_prefecture_database_answers_another_nodes_row(
        client: httpx.AsyncClient, cluster: Cluster, grants: dict[str, int]) -> None:
    conn = await cluster.connect(ATTACKER)
    indexes = await conn.fetch("select indexname, indexdef from pg_indexes where tablename = 'population' "
                               "and indexdef like '%(node_code%'")
    try:
        await conn.execute(PLANT, CITIZEN)
        for index in indexes:
            await conn.execute(f'drop index "{index["indexname"]}"')
        async with filters_passing_everything(cluster, ATTACKER, equality=True):
            body, _ = await gql(client, START, {"grant": grants["exchange"], "format": "CSV"}, **headers())
            assert "errors" not in body, body
            job = await finished(client, body["data"]["startExport"]["id"])
    finally:
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("delete from population where citizen_id = $1 and node_code = '650100'", CITIZEN)
        await conn.close()
    assert job["state"] == "FAILED", job
    assert ATTACKER in job["error"] and "does not hold" in job["error"], job
    assert job["downloadUrl"] is None and job["sha256"] is None, job


async def test_an_exports_connections_pin_the_search_path(client: httpx.AsyncClient) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    conn = await exchange_runs._connect(pools, ATTACKER)
    try:
        assert await conn.fetchval("show search_path") == "pg_catalog, public, pg_temp"
    finally:
        await conn.close()


@pytest.fixture
async def spanning(cluster: Cluster) -> AsyncIterator[int]:
    """An exchange grant of DEPT scoped to Urumqi (650100) and a Karamay district (650201): both
    prefectures' databases are asked."""
    now = datetime.now(UTC)
    conn = await cluster.connect("650000")
    grant = await conn.fetchval(
        """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
           row_scope, status, created_by, share_modes) values ($1, $2, $3, 'P-spanning', $4, $5, $6::jsonb,
           'active', 'test', '{exchange}') returning id""", DEPT, POPULATION, GRANTED, now - timedelta(days=1),
        now + timedelta(days=1), json.dumps({"division_codes": ["650100", "650201"]}))
    try:
        yield int(grant)
    finally:
        # Its jobs keep referring to it: revoked, not deleted.
        await conn.execute("update grants set status = 'revoked' where id = $1", grant)
        await conn.close()


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The databases an export opens a connection to."""
    databases: list[str] = []
    original = exchange_runs._connect

    async def connect(pools: Any, database: str) -> Any:
        databases.append(database)
        return await original(pools, database)

    monkeypatch.setattr(exchange_runs, "_connect", connect)
    return databases


async def _export(client: httpx.AsyncClient, grant: int, scope: list[str]) -> dict[str, Any]:
    body, _ = await gql(client, START, {"grant": grant, "format": "CSV"}, **headers())
    assert "errors" not in body, body
    assert body["data"]["startExport"]["rowScope"] == scope
    return await finished(client, body["data"]["startExport"]["id"])


async def test_a_scoped_export_asks_only_the_databases_of_its_divisions(
        client: httpx.AsyncClient, cluster: Cluster, grants: dict[str, int], connected: list[str]) -> None:
    """A grant scoped to Urumqi's division: 650200's rows are of 6502xx divisions, so 650200 is not asked
    (nor told the scope), and its own row placed in division 650100 is not exported."""
    conn = await cluster.connect(ATTACKER)
    try:
        await conn.execute(PLANT_IN_URUMQI, CITIZEN)
        job = await _export(client, grants["scoped"], ["650100"])
        assert job["state"] == "DONE", job
        download = await client.get(job["downloadUrl"], headers=headers())
    finally:
        await conn.execute("delete from population where citizen_id = $1 and node_code = '650200'", CITIZEN)
        await conn.close()
    assert sorted(connected) == ["650000", "650100"]
    assert CITIZEN not in download.text and job["rowsDone"] > 0


async def test_a_scoped_export_fails_on_a_prefecture_row_claiming_another_prefectures_division(
        client: httpx.AsyncClient, cluster: Cluster, spanning: int, connected: list[str]) -> None:
    """An honest server: 650200's own row with division 650100 is what the SQL asked for (node 650200,
    divisions 650100 and 650201), but 650200's divisions are 6502xx: the row is not Urumqi's data to export."""
    conn = await cluster.connect(ATTACKER)
    try:
        await conn.execute(PLANT_IN_URUMQI, CITIZEN)
        job = await _export(client, spanning, ["650100", "650201"])
    finally:
        await conn.execute("delete from population where citizen_id = $1 and node_code = '650200'", CITIZEN)
        await conn.close()
    assert ATTACKER in connected
    assert job["state"] == "FAILED", job
    assert ATTACKER in job["error"] and "divisions" in job["error"], job
    assert job["downloadUrl"] is None and job["sha256"] is None, job


async def test_a_scoped_export_checks_the_rows_division_in_the_service(
        client: httpx.AsyncClient, cluster: Cluster, spanning: int) -> None:
    """650200's ``=`` says yes to everything and the indexes that would still compare honestly are dropped:
    the scope filter (divisions 650100, 650201) returns all of 650200's rows, of division 650200."""
    conn = await cluster.connect(ATTACKER)
    indexes = await conn.fetch("select indexname, indexdef from pg_indexes where tablename = 'population' "
                               "and (indexdef like '%(node_code%' or indexdef like '%(division_code%')")
    try:
        for index in indexes:
            await conn.execute(f'drop index "{index["indexname"]}"')
        async with filters_passing_everything(cluster, ATTACKER, equality=True):
            job = await _export(client, spanning, ["650100", "650201"])
    finally:
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.close()
    assert job["state"] == "FAILED", job
    assert ATTACKER in job["error"], job
    assert job["downloadUrl"] is None and job["sha256"] is None, job
