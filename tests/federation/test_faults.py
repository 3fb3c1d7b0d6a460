"""Nodes killed, frozen, lock-blocked, restarted and down at start, on real PostgreSQL servers.

Each fault costs only the failing node's rows (plus one NODE_UNAVAILABLE for it), within one
deadline per node per request, and the node is used again once it is back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from ..conftest import Cluster
from ..helpers import gql
from .conftest import NODE_TIMEOUT, SLACK, AppClient, freeze, locked, thaw

PAGE = """query($first: Int!, $after: String) { resources(first: $first, after: $after) {
  totalCount unavailableNodes edges { node { code } } pageInfo { hasNextPage endCursor } } }"""
NESTED = """{ resources(first: 30) { unavailableNodes edges { node { code
  provider { code parent { code } } dataItems { name } } } } }"""


async def codes_without(cluster: Cluster, missing: str, first: int) -> list[str]:
    """The first ``first`` resource codes of every database except ``missing``, as SQL orders them."""
    codes: list[str] = []
    for node in cluster.topology.databases:
        if node.code == missing:
            continue
        conn = await cluster.connect(node.code)
        try:
            codes.extend(r["code"] for r in await conn.fetch("select code from resources"))
        finally:
            await conn.close()
    return sorted(codes)[:first]


def node_errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((e["extensions"]["code"], e["extensions"].get("node", "")) for e in body.get("errors", []))


async def timed(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
                ) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    body, response = await gql(client, query, variables)
    assert response.status_code == 200, body
    return body, time.monotonic() - started


async def wait_until(check: Any, seconds: float = 10.0) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, "the node was not used again after it came back"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


class BrokenPool:
    """A real pool whose connections fail the way asyncpg does when a server dies at the wrong instant."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def acquire(self) -> Any:
        return BrokenConnection(await self.pool.acquire())

    async def release(self, conn: BrokenConnection, timeout: float | None = None) -> None:
        await self.pool.release(conn.conn, timeout=timeout)

    def __getattr__(self, name: str) -> Any:  # its sizes (get_idle_size, ...): the real pool's
        return getattr(self.pool, name)


class BrokenConnection:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, *args: Any) -> Any:
        raise asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress")

    def terminate(self) -> None:
        self.conn.terminate()


async def test_internal_client_error_costs_only_that_nodes_rows(app_client: AppClient, cluster: Cluster,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncpg's own state errors (seen when a server dies mid-statement) are a node failure."""
    async with app_client() as client:
        pools = client.app.state.pools  # type: ignore[attr-defined]
        # both of the node's pools: the one for generic plans (a plain page's statements) too
        monkeypatch.setitem(pools._pools, "650200", BrokenPool(pools._pools["650200"]))
        monkeypatch.setitem(pools._generic, "650200", BrokenPool(pools._generic["650200"]))
        body, _ = await timed(client, PAGE, {"first": 100})
        monkeypatch.undo()
    page = body["data"]["resources"]
    assert [e["node"]["code"] for e in page["edges"]] == await codes_without(cluster, "650200", 100)
    assert page["unavailableNodes"] == ["650200"] and page["totalCount"] is None
    assert node_errors(body) == [("NODE_UNAVAILABLE", "650200")]


async def test_node_killed_mid_statement(app_client: AppClient, cluster: Cluster) -> None:
    async with app_client() as client:
        async with locked(cluster, "650200"):
            request = asyncio.ensure_future(timed(client, PAGE, {"first": 100}))
            await asyncio.sleep(NODE_TIMEOUT / 3)  # the statement is now waiting on the lock
            cluster.stop("650200", "immediate")
            try:
                body, elapsed = await request
            except BaseException:
                cluster.start("650200")
                raise
        try:
            assert elapsed < NODE_TIMEOUT + SLACK
            page = body["data"]["resources"]
            assert [e["node"]["code"] for e in page["edges"]] == await codes_without(cluster, "650200", 100)
            assert node_errors(body) == [("NODE_UNAVAILABLE", "650200")]
        finally:
            cluster.start("650200")

        async def recovered() -> bool:
            body, _ = await gql(client, PAGE, {"first": 5})
            return "errors" not in body

        assert await wait_until(recovered) < 3


async def test_frozen_node_is_cut_off_at_its_deadline_and_comes_back(app_client: AppClient,
                                                                     cluster: Cluster) -> None:
    async with app_client() as client:
        await timed(client, PAGE, {"first": 5})  # the pool now holds connections to every node
        pids = freeze(cluster.servers["650200"])
        try:
            for _ in range(2):  # the second request meets the connections the first one gave up on
                body, elapsed = await timed(client, PAGE, {"first": 100})
                assert elapsed < NODE_TIMEOUT + SLACK
                assert body["data"]["resources"]["unavailableNodes"] == ["650200"]
                assert [e["node"]["code"] for e in body["data"]["resources"]["edges"]] == \
                    await codes_without(cluster, "650200", 100)
                assert node_errors(body) == [("NODE_UNAVAILABLE", "650200")], body["errors"]
            body, elapsed = await timed(client, NESTED)
            assert elapsed < NODE_TIMEOUT + SLACK and node_errors(body) == [("NODE_UNAVAILABLE", "650200")]
            started = time.monotonic()
            ready = await client.get("/readyz")
            assert time.monotonic() - started < NODE_TIMEOUT + SLACK
            assert ready.status_code == 503 and ready.json()["not_ready"] == ["650200"]
        finally:
            thaw(pids)

        async def recovered() -> bool:
            body, _ = await gql(client, PAGE, {"first": 5})
            return "errors" not in body

        assert await wait_until(recovered) < 3
        assert (await client.get("/readyz")).status_code == 200


async def test_lock_blocked_node_costs_one_timeout_per_request(app_client: AppClient, cluster: Cluster) -> None:
    async with app_client() as client, locked(cluster, "650100"):
        # page + totalCount, then a three-level nested query: each waits once, not once per statement
        for query, variables in ((PAGE, {"first": 50}), (NESTED, None)):
            body, elapsed = await timed(client, query, variables)
            assert NODE_TIMEOUT * 0.9 < elapsed < NODE_TIMEOUT + SLACK
            assert node_errors(body) == [("NODE_UNAVAILABLE", "650100")]
            assert body["data"]["resources"]["unavailableNodes"] == ["650100"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["not_ready"] == ["650100"]
        assert ready.json()["nodes"]["650000"]["ready"] is True


async def test_restarted_node_is_used_again(app_client: AppClient, cluster: Cluster) -> None:
    async with app_client() as client:
        await timed(client, PAGE, {"first": 5})
        cluster.stop("650100", "fast")
        cluster.start("650100")
        # pooled connections died with the old server: at most the first request misses the node
        body, elapsed = await timed(client, PAGE, {"first": 100})
        assert elapsed < NODE_TIMEOUT + SLACK
        assert node_errors(body) in ([], [("NODE_UNAVAILABLE", "650100")])
        body, _ = await timed(client, PAGE, {"first": 100})
        assert "errors" not in body


async def test_starts_with_a_node_down_and_connects_it_when_back(app_client: AppClient, cluster: Cluster) -> None:
    cluster.stop("650200", "immediate")
    try:
        started = time.monotonic()
        async with app_client() as client:
            assert time.monotonic() - started < NODE_TIMEOUT + SLACK
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["not_ready"] == ["650200"]
            body, _ = await timed(client, PAGE, {"first": 100})
            assert [e["node"]["code"] for e in body["data"]["resources"]["edges"]] == \
                await codes_without(cluster, "650200", 100)
            assert node_errors(body) == [("NODE_UNAVAILABLE", "650200")]
            cluster.start("650200")

            async def ready_again() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_until(ready_again)
            body, _ = await timed(client, PAGE, {"first": 100})
            assert "errors" not in body and body["data"]["resources"]["unavailableNodes"] == []
    finally:
        if not cluster.servers["650200"].is_running():
            cluster.start("650200")


async def test_starts_with_the_region_frozen_and_loads_policy_when_it_wakes(app_client: AppClient,
                                                                            cluster: Cluster) -> None:
    pids = freeze(cluster.servers["650000"])
    try:
        started = time.monotonic()
        async with app_client() as client:
            assert time.monotonic() - started < 2 * NODE_TIMEOUT + SLACK
            thaw(pids)
            pids = []

            async def region_read() -> bool:
                state = client.app.state  # type: ignore[attr-defined]
                return bool(state.engine._enforcer.get_policy()) and any(
                    s.api_name == "population" for s in state.schemas.current.specs)

            await wait_until(region_read)
            body, _ = await gql(client, "{ population(first: 3) { nodes { name } } }")
            assert "errors" not in body and len(body["data"]["population"]["nodes"]) == 3
    finally:
        thaw(pids)


async def test_shutdown_is_bounded_with_a_frozen_node(app_client: AppClient, cluster: Cluster) -> None:
    pids: list[int] = []
    try:
        async with app_client() as client:
            await timed(client, PAGE, {"first": 5})
            await asyncio.sleep(0.2)  # listeners connected
            pids = freeze(cluster.servers["650100"])
            await timed(client, PAGE, {"first": 5})  # leaves a connection that never got its cancel answered
            started = time.monotonic()
        assert time.monotonic() - started < 2 * NODE_TIMEOUT + SLACK
    finally:
        thaw(pids)


async def test_a_frozen_prefecture_at_start_costs_one_timeout_and_not_the_policy(app_client: AppClient,
                                                                                 cluster: Cluster) -> None:
    pids = freeze(cluster.servers["650100"])
    try:
        started = time.monotonic()
        async with app_client() as client:
            # warm-up notices the node once; the policy, catalog and departments reads skip it
            assert time.monotonic() - started < NODE_TIMEOUT + SLACK
            state = client.app.state  # type: ignore[attr-defined]
            assert state.engine._enforcer.get_policy(), "a frozen prefecture must not leave the rules unloaded"
            assert any(s.api_name == "population" for s in state.schemas.current.specs)
    finally:
        thaw(pids)
