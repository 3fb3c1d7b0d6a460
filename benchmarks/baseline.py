"""The no-GraphQL baseline: the same SQL as govshare with raw starlette + asyncpg + orjson.

``/page`` answers the same page as ``resources(first: 50) { code name provider { code name } dataItems
{ name shareClass } }``: a page per node (or only ``?node=``'s) merged by code, then items and providers
with one statement per node each. ``/resource?code=`` is the same for one resource, ``/rows`` and
``/one_row`` select population rows of one node (all of them or one by key). No authentication, no
decisions, no audit: the floor that govshare's work sits on.
"""

from __future__ import annotations

import asyncio
import heapq
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = "select code, name_zh, provider_code from resources order by code limit $1"
PAGE_OF_NODE = "select code, name_zh, provider_code from resources where node_code = $2 order by code limit $1"
RESOURCE = "select code, name_zh, provider_code from resources where code = $1"
ITEMS = "select resource_code, name, share_class from data_items where resource_code = any($1::text[]) order by resource_code, position"
PROVIDERS = "select code, name_zh from departments where code = any($1::text[])"
ROWS = """select citizen_id, name, sex, birth_date, ethnicity, address, division_code, phone, household_type,
    registered_on from population where node_code = $1 order by node_code, row_id limit $2"""
ONE_ROW = """select citizen_id, name, sex, birth_date, ethnicity, address, division_code, phone, household_type,
    registered_on from population where node_code = $1 and citizen_id = $2"""
CAMEL = {"citizen_id": "citizenId", "birth_date": "birthDate", "division_code": "divisionCode",
         "household_type": "householdType", "registered_on": "registeredOn"}
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

    async def shaped(rows: list[asyncpg.Record]) -> list[dict[str, object]]:
        codes = [r["code"] for r in rows]
        items_rows, provider_rows = await asyncio.gather(
            by_db(ITEMS, codes), by_db(PROVIDERS, sorted({r["provider_code"] for r in rows})))
        items: dict[str, list[dict[str, str]]] = {c: [] for c in codes}
        for item in items_rows:
            items[item["resource_code"]].append({"name": item["name"], "shareClass": item["share_class"]})
        providers = {p["code"]: {"code": p["code"], "name": p["name_zh"]} for p in provider_rows}
        return [{"code": r["code"], "name": r["name_zh"], "provider": providers.get(r["provider_code"]),
                 "dataItems": items[r["code"]]} for r in rows]

    async def page(request: Request) -> Response:
        first = int(request.query_params.get("first", "50"))
        node = request.query_params.get("node")
        if node:
            pages = [await asyncio.wait_for(pools[_db(node)].fetch(PAGE_OF_NODE, first + 1, node), 2)]
        else:
            pages = await asyncio.gather(*(asyncio.wait_for(pool.fetch(PAGE, first + 1), 2)
                                           for pool in pools.values()))
        rows = list(heapq.merge(*pages, key=lambda r: r["code"]))
        has_next, rows = len(rows) > first, rows[:first]
        edges = [{"node": shaped_row} for shaped_row in await shaped(rows)]
        body = {"data": {"resources": {"edges": edges, "pageInfo": {
            "hasNextPage": has_next, "endCursor": rows[-1]["code"] if rows else None}}}}
        return Response(orjson.dumps(body), media_type="application/json")

    async def resource(request: Request) -> Response:
        code = request.query_params["code"]
        rows = await pools[_db(code)].fetch(RESOURCE, code)
        found = await shaped(rows)
        return Response(orjson.dumps({"data": {"resource": found[0] if found else None}}),
                        media_type="application/json")

    def camel(record: asyncpg.Record) -> dict[str, object]:
        return {CAMEL.get(k, k): v for k, v in record.items()}

    async def one_row(request: Request) -> Response:
        node = request.query_params.get("node", "650100")
        records = await pools[_db(node)].fetch(ONE_ROW, node, request.query_params["key"])
        body = {"data": {"population": {"nodes": [camel(r) for r in records]}}}
        return Response(orjson.dumps(body), media_type="application/json")

    async def rows(request: Request) -> Response:
        node = request.query_params.get("node", "650100")
        records = await pools[_db(node)].fetch(ROWS, node, int(request.query_params.get("first", "1000")))
        body = {"data": {"population": {"nodes": [camel(r) for r in records]}}}
        return Response(orjson.dumps(body), media_type="application/json")

    async def root(request: Request) -> Response:
        return Response(b"ok")

    return Starlette(routes=[Route("/", root), Route("/page", page), Route("/resource", resource),
                             Route("/rows", rows), Route("/one_row", one_row)], lifespan=lifespan)
