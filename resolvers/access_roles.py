"""Ending authorised database access (see resolvers/database_access.py): the access records, and closing
them on revocation, expiry (the sweep) or a failed opening. Kept apart from the opening so that the grant
store (resolvers/grants.py) can close accesses on revocation without depending on what opens them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from govshare.core.errors import GovshareError, NodeUnavailable
from govshare.federation.nodes import NodePools

logger = logging.getLogger("govshare.database_access")

ACCESS_COLUMNS = """id, grant_id, department, database_node, role_name, view_name, columns, node_codes, row_scope,
    state, valid_until, created_at, rotated_at, closed_at, close_reason"""
CLOSED = """update database_accesses set state = 'closed', closed_at = clock_timestamp(), close_reason = $2
    where id = $1 and state <> 'closed'"""
CLOSE_ACCESS = "select govshare_close_access($1, $2) as ended"
SELECT_FOR_GRANT = f"select {ACCESS_COLUMNS} from database_accesses where grant_id = $1 and state <> 'closed'"
# Accesses whose grant no longer holds (revoked, expired) or that never finished opening.
SELECT_STALE = f"""select {", ".join("a." + c.strip() for c in ACCESS_COLUMNS.split(","))} from database_accesses a
    join grants g on g.id = a.grant_id
    where a.state <> 'closed' and (g.status <> 'active' or g.valid_until <= now() or a.valid_until <= now()
      or (a.state = 'opening' and a.created_at < now() - interval '1 minute'))"""


@dataclass(frozen=True)
class Access:
    id: int
    grant_id: int
    department: str
    database_node: str
    role: str
    view: str
    columns: list[str]
    node_codes: list[str]
    row_scope: list[str] | None
    state: str
    valid_until: datetime
    created_at: datetime
    rotated_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None

    @classmethod
    def from_row(cls, r: Any) -> Access:
        return cls(r["id"], r["grant_id"], r["department"], r["database_node"], r["role_name"], r["view_name"],
                   list(r["columns"]), list(r["node_codes"]), list(r["row_scope"]) if r["row_scope"] else None,
                   r["state"], r["valid_until"], r["created_at"], r["rotated_at"], r["closed_at"], r["close_reason"])


async def close(pools: NodePools, access: Access, reason: str) -> int:
    """Remove the view, end the role's sessions, drop the role; then mark the access closed."""
    rows = await pools.fetch(access.database_node, "database.close", CLOSE_ACCESS, access.role, access.view)
    await pools.fetch(pools.topology.region.database_node, "database.closed", CLOSED, access.id, reason)
    return int(rows[0]["ended"])


async def close_for_grant(pools: NodePools, grant_id: int, reason: str) -> None:
    """The revoke path: close the grant's access now; if its node does not answer, the sweep retries."""
    try:
        for row in await pools.fetch(pools.topology.region.database_node, "database.for_grant", SELECT_FOR_GRANT,
                                     grant_id):
            await close(pools, Access.from_row(row), reason)
    except GovshareError as exc:
        logger.warning("database access of grant %d not closed yet (%s): the sweep retries", grant_id, exc.message)


async def background(pools: NodePools, sql: str, *args: object) -> list[Any]:
    """The sweep's own statement on the region database, straight from its pool: background work is no
    request's (statement counts, deadlines); failures are NODE_UNAVAILABLE."""
    region = pools.topology.region.database_node
    try:
        async with asyncio.timeout(pools.timeout), pools.pool(region).acquire() as conn:
            return list(await conn.fetch(sql, *args))
    except (KeyError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise NodeUnavailable(region, type(exc).__name__) from exc


async def sweep(pools: NodePools) -> int:
    """Close every access whose grant was revoked or expired (or that never finished opening)."""
    closed = 0
    for row in await background(pools, SELECT_STALE):
        access = Access.from_row(row)
        try:
            await close(pools, access, "the grant was revoked or expired")
            closed += 1
        except NodeUnavailable as exc:
            logger.warning("database access %d not closed (%s): retried at the next sweep", access.id, exc.message)
    return closed
