"""What every workflow step shares: the acting user, the working-day calendar, one transaction on the
database that holds the record, and the audit record written before that transaction commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from govshare.core.errors import AuditUnavailable, NodeUnavailable
from govshare.federation.nodes import NODE_ERRORS
from govshare.policies.workdays import WorkCalendar

from .. import audit
from ..administration import Admin


@dataclass
class Step:
    """The caller of a workflow step, with the calendar its deadlines are counted on."""

    admin: Admin
    calendar: WorkCalendar
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def user(self) -> str:
        return self.admin.authority.user

    @property
    def department(self) -> str:
        return self.admin.authority.department


@asynccontextmanager
async def transaction(step: Step, node: str) -> AsyncIterator[asyncpg.Connection]:
    """One transaction on the database holding ``node``'s rows; node failures become NODE_UNAVAILABLE."""
    database = step.admin.pools.topology.node(node).database_node
    try:
        async with step.admin.pools.pool(node).acquire() as conn, conn.transaction():
            yield conn  # type: ignore[misc]  # a pool's connection proxy behaves as a Connection
    except NODE_ERRORS as exc:
        raise NodeUnavailable(database, type(exc).__name__) from exc


async def audited(step: Step, action: str, resource: str, note: str) -> None:
    """Append the audit record of a step; called inside the step's transaction, so that a failure
    rolls the step back (AUDIT_UNAVAILABLE)."""
    try:
        await audit.append(step.admin.pools, audit.AuditRecord(
            step.admin.request_id, step.user, step.department, action, note, resource))
    except AuditUnavailable as exc:
        raise AuditUnavailable("the audit record of this step could not be written, so the step was not "
                               "taken; try again later") from exc
