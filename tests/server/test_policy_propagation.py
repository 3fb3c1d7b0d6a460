"""Two real service processes on the same databases: a policy change made through one is enforced by
both within 2 s; a process whose LISTEN connection was cut while a change was made reloads on reconnect."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from govshare.server.postgres import free_port

from ..admin_helpers import as_user
from ..conftest import TOPOLOGY, Cluster
from ..helpers import SECRET, token

POPULATION = "650000-B01-000001"
QUERY = "{ population(first: 1) { nodes { registeredOn } } }"
FIND_LISTENERS = """select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
    and backend_type = 'client backend' and (query ilike 'listen%' or query = 'select 1')"""


def _start(cluster: Cluster, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env.update({"GOVSHARE_TOPOLOGY": str(TOPOLOGY), "GOVSHARE_DEMO_JWT_SECRET": SECRET})
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in cluster.topology.databases})
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "govshare.server.app:app_factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
async def processes(cluster: Cluster) -> AsyncIterator[list[str]]:
    ports = [free_port(), free_port()]
    started = [_start(cluster, port) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 60
            for url, process in zip(urls, started, strict=True):
                while True:
                    assert process.poll() is None, process.stdout.read() if process.stdout else ""
                    try:
                        if (await http.get(f"{url}/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "service process did not become ready"
                    await asyncio.sleep(0.2)
        yield urls
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.communicate(timeout=10)  # waits and closes the output pipe


async def _reason(http: httpx.AsyncClient, url: str, department: str) -> str | None:
    response = await http.post(f"{url}/graphql", json={"query": QUERY},
                               headers={"Authorization": f"Bearer {token(department)}"})
    errors = response.json().get("errors", [])
    return errors[0]["extensions"].get("reason") if errors else None


async def _gql(http: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(f"{url}/graphql", json={"query": query, "variables": variables},
                               headers=as_user("admin.region"))
    return dict(response.json())


async def _seconds_until(http: httpx.AsyncClient, urls: list[str], department: str, reason: str | None,
                         limit: float) -> float:
    started = time.perf_counter()
    pending = set(urls)
    while pending:
        for url in list(pending):
            if await _reason(http, url, department) == reason:
                pending.discard(url)
        elapsed = time.perf_counter() - started
        assert elapsed < limit, f"{sorted(pending)} still not enforcing {reason} after {elapsed:.2f} s"
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def test_a_change_through_one_process_is_enforced_by_both(processes: list[str]) -> None:
    first, second = processes
    rule = {"subject": "650200-ZR", "resource": POPULATION, "item": "registered_on", "effect": "DENY"}
    async with httpx.AsyncClient(timeout=10) as http:
        assert await _reason(http, second, "650200-ZR") is None
        body = await _gql(http, first, """mutation($r: RuleInput!) { addRule(rule: $r, reason: "propagation") {
            rule { id } } }""", {"r": rule})
        rule_id = body["data"]["addRule"]["rule"]["id"]
        seconds = await _seconds_until(http, processes, "650200-ZR", "POLICY_DENIED", 2.0)
        print(f"\npropagation to both processes: {seconds * 1000:.0f} ms")
        await _gql(http, second, 'mutation($id: Int!) { removeRule(id: $id, reason: "done") { rule { id } } }',
                   {"id": rule_id})
        await _seconds_until(http, processes, "650200-ZR", None, 2.0)


async def test_a_change_missed_while_disconnected_is_loaded_on_reconnect(cluster: Cluster,
                                                                         processes: list[str]) -> None:
    conn = await cluster.connect("650000")
    try:
        # Cut every LISTEN connection to the region database, then change the rules directly while
        # the processes are reconnecting: the NOTIFY goes to nobody.
        pids = [r["pid"] for r in await conn.fetch(FIND_LISTENERS)]
        assert pids
        await conn.execute("select pg_terminate_backend(pid) from unnest($1::int[]) as pid", pids)
        rule_id = await conn.fetchval(
            """insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6, note) values
               ('p', '650200-ZR', $1, 'registered_on', '*', '*', '*', 'deny', 'missed') returning id""", POPULATION)
        async with httpx.AsyncClient(timeout=10) as http:
            seconds = await _seconds_until(http, processes, "650200-ZR", "POLICY_DENIED", 6.0)
            print(f"\nreload after reconnect: {seconds * 1000:.0f} ms")
            await conn.execute("delete from policy_rules where id = $1", rule_id)
            await _seconds_until(http, processes, "650200-ZR", None, 2.0)
    finally:
        await conn.close()
