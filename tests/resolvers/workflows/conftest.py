"""Workflow actors: registrars, reviewers and applicants with their role assignments, and GraphQL as them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from govshare.server.identity import mint_demo_token

from ...conftest import Cluster
from ...helpers import SECRET, gql

# user -> (department, role, domain); role None: only the default developer role
ACTORS: dict[str, tuple[str, str | None, str | None]] = {
    "wf.registrar": ("650100-GA", "registrar", "650100"),
    "wf.registrar.sj": ("650100-SJ", "registrar", "650100"),
    "wf.reviewer": ("650100-ZR", "sharing_reviewer", "650100"),
    "wf.reviewer.karamay": ("650200-GA", "sharing_reviewer", "650200"),
    "wf.developer": ("650100-MZ", None, None),
    "wf.applicant": ("653000-SW", None, None),
    "wf.applicant.other": ("653000-ZR", None, None),
    "wf.region.registrar": ("650000-GA", "registrar", "650000"),
    "wf.region.reviewer": ("650000-GA", "sharing_reviewer", "650000"),
}


def as_actor(user: str) -> dict[str, str]:
    department = ACTORS[user][0]
    return {"Authorization": f"Bearer {mint_demo_token(SECRET, department, user=user)}"}


async def call(client: httpx.AsyncClient, user: str, query: str, **variables: Any) -> dict[str, Any]:
    body, _ = await gql(client, query, variables, **as_actor(user))
    return body


def code_of(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


@pytest.fixture(scope="session")
async def actors(cluster: Cluster, client: httpx.AsyncClient) -> AsyncIterator[dict[str, tuple[str, str | None, str | None]]]:
    conn = await cluster.connect("650000")
    try:
        await conn.executemany(
            "insert into role_assignments (user_id, role, domain, created_by) values ($1, $2, $3, 'test') "
            "on conflict do nothing",
            [(user, role, domain) for user, (_, role, domain) in ACTORS.items() if role is not None])
        deadline = asyncio.get_running_loop().time() + 10  # generous: the machine is shared
        while True:  # the assignments reach the service through the govshare_policy NOTIFY
            body = await call(client, "wf.reviewer", "{ me { roles { role domain } } }")
            if {"role": "sharing_reviewer", "domain": "650100"} in body["data"]["me"]["roles"]:
                break
            assert asyncio.get_running_loop().time() < deadline, f"role assignments not loaded: {body}"
            # The service's listener may not have been listening yet when the rows were inserted.
            await conn.execute("select pg_notify('govshare_policy', 'role_assignments')")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    yield ACTORS


TEST_CODES = r"^[0-9]{6}-WF[0-9]{2}-[0-9]{6}$"
SEEDED_TOUCHED = ["650000-B01-000001"]  # seeded resources whose new version the tests start


@pytest.fixture(scope="package", autouse=True)
async def remove_test_entries(cluster: Cluster) -> AsyncIterator[None]:
    """Resources these tests publish are removed afterwards: other tests count the seeded catalog."""
    yield
    for node in cluster.servers:
        conn = await cluster.connect(node)
        try:
            await conn.execute("delete from resources where code ~ $1", TEST_CODES)
            await conn.execute("delete from catalog_entries where code ~ $1 or code = any($2::text[])", TEST_CODES,
                               SEEDED_TOUCHED)
            # The seed's own version of each (published_by "catalog") stays, as the seed wrote it.
            await conn.execute("delete from catalog_versions where code = any($1::text[]) and published_by <> 'catalog'",
                               SEEDED_TOUCHED)
        finally:
            await conn.close()
