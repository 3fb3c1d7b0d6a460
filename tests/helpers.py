"""Helpers shared by the tests: demo tokens and GraphQL over the ASGI client."""

from __future__ import annotations

from typing import Any

import httpx

from server.identity import mint_demo_token

SECRET = "test-secret-not-for-production-0123456789"


def token(department: str = "650100-MZ", roles: list[str] | None = None) -> str:
    return mint_demo_token(SECRET, department, roles=roles)


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
              **headers: str) -> tuple[dict[str, Any], httpx.Response]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers=headers)
    return response.json(), response
