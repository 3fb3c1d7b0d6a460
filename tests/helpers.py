"""Helpers shared by the tests: demo tokens and GraphQL over the ASGI client."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import httpx

from govshare.server.identity import mint_demo_token

SECRET = "test-secret-not-for-production-0123456789"
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
