"""Publishing, reclassifying and retiring change the schema on a running service, atomically."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import httpx
import pytest

from govshare.federation.nodes import NodePools
from govshare.resolvers.specs import DataResourceSpec
from govshare.server import schemas

from ..conftest import Cluster
from ..helpers import gql

CODE = "650100-B09-990001"
PUBLISH = """insert into resources (code, node_code, classification, category, name_zh, name_en, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status, data_table, data_scope, api_name)
    values ($1, '650100', 'basic', 'e_licence', '乌鲁木齐电子营业执照（测试）', 'Urumqi licences (test)', '650100-SJ',
            'prefecture', 'database', 'daily', 'UNCONDITIONAL', 'open', 'published', 'business_licences',
            'provider', 'urumqiLicences')"""
ITEMS = """insert into data_items (resource_code, name, position, title_zh, title_en, data_type, share_class,
    share_condition, legal_basis, is_key) values
    ($1, 'licence_no', 0, '证照编号', 'licence number', 'string', 'UNCONDITIONAL', null, null, true),
    ($1, 'entity_name', 1, '主体名称', 'entity name', 'string', 'UNCONDITIONAL', null, null, false),
    ($1, 'issued_on', 2, '发证日期', 'issued on', 'date', 'UNCONDITIONAL', null, null, false)"""


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError("the change did not reach the schema in time")


async def test_publish_reclassify_retire_while_queries_run(client: httpx.AsyncClient, cluster: Cluster) -> None:
    holder = client.app.state.schemas  # type: ignore[attr-defined]
    stop = asyncio.Event()
    failures: list[object] = []
    completed = 0

    async def steady_load() -> None:
        nonlocal completed
        while not stop.is_set():
            body, _ = await gql(client, "{ legalEntities(first: 20) { nodes { name } } }")
            if "errors" in body or len(body["data"]["legalEntities"]["nodes"]) != 20:
                failures.append(body)
            completed += 1

    load = [asyncio.create_task(steady_load()) for _ in range(4)]
    conn = await cluster.connect("650100")
    try:
        version = holder.current.number
        async with conn.transaction():
            await conn.execute(PUBLISH, CODE)
            await conn.execute(ITEMS, CODE)

        async def published() -> bool:
            body, _ = await gql(client, "{ urumqiLicences(first: 3) { nodes { licenceNo entityName issuedOn } } }")
            return "errors" not in body and len(body["data"]["urumqiLicences"]["nodes"]) == 3

        took = await _eventually(published)
        assert holder.current.number > version and took < 5

        await conn.execute("""update data_items set share_class = 'NOT_SHARED', legal_basis = '测试依据'
                              where resource_code = $1 and name = 'entity_name'""", CODE)

        async def reclassified() -> bool:
            body, _ = await gql(client, "{ urumqiLicences(first: 1) { nodes { entityName } } }")
            return [e["extensions"].get("reason") for e in body.get("errors", [])] == ["NOT_SHARED"]

        await _eventually(reclassified)
        await conn.execute("update resources set status = 'retired' where code = $1", CODE)

        async def retired() -> bool:
            body, _ = await gql(client, "{ urumqiLicences(first: 1) { nodes { licenceNo } } }")
            return body.get("errors", [{}])[0].get("extensions", {}).get("code") == "GRAPHQL_VALIDATION_FAILED"

        await _eventually(retired)
    finally:
        stop.set()
        await asyncio.gather(*load)
        await conn.execute("delete from resources where code = $1", CODE)
        await conn.close()
    assert completed > 20
    assert failures == [], "a query in flight failed during a schema swap"


async def test_policy_rules_changes_reach_the_running_service(client: httpx.AsyncClient, cluster: Cluster) -> None:
    query = "{ population(first: 1) { nodes { sex } } }"
    body, _ = await gql(client, query)
    assert "errors" not in body
    conn = await cluster.connect("650000")
    try:
        await conn.execute("""insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6)
            values ('p', '650100-MZ', '650000-B01-000001', 'sex', '*', 'read', '*', 'deny')""")

        async def denied() -> bool:
            body, _ = await gql(client, query)
            return [e["extensions"].get("reason") for e in body.get("errors", [])] == ["POLICY_DENIED"]

        await _eventually(denied)
    finally:
        await conn.execute("delete from policy_rules where v0 = '650100-MZ' and v2 = 'sex'")
        await conn.close()

    async def allowed() -> bool:
        body, _ = await gql(client, query)
        return "errors" not in body

    await _eventually(allowed)


async def test_a_hosted_providers_resource_returns_only_its_own_rows(client: httpx.AsyncClient,
                                                                       cluster: Cluster) -> None:
    # Altay (654300) is hosted on the region: its rows share the region database's population table
    # with the region's other hosted prefecture (653000).
    code = "654300-B01-990001"
    conn = await cluster.connect("650000")
    try:
        expected = await conn.fetchval("select count(*) from population where node_code = '654300'")
        others = await conn.fetchval("select count(*) from population where node_code <> '654300'")
        assert expected > 0 and others > 0
        async with conn.transaction():
            await conn.execute("""insert into resources (code, node_code, classification, category, name_zh,
                provider_code, provider_level, format, update_cycle, share_class, open_attribute, status, data_table,
                data_scope, api_name) values ($1, '654300', 'department', 'population', '阿勒泰人口（测试）',
                '654300-GA', 'prefecture', 'database', 'daily', 'UNCONDITIONAL', 'open', 'published', 'population',
                'provider', 'altayResidents')""", code)
            await conn.execute("""insert into data_items (resource_code, name, position, title_zh, data_type,
                share_class, is_key) values ($1, 'citizen_id', 0, '公民身份号码', 'string', 'UNCONDITIONAL', true),
                ($1, 'division_code', 1, '行政区划代码', 'string', 'UNCONDITIONAL', false)""", code)

        async def published() -> bool:
            body, _ = await gql(client, "{ altayResidents(first: 1000) { totalCount nodes { divisionCode } } }")
            return "errors" not in body

        await _eventually(published)
        body, _ = await gql(client, "{ altayResidents(first: 1000) { totalCount nodes { divisionCode } } }")
        page = body["data"]["altayResidents"]
        assert page["totalCount"] == expected == len(page["nodes"])
        assert {r["divisionCode"] for r in page["nodes"]} == {"654300"}
        body, _ = await gql(client, '{ altayResidents(filter: {nodes: ["653000"]}) { totalCount nodes { divisionCode } } }')
        assert body["data"]["altayResidents"] == {"totalCount": 0, "nodes": []}
        other = await conn.fetchval("select citizen_id from population where node_code = '653000' limit 1")
        body, _ = await gql(client, """query($k: String!) { verify(resource: "altayResidents", key: $k,
            values: [{item: "division_code", value: "653000"}]) { found } }""", {"k": other})
        assert body["data"]["verify"] == {"found": False}, "verification reached another node's row"
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()


@pytest.mark.slow
async def test_a_rebuild_of_hundreds_of_entries_does_not_hold_the_event_loop(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node publishing 200 more entries (and changing one each second) makes every refresh a full
    rebuild: ~10 ms of CPU per entry. The authority and the build run in a worker thread: the loop's
    thread spends little CPU between two of its turns (per-turn ticker, thread CPU time as in
    tests/server/test_event_loop.py). Before: one refresh held the loop ~1.3 s in one turn. The thread's CPU
    is still the worker's: the next refresh starts no sooner than that CPU (REBUILD_SPACING) after the last
    ended, so rebuilds take at most half a core. Before: at once."""
    holder = client.app.state.schemas  # type: ignore[attr-defined]
    pools = client.app.state.pools  # type: ignore[attr-defined]
    saved = holder.current
    real = schemas.load_catalogs
    loop = asyncio.get_running_loop()
    reads: list[float] = []
    monkeypatch.setattr(holder, "_next_at", 0.0)  # restored after: the spacing left by this test's refreshes

    async def flooded(p: NodePools) -> tuple[dict[str, list[DataResourceSpec]], list[str]]:
        reads.append(loop.time())
        catalogs, failed = await real(p)
        base = next(s for specs in catalogs.values() for s in specs)
        catalogs["650200"] = [*catalogs.get("650200", []), *(
            replace(base, code=f"650200-B01-9{i:05d}", node="650200", provider="650200-GA", api_name=f"flood{i}x",
                    scope="provider") for i in range(200))]
        return catalogs, failed

    monkeypatch.setattr(schemas, "load_catalogs", flooded)
    worst, last = 0.0, time.thread_time()
    done = asyncio.Event()

    def tick() -> None:
        nonlocal worst, last
        now = time.thread_time()
        worst, last = max(worst, now - last), now
        if not done.is_set():
            loop.call_soon(tick)

    loop.call_soon(tick)
    try:
        started = time.process_time()
        assert await holder.refresh(pools)
        spent = time.process_time() - started
        ended = loop.time()
        built = {s.api_name for s in holder.current.specs}
        assert not await holder.refresh(pools)  # the same catalogs: read again, not rebuilt
    finally:
        done.set()
        await asyncio.sleep(0)
        holder.current = saved
    assert {f"flood{i}x" for i in range(200)} <= built, "the flood was not built: the test did not exercise it"
    assert spent > 0.5, f"the rebuild cost only {spent:.2f} s of CPU: too cheap to show a stall"
    assert worst < 0.05, f"one turn of the event loop took {worst:.3f} s of CPU during a rebuild"
    assert reads[1] - ended > 0.6 * spent, f"a refresh started {reads[1] - ended:.2f} s after a {spent:.2f} s rebuild"
