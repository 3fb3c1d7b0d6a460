"""Generated queries against the live app: no answer may be INTERNAL (issue 8: bad input is the caller's).

hypothesis-graphql builds queries, valid (Mode.POSITIVE) and invalid (Mode.NEGATIVE), from the schema
the app itself introspects to, including strings with NUL and any unicode, huge and odd numbers and
scalars written any way. Hypothesis runs in a worker thread and posts each query to the app on the
test's event loop. The fast run is derandomized (the same examples every time); the slow run explores.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema, NameNode, ObjectFieldNode, build_client_schema, get_introspection_query
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes, queries

from ..helpers import gql

# Scalars strawberry adds: valid forms, near misses and anything at all.
SCALARS = {
    "Date": st.one_of(st.dates().map(lambda d: d.isoformat()), st.text(max_size=12)).map(nodes.String),
    "DateTime": st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=30)).map(nodes.String),
    # auditRecords(before:) since seq became a BigInt: digits in and past 64 bits, and anything else
    "BigInt": st.one_of(st.integers(-(2 ** 70), 2 ** 70).map(str), st.text(max_size=22)).map(nodes.String),
    "Decimal": st.one_of(st.decimals(allow_nan=True, allow_infinity=True).map(str),
                         st.sampled_from(["1e999999", "-1e-999999", "NaN", "sNaN", "1_000"]),
                         st.text(max_size=12)).map(nodes.String),
}


def _field(name: str, value: Any) -> ObjectFieldNode:
    return ObjectFieldNode(name=NameNode(value=name), value=value)


# Federation representations (schema/entities.py): entity types and key fields of this subgraph and
# others, key values of any type, or no object at all.
_ANY_VALUE = st.one_of(st.text(max_size=20).map(nodes.String), st.integers().map(nodes.Int), st.just(nodes.Null))
SCALARS["_Any"] = st.one_of(
    st.builds(lambda typename, key, value: nodes.Object([_field("__typename", typename), _field(key, value)]),
              st.one_of(st.sampled_from(["Resource", "Department", "PopulationRecord", "LegalEntitiesRecord",
                                         "BusinessLicencesRecord", "Query", "_Service"]).map(nodes.String),
                        _ANY_VALUE),
              st.sampled_from(["code", "citizenId", "uscc", "licenceNo", "name", "__typename"]),
              st.one_of(st.sampled_from(["650000-GA", "650000-B01-000001", "650100198001011234"]).map(nodes.String),
                        _ANY_VALUE)),
    _ANY_VALUE)


# Seeds: inputs that once answered INTERNAL (issue 8), always tried first, then the generated ones.
SEEDS = [
    '{ resources(filter: {keyword: "a\\u0000b"}) { edges { cursor } } }',
    '{ resource(code: "650000\\u0000") { code } }',
    '{ departments(parent: "\\u0000") { edges { cursor } } }',
    '{ population(first: 2, filter: {name: {eq: "\\u0000"}}) { nodes { name } } }',
    '{ legalEntities(filter: {registeredCapital: {gte: "1e999999"}}) { nodes { name } } }',
    '{ population(first: 1, purpose: "\\u0000") { nodes { name } } }',
]


async def _schema(client: httpx.AsyncClient) -> GraphQLSchema:
    body, _ = await gql(client, get_introspection_query())
    return build_client_schema(body["data"])


def _problems(status: int, body: Any) -> list[str]:
    if status >= 500:
        return [f"HTTP {status}"]
    errors = body.get("errors", []) if isinstance(body, dict) else []
    return [e["message"] for e in errors if e.get("extensions", {}).get("code") == "INTERNAL"]


async def _fuzz(client: httpx.AsyncClient, examples: int, derandomize: bool) -> int:
    schema = await _schema(client)
    loop = asyncio.get_running_loop()
    sent: list[str] = []

    async def send(query: str) -> tuple[int, Any]:
        response = await client.post("/graphql", json={"query": query})
        return response.status_code, response.json()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @example(SEEDS[0])
    @example(SEEDS[1])
    @example(SEEDS[2])
    @example(SEEDS[3])
    @example(SEEDS[4])
    @example(SEEDS[5])
    # Queries only: mutations would change the session's databases under the other tests.
    @given(st.one_of(queries(schema, mode=Mode.POSITIVE, custom_scalars=SCALARS),
                     queries(schema, mode=Mode.NEGATIVE, custom_scalars=SCALARS)))
    def run(query: str) -> None:
        sent.append(query)
        status, body = asyncio.run_coroutine_threadsafe(send(query), loop).result(timeout=30)
        assert _problems(status, body) == [], (query, body)

    await asyncio.to_thread(run)
    return len(sent)


async def test_generated_queries_get_no_internal_error(client: httpx.AsyncClient) -> None:
    assert await _fuzz(client, examples=150, derandomize=True) >= 150


@pytest.mark.slow
async def test_generated_queries_get_no_internal_error_longer_run(client: httpx.AsyncClient) -> None:
    assert await _fuzz(client, examples=1000, derandomize=False) >= 1000
