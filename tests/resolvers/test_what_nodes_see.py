"""What each prefecture database is sent (review-trust3 finding 6), as the README's trust model states it:
the values of a data query's filters, a scoped grant's divisions and ``_entities`` keys of an all-nodes
register reach every database asked (every database holding the register unless ``filter.nodes`` narrows
it; under a scoped grant only those that can hold the scope's rows); a verification's key reaches every database holding the register (under a scoped grant, those that
can hold the scope's rows), whatever division the key names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from ..conftest import Cluster
from ..helpers import gql, token
from .conftest import SCOPED_DEPT

ALL = ["650000", "650100", "650200"]  # the test topology's databases
RS = {"Authorization": f"Bearer {token('650000-RS')}", "X-Govshare-Purpose": quote("社会保险参保资格核验")}
MARK = "甲乙丙丁戊"  # a name no row has


@pytest.fixture
def sent(client: httpx.AsyncClient) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """(database, parameters) of every statement sent to a node database."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    original = pools.fetch
    calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((database, args))
        return await original(database, name, sql, *args, **kwargs)

    pools.fetch = fetch
    try:
        yield calls
    finally:
        pools.fetch = original


def _receiving(calls: list[tuple[str, tuple[Any, ...]]], value: Any) -> list[str]:
    def holds(args: tuple[Any, ...]) -> bool:
        return any(a == value or (isinstance(a, list) and value in a) for a in args)
    return sorted({db for db, args in calls if holds(args)})


async def test_a_filter_value_reaches_every_database_unless_nodes_narrow_it(
        client: httpx.AsyncClient, sent: list[tuple[str, tuple[Any, ...]]]) -> None:
    body, _ = await gql(client, f'{{ population(first: 1, filter: {{name: {{eq: "{MARK}"}}}}) {{ totalCount }} }}')
    assert body["data"]["population"]["totalCount"] == 0, body
    assert _receiving(sent, MARK) == ALL
    sent.clear()
    body, _ = await gql(client, f'{{ population(first: 1, filter: {{nodes: ["650100"], name: {{eq: "{MARK}"}}}}) '
                                '{ totalCount } }')
    assert body["data"]["population"]["totalCount"] == 0, body
    assert _receiving(sent, MARK) == ["650100"]


async def test_a_scoped_grants_divisions_reach_only_the_databases_that_can_hold_its_rows(
        client: httpx.AsyncClient, grants: dict[str, int], sent: list[tuple[str, tuple[Any, ...]]]) -> None:
    body, _ = await gql(client, '{ population(first: 1, purpose: "P-scope") { rowScope nodes { address } } }',
                        Authorization=f"Bearer {token(SCOPED_DEPT)}")
    assert body["data"]["population"]["rowScope"] == ["650100"], body
    # the region's (rows of any division) and Urumqi's; 650200 holds no row of Urumqi's divisions
    assert _receiving(sent, "650100") == ["650000", "650100"]


async def test_entity_keys_reach_every_database(client: httpx.AsyncClient,
                                                sent: list[tuple[str, tuple[Any, ...]]]) -> None:
    key = "650100199901016666"
    body, _ = await gql(client, """query($r: [_Any!]!) { _entities(representations: $r) {
        ... on PopulationRecord { name } } }""", {"r": [{"__typename": "PopulationRecord", "citizenId": key}]}, **RS)
    assert body["data"]["_entities"] == [None], body
    assert _receiving(sent, key) == ALL


async def test_a_verified_key_reaches_every_database(
        client: httpx.AsyncClient, cluster: Cluster, sent: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Also a key its division's node holds (review-s6 finding 1: another node may hold the person too, and
    the answer is taken only when no other does)."""
    conn = await cluster.connect("650100")
    try:
        held = await conn.fetchval("select citizen_id from population where node_code = '650100' limit 1")
    finally:
        await conn.close()
    query = """query($k: String!) { verify(resource: "population", key: $k, values: [{item: "name", value: "x"}]) {
        found } }"""
    headers = {"Authorization": f"Bearer {token('650200-ZR')}"}
    body, _ = await gql(client, query, {"k": held}, **headers)
    assert body["data"]["verify"] == {"found": True}, body
    assert _receiving(sent, held) == ALL
    sent.clear()
    absent = "650100199901016665"
    body, _ = await gql(client, query, {"k": absent}, **headers)
    assert body["data"]["verify"] == {"found": False}, body
    assert _receiving(sent, absent) == ALL
