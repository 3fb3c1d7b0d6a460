"""Persisted operations, as an option for clients: Apollo's automatic persisted queries (version 1).

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": h}`` without the query; if
this process knows the document with that SHA-256, it runs it, else it answers
``PERSISTED_QUERY_NOT_FOUND`` and the client sends the query with the hash once, which is checked and
kept (bounded LRU). Requests then carry a hash instead of the text. Nothing but the document text is
kept: the caller, variables, decisions and grants stay per request, and a persisted document goes
through the same limits and validation as any other.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from govshare.core.errors import BadRequest, PersistedQueryNotFound

MAX_DOCUMENTS = 4096
SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedDocuments:
    """Documents by SHA-256, per process (each worker learns them on its own)."""

    def __init__(self, max_documents: int = MAX_DOCUMENTS) -> None:
        self._documents: OrderedDict[str, str] = OrderedDict()
        self._max = max_documents

    def __len__(self) -> int:
        return len(self._documents)

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document to run: ``query`` itself, or the one persisted under the hash the extensions
        name. Raises PersistedQueryNotFound (the client sends the text) or BadRequest."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(persisted, dict) or persisted.get("version") != 1 or not isinstance(digest, str) \
                or not SHA256.fullmatch(digest):
            raise BadRequest("extensions.persistedQuery must be {version: 1, sha256Hash: <64 lowercase hex>}")
        if query is None:
            known = self._documents.get(digest)
            if known is None:
                raise PersistedQueryNotFound("PersistedQueryNotFound")
            self._documents.move_to_end(digest)
            return known
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise BadRequest("the query does not match extensions.persistedQuery.sha256Hash")
        self._documents[digest] = query
        self._documents.move_to_end(digest)
        if len(self._documents) > self._max:
            self._documents.popitem(last=False)
        return query
