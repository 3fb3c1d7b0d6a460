"""Helpers shared by the tests: demo tokens and GraphQL over the ASGI client."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from govshare.server.identity import mint_demo_token

SECRET = "test-secret-not-for-production-0123456789"
# A grant's last day a year from now: within the longest validity (resolvers/validation.py MAX_VALIDITY_YEARS)
# whatever day the tests run on.
GRANT_UNTIL = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()
AUDIT_KEY = "test-audit-key-not-for-production-0123456789"
_AUDIT_KEY_FILE = Path(tempfile.gettempdir()) / f"govshare-test-audit-key-{os.getuid()}"


def audit_key_file() -> Path:
    """The fixed test audit key as a file (GOVSHARE_AUDIT_KEY_FILE for commands run by tests)."""
    if not _AUDIT_KEY_FILE.exists() or _AUDIT_KEY_FILE.read_text() != AUDIT_KEY:
        _AUDIT_KEY_FILE.write_text(AUDIT_KEY)
        _AUDIT_KEY_FILE.chmod(0o600)
    return _AUDIT_KEY_FILE


def token(department: str = "650100-MZ") -> str:
    return mint_demo_token(SECRET, department)


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
              **headers: str) -> tuple[dict[str, Any], httpx.Response]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers=headers)
    return response.json(), response


@contextlib.asynccontextmanager
async def foreign_provider_entry(cluster: Any, code: str) -> AsyncIterator[None]:
    """A published resource of 650200 under ``code`` naming the region department 650000-GA as its provider,
    with an impostor row for that department in 650200's own departments table (removed afterwards)."""
    conn = await cluster.connect("650200")
    try:
        await conn.execute(
            """insert into resources (code, node_code, classification, category, name_zh, provider_code,
               provider_level, format, update_cycle, share_class, open_attribute, status)
               values ($1, '650200', 'department', 'test', '跨节点提供', '650000-GA', 'region', 'database',
                       'daily', 'UNCONDITIONAL', 'open', 'published')""", code)
        await conn.execute("""insert into departments (code, node_code, level, division_code, name_zh)
                              values ('650000-GA', '650000', 'region', '650000', '冒名')""")
        yield
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.execute("delete from departments where code = '650000-GA'")
        await conn.close()
