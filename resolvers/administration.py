"""What every administrative change shares: the acting admin, one region transaction that holds the
change and its history row, and the audit record (no audit record, no change).

Used alike by the GraphQL mutations and by the ``govshare policy|grant|role`` commands, so the
validation and the decision of who may do what are one implementation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from govshare.core.errors import AuditUnavailable, NodeUnavailable
from govshare.federation.nodes import NODE_ERRORS, NodePools
from govshare.policies.authority import Authority
from govshare.policies.changes import Actor, Change, record

from . import audit


@dataclass
class Admin:
    """The caller of an administrative operation."""

    pools: NodePools
    authority: Authority
    request_id: str

    @property
    def actor(self) -> Actor:
        return Actor(self.authority.user, self.authority.department)

    @property
    def region(self) -> str:
        return self.pools.topology.region.code

    @property
    def region_database(self) -> str:
        return self.pools.topology.region.database_node


@asynccontextmanager
async def region_transaction(admin: Admin) -> AsyncIterator[asyncpg.Connection]:
    """One transaction on the region database; node failures become NODE_UNAVAILABLE."""
    try:
        async with admin.pools.pool(admin.region).acquire() as conn, conn.transaction():
            yield conn  # type: ignore[misc]  # a pool's connection proxy behaves as a Connection
    except NODE_ERRORS as exc:
        raise NodeUnavailable(admin.region_database, type(exc).__name__) from exc


async def recorded(admin: Admin, conn: asyncpg.Connection, kind: str, operation: str, domain: str, *,
                   reason: str, resource: str | None = None, department: str | None = None,
                   before: Any = None, after: Any = None, reverts: int | None = None) -> Change:
    """Write the history row inside ``conn``'s transaction, then the audit record.

    The audit record is appended before the transaction commits: if it cannot be written the
    change is rolled back (AUDIT_UNAVAILABLE), so no change exists without its audit record.
    """
    change = await record(conn, admin.actor, kind, operation, domain, reason=reason, resource=resource,
                          department=department, before=before, after=after, reverts=reverts)
    try:
        await audit.append(admin.pools, audit.AuditRecord(
            admin.request_id, admin.actor.user, admin.actor.department, f"admin.{kind}.{operation}",
            f"policy change {change.id}: {reason}", resource or department or domain, outcome="ok"))
    except AuditUnavailable as exc:
        raise AuditUnavailable("the audit record of this change could not be written, so the change was "
                               "not made; try again later") from exc
    return change

