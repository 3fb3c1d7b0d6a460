"""An export (exchange job) takes from a prefecture database only its own nodes' rows, as data pages do
(review-trust3 finding 3): a server whose text filters pass everything and that tags a row as another
node's fails the run, as a node failing during an export does, and leaves no file; the export's own
connections pin ``search_path`` as the pools' do."""

from __future__ import annotations

import httpx

from govshare.resolvers import exchange_runs

from ..conftest import Cluster
from ..helpers import gql
from ..hostile_servers import filters_passing_everything
from .test_exchanges import START, finished, grants, headers

__all__ = ["grants"]  # the module's fixture, used here

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
