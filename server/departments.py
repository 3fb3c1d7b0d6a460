"""The departments that exist: a token's department must be one of them (case-sensitive, exact).

A validly signed token for a department no node's catalog lists gets 403 UNKNOWN_DEPARTMENT and no
data. The codes of every node database are cached and reloaded on the catalog's NOTIFY (departments
changes notify since migration 0010). A database that did not answer keeps its last known codes; while
it has none, a department served by it cannot be confirmed (503) rather than being let in or refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from govshare.core.errors import NodeUnavailable, UnknownDepartment
from govshare.federation.nodes import NodePools
from govshare.resolvers.catalog import HOSTED_DEPARTMENTS, fetch_each_hosted, own_department

# Only the departments each database hosts: another database's row under a code makes no department known.
SELECT_CODES = "select code, node_code from departments where " + HOSTED_DEPARTMENTS.format("$1", "$2")
RETRY_SECONDS = 5.0


class KnownDepartments:
    def __init__(self, pools: NodePools, clock: Callable[[], float] = time.monotonic) -> None:
        self._pools = pools
        self._clock = clock
        self._codes: dict[str, frozenset[str]] = {}  # database node -> department codes
        self._known: frozenset[str] = frozenset()  # all of them, for the check of every request
        self._tried: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, databases: list[str] | None = None) -> None:
        """Reload the codes of ``databases`` (all by default); a database that fails keeps its old codes."""
        wanted = databases or [n.code for n in self._pools.topology.databases]
        async with self._lock:
            results = await fetch_each_hosted(self._pools, "departments.codes", SELECT_CODES, databases=wanted)
            for database, rows in results.items():
                if not isinstance(rows, NodeUnavailable):
                    # checked again here: the SQL filter ran on the server it is meant to hold (hosting.py)
                    self._codes[database] = frozenset(r["code"] for r in rows
                                                      if own_department(self._pools, database, r))
            self._known = frozenset().union(*self._codes.values())

    async def check(self, department: str) -> None:
        """Raise UnknownDepartment (403) or NodeUnavailable (503: cannot tell now)."""
        if department in self._known:
            return
        topology = self._pools.topology
        node = topology.by_code.get(department[:6])
        database = node.database_node if node is not None else None
        if database is not None and database not in self._codes:
            # Asked again on a caller's behalf at most every RETRY_SECONDS (the first time at once: a
            # start-up read that timed out must not turn the node's callers away).
            tried = self._tried.get(database)
            if tried is None or self._clock() - tried >= RETRY_SECONDS:
                self._tried[database] = self._clock()
                await self.refresh([database])
            if database not in self._codes:
                raise NodeUnavailable(database, "its departments could not be read to confirm yours")
            if department in self._codes[database]:
                return
        raise UnknownDepartment(f"department {department!r} does not exist in the catalog of any node")
