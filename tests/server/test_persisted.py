"""Persisted operations (automatic persisted queries, version 1): a hash instead of the text."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

QUERY = '{ resource(code: "650000-B01-000001") { code name } }'


def _persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_a_hash_runs_the_document_sent_once_with_it(client: httpx.AsyncClient) -> None:
    query = QUERY + "  # persisted-1"
    digest = hashlib.sha256(query.encode()).hexdigest()
    unknown = await client.post("/graphql", json={"extensions": _persisted(digest)})
    assert unknown.status_code == 200 and "data" not in unknown.json()
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    first = await client.post("/graphql", json={"query": query, "extensions": _persisted(digest)})
    assert first.json()["data"]["resource"]["code"] == "650000-B01-000001"
    again = await client.post("/graphql", json={"extensions": _persisted(digest)})
    assert again.json() == first.json()
    by_get = await client.get("/graphql", params={"extensions": json.dumps(_persisted(digest))})
    assert by_get.json() == first.json()


async def test_a_hash_that_does_not_match_the_query_is_refused_and_not_kept(client: httpx.AsyncClient) -> None:
    query = QUERY + "  # persisted-2"
    wrong = hashlib.sha256(b"something else").hexdigest()
    refused = await client.post("/graphql", json={"query": query, "extensions": _persisted(wrong)},
                                headers={"Accept": "application/graphql-response+json"})
    assert refused.status_code == 400 and "data" not in refused.json()
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    after = await client.post("/graphql", json={"extensions": _persisted(wrong)})
    assert after.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_malformed_persisted_query_extensions_are_bad_input(client: httpx.AsyncClient) -> None:
    for bad in ({"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
                {"persistedQuery": {"version": 1, "sha256Hash": "XYZ"}}, {"persistedQuery": "abc"}):
        response = await client.post("/graphql", json={"extensions": bad})
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad


async def test_a_persisted_document_meets_the_same_limits(client: httpx.AsyncClient) -> None:
    query = '{ resource(code: "x") { ' + "provider { children { " * 12 + "code" + " } }" * 12 + " } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    direct = await client.post("/graphql", json={"query": query})
    persisted = await client.post("/graphql", json={"query": query, "extensions": _persisted(digest)})
    assert "data" not in direct.json() or direct.json()["data"] is None
    assert persisted.json()["errors"][0]["extensions"]["code"] == direct.json()["errors"][0]["extensions"]["code"]
