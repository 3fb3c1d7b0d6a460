"""The no-GraphQL baseline: the same catalog fan-out with raw asyncpg and ``json.dumps``.

It answers the same page as ``resources(first: 50) { code name provider { code name } dataItems
{ name shareClass } }``: a page per node merged by code, then items and providers with one
statement per node each.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = "select code, name_zh, provider_code from resources order by code limit $1"
ITEMS = "select resource_code, name, share_class from data_items where resource_code = any($1::text[]) order by resource_code, position"
PROVIDERS = "select code, name_zh from departments where code = any($1::text[])"
ROWS = """select citizen_id, name, sex, birth_date, ethnicity, address, division_code, phone, household_type,
    registered_on from population where node_code = $1 order by node_code, row_id limit $2"""
HOSTED = dict(item.split("=") for item in os.environ.get("BASELINE_HOSTED", "").split(",") if item)


def _db(code: str) -> str:
    return HOSTED.get(code[:6], code[:6])


def create_app() -> Starlette:
    dsns = {k.removeprefix("GOVSHARE_DSN_"): v for k, v in os.environ.items() if k.startswith("GOVSHARE_DSN_")}
    pools: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for code, dsn in dsns.items():
            pools[code] = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        yield
        for pool in pools.values():
            await pool.close()

    async def by_db(sql: str, codes: list[str]) -> list[asyncpg.Record]:
        groups: dict[str, list[str]] = {}
        for code in codes:
            groups.setdefault(_db(code), []).append(code)
        results = await asyncio.gather(*(pools[db].fetch(sql, group) for db, group in groups.items()))
        return [row for rows in results for row in rows]

    async def page(request: Request) -> Response:
        first = int(request.query_params.get("first", "50"))
        pages = await asyncio.gather(*(asyncio.wait_for(pool.fetch(PAGE, first + 1), 2) for pool in pools.values()))
        rows = list(heapq.merge(*pages, key=lambda r: r["code"]))
        has_next, rows = len(rows) > first, rows[:first]
        codes = [r["code"] for r in rows]
        items_rows, provider_rows = await asyncio.gather(
            by_db(ITEMS, codes), by_db(PROVIDERS, sorted({r["provider_code"] for r in rows})))
        items: dict[str, list[dict[str, str]]] = {c: [] for c in codes}
        for item in items_rows:
            items[item["resource_code"]].append({"name": item["name"], "shareClass": item["share_class"]})
        providers = {p["code"]: {"code": p["code"], "name": p["name_zh"]} for p in provider_rows}
        edges = [{"node": {"code": r["code"], "name": r["name_zh"], "provider": providers.get(r["provider_code"]),
                           "dataItems": items[r["code"]]}} for r in rows]
        body = {"data": {"resources": {"edges": edges, "pageInfo": {"hasNextPage": has_next,
                                                                     "endCursor": codes[-1] if codes else None}}}}
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")

    async def rows(request: Request) -> Response:
        node = request.query_params.get("node", "650100")
        records = await pools[_db(node)].fetch(ROWS, node, int(request.query_params.get("first", "1000")))
        body = {"data": {"population": {"nodes": [dict(r) for r in records]}}}
        return Response(json.dumps(body, ensure_ascii=False, default=str), media_type="application/json")

    return Starlette(routes=[Route("/page", page), Route("/rows", rows)], lifespan=lifespan)
