"""An export (exchange job) takes from a prefecture database only its own nodes' rows, as data pages do
(review-trust3 finding 3): a server whose text filters pass everything and that tags a row as another
node's fails the run, as a node failing during an export does, and leaves no file; the export's own
connections pin ``search_path`` as the pools' do. Under a scoped grant each row must also lie within the
grant's divisions, and within its own node's (review-trust3 finding 4, as data pages check it)."""

from __future__ import annotations

from typing import Any

import httpx

from govshare.resolvers import exchange_runs

from ..conftest import Cluster
from ..helpers import gql
from ..hostile_servers import filters_passing_everything
from .test_exchanges import START, finished, grants, headers

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


async def _failed_export(client: httpx.AsyncClient, grant: int) -> dict[str, Any]:
    body, _ = await gql(client, START, {"grant": grant, "format": "CSV"}, **headers())
    assert "errors" not in body, body
    assert body["data"]["startExport"]["rowScope"] == ["650100"]
    return await finished(client, body["data"]["startExport"]["id"])


async def test_a_scoped_export_fails_on_a_prefecture_row_claiming_another_prefectures_division(
        client: httpx.AsyncClient, cluster: Cluster, grants: dict[str, int]) -> None:
    """An honest server: 650200's own row with division 650100 is what the SQL asked for (node 650200,
    division 650100), but 650200's divisions are 6502xx: the row is not Urumqi's data to export."""
    conn = await cluster.connect(ATTACKER)
    try:
        await conn.execute(PLANT_IN_URUMQI, CITIZEN)
        job = await _failed_export(client, grants["scoped"])
    finally:
        await conn.execute("delete from population where citizen_id = $1 and node_code = '650200'", CITIZEN)
        await conn.close()
    assert job["state"] == "FAILED", job
    assert ATTACKER in job["error"] and "divisions" in job["error"], job
    assert job["downloadUrl"] is None and job["sha256"] is None, job


async def test_a_scoped_export_checks_the_rows_division_in_the_service(
        client: httpx.AsyncClient, cluster: Cluster, grants: dict[str, int]) -> None:
    """650200's ``=`` says yes to everything and the indexes that would still compare honestly are dropped:
    the scope filter (division 650100) returns all of 650200's rows, of its own divisions."""
    conn = await cluster.connect(ATTACKER)
    indexes = await conn.fetch("select indexname, indexdef from pg_indexes where tablename = 'population' "
                               "and (indexdef like '%(node_code%' or indexdef like '%(division_code%')")
    try:
        for index in indexes:
            await conn.execute(f'drop index "{index["indexname"]}"')
        async with filters_passing_everything(cluster, ATTACKER, equality=True):
            job = await _failed_export(client, grants["scoped"])
    finally:
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.close()
    assert job["state"] == "FAILED", job
    assert ATTACKER in job["error"], job
    assert job["downloadUrl"] is None and job["sha256"] is None, job
