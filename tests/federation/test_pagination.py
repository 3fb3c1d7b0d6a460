"""Merged lists resume a node that missed pages from its own position: nothing skipped, nothing twice."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import orjson

from ..conftest import Cluster
from ..helpers import gql

RESOURCES = """query($after: String) { resources(first: 40, after: $after) {
  unavailableNodes edges { cursor node { code } } pageInfo { hasNextPage endCursor } } }"""
DEPARTMENTS = """query($after: String) { departments(first: 30, after: $after) {
  unavailableNodes edges { node { code } } pageInfo { hasNextPage endCursor } } }"""
POPULATION = """query($after: String) { population(first: 400, after: $after) {
  unavailableNodes edges { cursor } pageInfo { hasNextPage endCursor } } }"""


async def everything(cluster: Cluster, sql: str) -> list[Any]:
    values: list[Any] = []
    for node in cluster.topology.databases:
        conn = await cluster.connect(node.code)
        try:
            values.extend(tuple(r) if len(r) > 1 else r[0] for r in await conn.fetch(sql))
        finally:
            await conn.close()
    return sorted(values)


async def page_through(client: httpx.AsyncClient, cluster: Cluster, query: str, field: str,
                       missing_on_first_page: str) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """Every page of ``field``; the database ``missing_on_first_page`` is stopped for the first page only."""
    edges: list[dict[str, Any]] = []
    unavailable: list[list[str]] = []
    after = None
    while True:
        if after is None:
            cluster.stop(missing_on_first_page)
        try:
            body, _ = await gql(client, query, {"after": after})
        finally:
            if after is None:
                cluster.start(missing_on_first_page)
        page = body["data"][field]
        edges.extend(page["edges"])
        unavailable.append(page["unavailableNodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return edges, unavailable
        after = page["pageInfo"]["endCursor"]


async def test_a_node_missing_on_the_first_catalog_page_is_resumed_later(client: httpx.AsyncClient,
                                                                         cluster: Cluster) -> None:
    # 650000 holds the smallest codes: without per-node positions its rows would all be skipped.
    edges, unavailable = await page_through(client, cluster, RESOURCES, "resources", "650000")
    assert unavailable[0] == ["650000", "653000", "654300"] and not any(unavailable[1:])
    codes = [e["node"]["code"] for e in edges]
    assert sorted(codes) == await everything(cluster, "select code from resources")  # none skipped, none twice
    assert codes[:40] == sorted(codes[:40]) and not any(c.startswith("650000") for c in codes[:40])


async def test_a_node_missing_on_the_first_departments_page_is_resumed_later(client: httpx.AsyncClient,
                                                                             cluster: Cluster) -> None:
    edges, unavailable = await page_through(client, cluster, DEPARTMENTS, "departments", "650000")
    assert unavailable[0] == ["650000", "653000", "654300"]
    assert sorted(e["node"]["code"] for e in edges) == await everything(cluster, "select code from departments")


def _row(cursor: str) -> tuple[str, int]:
    body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return body["n"], body["r"]


async def test_a_node_missing_on_the_first_data_page_is_resumed_later(client: httpx.AsyncClient,
                                                                      cluster: Cluster) -> None:
    edges, unavailable = await page_through(client, cluster, POPULATION, "population", "650100")
    assert unavailable[0] == ["650100"] and not any(unavailable[1:])
    rows = [_row(e["cursor"]) for e in edges]
    assert sorted(rows) == await everything(cluster, "select node_code, row_id from population")


async def test_cursor_positions_the_database_cannot_hold_are_bad_input(client: httpx.AsyncClient) -> None:
    def cursor(body: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")  # orjson refuses 10**23

    bad = [cursor({"o": None, "d": False, "n": "650100", "r": 10**23}),
           cursor({"o": None, "d": False, "n": "650100", "r": 5, "x": {"650200": ["650200", -(10**23), None]}}),
           cursor({"o": None, "d": False, "n": "650100", "r": 5, "x": {"65-02": None}}),
           cursor({"o": None, "d": False, "n": "650100\x00", "r": 5}),
           "not a cursor"]
    for after in bad:
        body, _ = await gql(client, POPULATION, {"after": after})
        assert body["data"]["population"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
        assert "Traceback" not in str(body) and "select" not in str(body).lower()
    for after in ["Z3MyOnsieCI6WzFdfQ", base64.urlsafe_b64encode(b'gs2:{"k":"a","x":{"650000":7}}').decode()]:
        body, _ = await gql(client, RESOURCES, {"after": after})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body


def test_merge_resumable_never_skips_or_repeats_whatever_fails_when() -> None:
    """Simulated nodes failing at random pages: paging to the end yields every key exactly once."""
    import random

    from govshare.federation.pagination import Positions, merge_resumable

    rng = random.Random(8)
    for _ in range(200):
        data = {db: sorted(f"{db}{rng.randrange(1000):03d}" if rng.random() < 0.5 else f"x{rng.randrange(10**6):06d}"
                           for _ in range(rng.randrange(0, 30))) for db in ("650000", "650100", "650200")}
        data = {db: sorted(set(keys)) for db, keys in data.items()}
        first = rng.randrange(1, 12)
        positions: Positions[str] = Positions()
        seen: list[str] = []
        for _ in range(200):
            failed = [db for db in data if rng.random() < 0.3]
            pages = {db: [k for k in keys if positions.of(db) is None or k > (positions.of(db) or "")][:first + 1]
                     for db, keys in data.items() if db not in failed}
            merged = merge_resumable(pages, failed, positions, position=lambda k: k, order=lambda k: k, first=first)
            seen.extend(merged.rows)
            if not merged.rows:
                if not failed:
                    break
                continue  # a client retries the same cursor later
            positions = merged.positions(len(merged.rows) - 1)
        assert sorted(seen) == sorted(k for keys in data.values() for k in keys)
