"""一数一源 conflicts through GraphQL: a prefecture entry restating the region's population register
under looser classes is listed (as /readyz lists it), without a statement, to those allowed to see it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql

CODE = "650100-B01-990177"
ENTRY = """insert into resources (code, node_code, classification, category, name_zh, provider_code, provider_level,
    format, update_cycle, share_class, open_attribute, status, data_table, data_scope, api_name)
    values ($1, '650100', 'department', 'population', '人口（另述）', '650100-GA', 'prefecture', 'database', 'daily',
            'UNCONDITIONAL', 'open', 'published', 'population', 'provider', 'restatedPopulation650100')"""
ITEMS = """insert into data_items (resource_code, name, position, title_zh, data_type, share_class, is_key)
    values ($1, 'citizen_id', 0, '公民身份号码', 'string', 'UNCONDITIONAL', true),
           ($1, 'phone', 1, '联系电话', 'string', 'UNCONDITIONAL', false)"""
CONFLICTS = """query($n: [String!]) { sourceConflicts(nodes: $n) {
  kind resource database table column applied classes { resource shareClass } } }"""


@pytest.fixture(scope="module")
async def restated(client: httpx.AsyncClient, cluster: Cluster) -> AsyncIterator[None]:
    conn = await cluster.connect("650100")
    try:
        async with conn.transaction():
            await conn.execute(ENTRY, CODE)
            await conn.execute(ITEMS, CODE)
        started = time.monotonic()
        while time.monotonic() - started < 10:  # until the schema was rebuilt from the new catalog
            body, _ = await gql(client, CONFLICTS, {"n": None}, **as_user("supervisor.region"))
            if any(c["resource"] == CODE for c in body["data"]["sourceConflicts"]):
                break
            await asyncio.sleep(0.05)
        yield
    finally:
        await conn.execute("delete from resources where code = $1", CODE)
        await conn.close()
    started = time.monotonic()
    while time.monotonic() - started < 10:  # gone again once the schema was rebuilt
        body, _ = await gql(client, CONFLICTS, {"n": None}, **as_user("supervisor.region"))
        if not any(c["resource"] == CODE for c in body["data"]["sourceConflicts"]):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the conflict outlived the entry")


async def test_conflicts_are_listed_as_readyz_finds_them(client: httpx.AsyncClient, restated: None) -> None:
    body, response = await gql(client, CONFLICTS, {"n": None}, **as_user("supervisor.region"))
    assert "errors" not in body, body
    assert response.headers["X-Govshare-Statements"] == "0"  # found when the schema was built
    conflicts = body["data"]["sourceConflicts"]
    ready = (await client.get("/readyz")).json()["schema"]["catalog_findings"]
    expected = {(f["kind"], f["resource"], f["column"]) for f in ready
                if f["kind"] in ("class_conflict", "unclassified_by_owner")}
    assert {(c["kind"], c["resource"], c["column"]) for c in conflicts} == expected
    mine = {c["column"]: c for c in conflicts if c["resource"] == CODE}
    assert set(mine) == {"phone", "citizen_id"}
    assert {c["resource"]: c["shareClass"] for c in mine["phone"]["classes"]} == {
        "650000-B01-000001": "CONDITIONAL", CODE: "UNCONDITIONAL"}
    assert mine["phone"]["applied"] == "CONDITIONAL" and mine["phone"]["table"] == "population"


@pytest.mark.parametrize(("user", "nodes", "sees"), [
    ("supervisor.region", None, True),
    ("admin.region", ["650100"], True),
    ("admin.urumqi", None, True),           # its node's entry is involved
    ("admin.urumqi", ["650100"], True),
    ("admin.urumqi", ["650000"], None),     # another domain: refused, not emptied
    ("reviewer.region", None, None),
    ("developer.urumqi", None, None),
])
async def test_who_may_see_conflicts(client: httpx.AsyncClient, restated: None, user: str,
                                     nodes: list[str] | None, sees: bool | None) -> None:
    body: dict[str, Any]
    body, _ = await gql(client, CONFLICTS, {"n": nodes}, **as_user(user))
    if sees is None:
        assert body["data"] == {"sourceConflicts": None}
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        return
    assert any(c["resource"] == CODE for c in body["data"]["sourceConflicts"])
    if user == "admin.urumqi":
        assert all(any(s["resource"].startswith("650100") for s in c["classes"]) or
                   c["resource"].startswith("650100") for c in body["data"]["sourceConflicts"])
