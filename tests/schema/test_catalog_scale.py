"""Keyword search stays index-backed at 1,000,000 catalog rows seeded with the scale flag."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from govshare.federation.topology import Node, Topology
from govshare.resolvers import catalog
from govshare.seed.writer import SeedOptions, seed_database

from ..conftest import Cluster

ROWS = 1_000_000
KEYWORDS = ["乌鲁木齐市社会救助", "社会救助", "人口", "救助", "مەمۇرىي ئىجازەت", "جەر تىركەۋ", "land registration",
            "Vaccination register", "无此资源名称"]


@pytest.fixture(scope="module")
async def big_catalog(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    server = cluster.new_server("scale")
    admin = await asyncpg.connect(server.dsn())
    await admin.execute("create database scale")
    await admin.close()
    conn = await asyncpg.connect(server.dsn("scale"))
    from govshare.migrations.runner import migrate

    await migrate(conn)
    region = Node("650100", "region", {"zh": "乌鲁木齐市", "en": "Urumqi", "ug": "ئۈرۈمچى"})
    started = time.perf_counter()
    await seed_database(conn, Topology((region,)), "650100",
                        SeedOptions(seed=1, persons=0, entities=0, resources=ROWS))
    print(f"\nseeded {ROWS:,} catalog resources in {time.perf_counter() - started:.1f} s")
    await conn.execute("set plan_cache_mode = force_custom_plan")
    try:
        yield conn
    finally:
        await conn.close()
        server.destroy()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("keyword", KEYWORDS)
async def test_keyword_search_uses_no_sequential_scan(big_catalog: asyncpg.Connection, keyword: str) -> None:
    assert await big_catalog.fetchval("select count(*) from resources") == ROWS + 3
    for sharing in (False, True):
        where = catalog.resource_where(catalog.ResourceFilter(keyword=keyword, sharing_catalog=sharing), None,
                                       ["650100"])
        limit = where.param(21)
        sql = catalog.SELECT_RESOURCES + where.sql() + catalog.ORDER_LIMIT + limit
        raw = await big_catalog.fetchval("explain (analyze, format json) " + sql, *where.args)
        plan = json.loads(raw)[0]
        kinds = {n["Node Type"] for n in _nodes(plan["Plan"])}
        assert "Seq Scan" not in kinds, (keyword, kinds)
        assert kinds & {"Bitmap Index Scan", "Index Scan"}, kinds
        assert plan["Execution Time"] < 2000, (keyword, plan["Execution Time"])
        print(f"{keyword!r} sharing={sharing}: {plan['Execution Time']:.1f} ms, {sorted(kinds)}")
