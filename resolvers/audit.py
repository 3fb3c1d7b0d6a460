"""Appending to the hash-chained audit trail (fail closed) and checking the chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from core.errors import AuditUnavailable
from federation.nodes import NodePools

APPEND = "select seq, hash from audit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
BROKEN_LINKS = "select seq, problem from audit_broken_links() limit 1"
COUNT = "select count(*) from audit_log"


@dataclass
class AuditRecord:
    request_id: str
    user: str
    department: str
    action: str
    purpose: str | None
    resource: str
    grant_ids: Sequence[int] = ()
    items_returned: Sequence[str] = ()
    items_denied: Sequence[str] = ()
    row_count: int = 0
    nodes: Sequence[str] = field(default_factory=list)
    outcome: str = "ok"


async def append(pools: NodePools, record: AuditRecord) -> int:
    """Write one record to the region's audit trail; raise AuditUnavailable if that fails."""
    database = pools.topology.region.database_node
    try:
        rows = await pools.fetch(
            database, "audit.append", APPEND, record.request_id, record.user, record.department, record.action,
            record.purpose, list(record.grant_ids), record.resource, list(record.items_returned),
            list(record.items_denied), record.row_count, list(record.nodes), record.outcome)
    except Exception as exc:  # whatever failed, the data must not leave without a record
        raise AuditUnavailable("the audit record could not be written, so no data is returned; "
                               "try again later") from exc
    return int(rows[0]["seq"])


async def first_broken_link(conn: asyncpg.Connection) -> tuple[int, str] | None:
    row = await conn.fetchrow(BROKEN_LINKS)
    return (int(row["seq"]), str(row["problem"])) if row else None


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(COUNT))


