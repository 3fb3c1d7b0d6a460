"""Grants cached per (department, resource), each entry with the access version it was read at.

The access version (migration 0026) is bumped in the transaction of every change to grants, rules,
roles and groups. An entry older than the newest version this process has seen is read again. The
cache is only ever a guess that the audit append checks: every record of a decision made with cached
grants carries their version, and the append refuses a batch whose version is no longer current
(resolvers/audit.py), after which the request decides again with fresh grants. So a revoked grant
stops data on the very next answer, without a grants read per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .grants import Grant

# The version and the department's grants in one statement, so they come from one snapshot. The left
# join keeps the version row when the department holds no grant.
SELECT_GRANTS_AT = """select v.version, g.id, g.grantee_department, g.resource_code, g.items, g.purpose,
    g.valid_from, g.valid_until, g.row_scope, g.status from access_version v left join grants g
    on g.grantee_department = $1 and g.resource_code = any($2::text[]) and 'interface' = any(g.share_modes)"""
SELECT_VERSION = "select version from access_version"
MAX_ENTRIES = 4096

Fetch = Callable[[str, Sequence[str]], Awaitable[list[Any]]]


async def read_access_version(pool: Any) -> int:
    """The current access version, from the region database's pool."""
    return int(await pool.fetchval(SELECT_VERSION))


def grants_at(rows: Sequence[Any]) -> tuple[int, list[Grant]]:
    """The version and the grants of SELECT_GRANTS_AT's rows."""
    if not rows:
        raise LookupError("access_version has no row (migration 0026 not applied?)")
    return int(rows[0]["version"]), [Grant.from_row(r) for r in rows if r["id"] is not None]


class CachedGrants:
    """One per process: a bounded LRU of grants by (department, resource), current or read again."""

    def __init__(self, fetch: Fetch, max_entries: int = MAX_ENTRIES) -> None:
        self._fetch = fetch
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[int, list[Grant]]] = OrderedDict()
        self.version = 0  # the newest access version seen
        self.reads = 0

    def saw(self, version: int) -> None:
        """A newer access version exists: every older entry is read again when next asked for."""
        if version > self.version:
            self.version = version
            self._entries.clear()

    async def get(self, department: str, resource: str, known: int = 0) -> tuple[int, list[Grant]]:
        """The grants as of the newest version seen (``known``: a version the caller has been told of)."""
        self.saw(known)
        key = (department, resource)
        entry = self._entries.get(key)
        if entry is not None and entry[0] >= self.version:
            self._entries.move_to_end(key)
            return entry
        self.reads += 1
        version, grants = grants_at(await self._fetch(department, [resource]))
        self.saw(version)
        if version >= self.version:
            self._entries[key] = (version, grants)
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return version, grants

    def clear(self) -> None:
        self._entries.clear()
