"""Literal arguments of data fields converted once per parsed field node, and the selection below them:
equal answers, no value carried from one document (or one request's variables) to another, none kept
over a schema swap."""

from __future__ import annotations

from typing import Any

import httpx

from ..helpers import gql, token

HEADERS = {"Authorization": f"Bearer {token('650100-GA')}"}


def remembered(client: httpx.AsyncClient, field: str = "population") -> dict[int, Any]:
    schema = client.app.state.schemas.current.schema  # type: ignore[attr-defined]
    return schema._schema.query_type.fields[field].resolve.remembered  # type: ignore[no-any-return]


async def test_a_document_without_variables_converts_its_arguments_once(client: httpx.AsyncClient) -> None:
    query = '{ population(first: 2, filter: {nodes: ["650100"], sex: {eq: "男"}}) { nodes { name sex } } }'
    first, _ = await gql(client, query, **HEADERS)
    memo = remembered(client)
    [entry] = [e for e in memo.values() if e[0].loc and e[0].loc.source.body == query]
    again, _ = await gql(client, query, **HEADERS)
    assert again == first and len(first["data"]["population"]["nodes"]) == 2
    assert all(r["sex"] == "男" for r in again["data"]["population"]["nodes"])
    assert [e for e in memo.values() if e[0].loc and e[0].loc.source.body == query] == [entry]
    # Another literal is another document: its own conversion, its own answer.
    other = query.replace("男", "女")
    body, _ = await gql(client, other, **HEADERS)
    assert body["data"]["population"]["nodes"] and all(r["sex"] == "女" for r in body["data"]["population"]["nodes"])


async def test_variables_are_converted_per_request(client: httpx.AsyncClient) -> None:
    query = """query($sex: String!, $first: Int!) { population(first: $first, filter: {nodes: ["650100"],
        sex: {eq: $sex}}) { nodes { sex } } }"""
    memo = remembered(client)
    for sex, first in (("男", 1), ("女", 3), ("男", 2)):
        body, _ = await gql(client, query, {"sex": sex, "first": first}, **HEADERS)
        rows = body["data"]["population"]["nodes"]
        assert len(rows) == first and all(r["sex"] == sex for r in rows)
    assert not [e for e in memo.values() if e[0].loc and e[0].loc.source.body == query]


async def test_aliases_of_one_document_keep_their_own_arguments(client: httpx.AsyncClient) -> None:
    query = """{ a: population(first: 1, filter: {nodes: ["650100"]}) { nodes { name } }
                 b: population(first: 3, filter: {nodes: ["650100"]}) { totalCount nodes { sex } } }"""
    for _ in range(2):
        body, _ = await gql(client, query, **HEADERS)
        assert len(body["data"]["a"]["nodes"]) == 1 and set(body["data"]["a"]["nodes"][0]) == {"name"}
        assert len(body["data"]["b"]["nodes"]) == 3 and set(body["data"]["b"]["nodes"][0]) == {"sex"}
        assert body["data"]["b"]["totalCount"] > 3


def _body(nodes: tuple[Any, ...]) -> str | None:
    location = getattr(nodes[0], "loc", None)
    return location.source.body if location else None


async def test_catalog_lookups_remember_their_arguments_and_selection(client: httpx.AsyncClient) -> None:
    from govshare.resolvers import selection

    query = '{ resource(code: "650000-B01-000001") { code provider { code } dataItems @skip(if: true) { name } } }'
    first, _ = await gql(client, query, **HEADERS)
    assert first["data"]["resource"].keys() == {"code", "provider"} and first["data"]["resource"]["provider"]
    memo = remembered(client, "resource")
    [entry] = [e for e in memo.values() if e[0].loc and e[0].loc.source.body == query]
    [tree] = [t for nodes, t in selection._remembered.values() if _body(nodes) == query]
    assert tree == {"code": {}, "provider": {"code": {}}}
    again, _ = await gql(client, query, **HEADERS)
    assert again == first
    assert [e for e in memo.values() if e[0].loc and e[0].loc.source.body == query] == [entry]
    # Variables decide the selection (@include) per request: nothing is remembered for such a document.
    with_variables = """query($c: String!, $items: Boolean!) { resource(code: $c) { code
        dataItems @include(if: $items) { name } } }"""
    for items in (True, False, True):
        body, _ = await gql(client, with_variables, {"c": "650000-B01-000001", "items": items}, **HEADERS)
        assert ("dataItems" in body["data"]["resource"]) is items
    assert not [t for nodes, t in selection._remembered.values() if _body(nodes) == with_variables]
    department, _ = await gql(client, '{ department(code: "650100-GA") { code } }', **HEADERS)
    assert department["data"]["department"] == {"code": "650100-GA"}
    assert remembered(client, "department")


def test_remembered_selections_are_bounded() -> None:
    from types import SimpleNamespace

    from govshare.resolvers import selection

    selection._remembered.clear()
    operation = SimpleNamespace(variable_definitions=())
    for _ in range(selection.MAX_REMEMBERED + 5):
        info = SimpleNamespace(_raw_info=SimpleNamespace(operation=operation, field_nodes=[object()]),
                               selected_fields=[])
        assert selection.selection_of(info) == {}
        assert len(selection._remembered) <= selection.MAX_REMEMBERED
    assert len(selection._remembered) == 5  # cleared once when it was full
    selection._remembered.clear()
