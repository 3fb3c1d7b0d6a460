"""Statements in GENERIC_PLANS run on sessions that force generic plans (planned once per connection instead
of at every execution), and their generic plan is the plan PostgreSQL makes for the actual values."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from govshare.federation.nodes import GENERIC_PLANS, NodePools

from ..conftest import Cluster
from ..helpers import gql

MODE = "select current_setting('plan_cache_mode') as mode, pg_backend_pid() as pid"


async def test_generic_plan_statements_run_on_sessions_that_force_them(cluster: Cluster) -> None:
    pools = NodePools(cluster.topology, min_size=0, max_size=2)
    await pools.open()
    try:
        region = cluster.topology.region.code
        page = await pools.fetch(region, "data.page", MODE)
        other = await pools.fetch(region, "test.mode", MODE)
        custom = await pools.fetch(region, "data.page", MODE, custom_plans=True)
        assert [page[0]["mode"], other[0]["mode"], custom[0]["mode"]] == [
            "force_generic_plan", "auto", "force_custom_plan"]
        assert page[0]["pid"] != other[0]["pid"], "a pool of their own: the other sessions keep PostgreSQL's choice"
        assert pools.usage()[region] == (2, 2, 3), "max_size, and half as many again for generic plans"
    finally:
        await pools.close()


async def test_when_the_generic_connections_are_busy_they_run_on_the_others(cluster: Cluster) -> None:
    pools = NodePools(cluster.topology, min_size=0, max_size=2)  # one connection forces generic plans
    await pools.open()
    try:
        region = cluster.topology.region.code
        await pools.fetch(region, "data.page", MODE)
        slow = asyncio.create_task(pools.fetch(region, "data.page", "select pg_sleep(0.5), " + MODE[len("select "):]))
        for _ in range(100):  # until the slow statement holds it
            if not pools._generic[region].get_idle_size():
                break
            await asyncio.sleep(0.005)
        quick = await pools.fetch(region, "data.page", MODE)
        assert quick[0]["mode"] == "auto", "not queued for the busy connection"
        assert not slow.done()
        assert (await slow)[0]["mode"] == "force_generic_plan"
    finally:
        await pools.close()


async def test_with_one_connection_per_database_they_share_it(cluster: Cluster) -> None:
    pools = NodePools(cluster.topology, min_size=0, max_size=1)
    await pools.open()
    try:
        region = cluster.topology.region.code
        page = await pools.fetch(region, "data.page", MODE)
        other = await pools.fetch(region, "test.mode", MODE)
        assert page[0]["pid"] == other[0]["pid"] and page[0]["mode"] == "auto"
        assert pools.usage()[region] == (1, 1, 1)
    finally:
        await pools.close()


DOCUMENTS = [
    "{ population(first: 5) { totalCount nodes { name } } }",
    '{ population(first: 3, filter: {name: {eq: "张三"}}) { nodes { name } } }',
    '{ population(first: 3, filter: {name: {in: ["张三", "李四"]}, nodes: ["650100"]}) { nodes { name } } }',
    '{ population(first: 3, filter: {sex: {eq: "女"}}, orderBy: {field: NAME, direction: DESC}) { edges { cursor node { name } } } }',
    """{ resource(code: "650100-D01-000001") { code name provider { code name } dataItems { name shareClass } } }""",
    """{ resource(code: "650200-D01-000001") { code node } }""",
]


def _shape(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = [(plan["Node Type"], plan.get("Index Name"))]
    for child in plan.get("Plans", []):
        found.extend(_shape(child))
    return found


async def _plan(cluster: Cluster, database: str, sql: str, args: tuple[Any, ...], mode: str
                ) -> list[tuple[str, str | None]]:
    conn = await cluster.connect(database)
    try:
        await conn.execute(f"set plan_cache_mode = {mode}")
        statement = await conn.prepare("explain (format json) " + sql)
        return _shape(json.loads(await statement.fetchval(*args))[0]["Plan"])
    finally:
        await conn.close()


async def test_their_generic_plans_are_the_plans_for_the_actual_values(
        client: httpx.AsyncClient, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    pools: NodePools = client.app.state.pools  # type: ignore[attr-defined]
    ran: list[tuple[str, str, str, tuple[Any, ...]]] = []
    fetch = pools.fetch

    async def recorded(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        ran.append((database, name, sql, args))
        return await fetch(database, name, sql, *args, **kwargs)

    monkeypatch.setattr(pools, "fetch", recorded)
    for document in DOCUMENTS:
        body, _ = await gql(client, document)
        assert "errors" not in body, (document, body)
    generic = [r for r in ran if r[1] in GENERIC_PLANS]
    assert {"data.page", "data.count", "resources.details_by_code"} <= {name for _, name, _, _ in generic}
    for database, name, sql, args in generic:
        chosen = await _plan(cluster, database, sql, args, "force_generic_plan")
        assert chosen == await _plan(cluster, database, sql, args, "force_custom_plan"), (name, sql)
