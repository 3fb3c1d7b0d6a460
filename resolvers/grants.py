"""Grants administered directly (until the share-request workflow creates them): create, revoke, list
with their effective state. Validation: resolvers/validation.py; permission: grant.write / grant.read
in the domain of the resource's node."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from govshare.core.errors import BadRequest, NotFound
from govshare.policies.authority import Action, domain_of_code
from govshare.policies.changes import Change, checked_reason

from . import access_roles, validation
from .administration import Admin, recorded, region_transaction

STATES = ("active", "expired", "not_yet_valid", "revoked")

INSERT_GRANT = """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
    row_scope, created_by, share_modes, grantee_sector, region_approved_by)
    values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11) returning id"""
SET_GRANT_ORIGIN = "update grants set request_id = $2 where id = $1"
SELECT_GRANT = """select id, grantee_department, resource_code, items, purpose, valid_from, valid_until,
    row_scope, status, revoked_at, revoke_reason, created_at, created_by from grants where id = $1"""
REVOKE_GRANT = """update grants set status = 'revoked', revoked_at = clock_timestamp(), revoke_reason = $2,
    revoked_by = $3 where id = $1 and status = 'active' returning id"""
# The effective state is computed in SQL so that the state filter runs before the limit.
SELECT_GRANTS = """select * from (
    select id, grantee_department, resource_code, items, purpose, valid_from, valid_until, row_scope, status,
           revoked_at, revoke_reason, created_at, created_by,
           case when status = 'revoked' then 'revoked' when now() >= valid_until then 'expired'
                when now() < valid_from then 'not_yet_valid' else 'active' end as state
    from grants
    where ($1::text is null or grantee_department = $1) and ($2::text is null or resource_code = $2)
      and ($3::text[] is null or substr(resource_code, 1, 6) = any($3::text[]))) g
    where ($4::text is null or state = $4) order by id limit $5"""


@dataclass(frozen=True)
class GrantRow:
    id: int
    department: str
    resource: str
    items: list[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime
    divisions: list[str] | None
    state: str
    revoked_at: datetime | None
    revoke_reason: str | None
    created_at: datetime
    created_by: str

    @classmethod
    def from_row(cls, row: Any, now: datetime | None = None) -> GrantRow:
        scope = row["row_scope"]
        if isinstance(scope, str):
            scope = json.loads(scope)
        divisions = scope.get("division_codes") if isinstance(scope, dict) else None
        state = row.get("state") or effective_state(row, now or datetime.now(UTC))
        return cls(row["id"], row["grantee_department"], row["resource_code"], list(row["items"]), row["purpose"],
                   row["valid_from"], row["valid_until"], divisions, state, row["revoked_at"],
                   row["revoke_reason"], row["created_at"], row["created_by"])

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "department": self.department, "resource": self.resource, "items": self.items,
                "purpose": self.purpose, "validFrom": self.valid_from.isoformat(),
                "validUntil": self.valid_until.isoformat(), "divisions": self.divisions, "state": self.state}


def effective_state(row: Any, now: datetime) -> str:
    if row["status"] == "revoked":
        return "revoked"
    if now >= row["valid_until"]:
        return "expired"
    if now < row["valid_from"]:
        return "not_yet_valid"
    return "active"


async def create(admin: Admin, given: validation.GrantInput, reason: str) -> tuple[GrantRow, Change]:
    why = checked_reason(reason)
    checked = await validation.grant(admin.pools, given)
    approver = validation.authorise(admin.authority, checked, Action.GRANT_WRITE)
    async with region_transaction(admin) as conn:
        return await insert(admin, conn, checked, why, region_approver=approver)


async def insert(admin: Admin, conn: asyncpg.Connection, checked: validation.CheckedGrant, why: str, *,
                 request_id: int | None = None, region_approver: str | None = None) -> tuple[GrantRow, Change]:
    """Store a validated grant and its recorded change inside ``conn``'s region transaction (also used
    by the share-request workflow, whose approval and grant commit together). ``region_approver``: who
    approved an institution's grant for the region (validation.authorise)."""
    grant_id = await store(conn, checked, admin.actor.user, region_approver)
    if request_id is not None:
        await conn.execute(SET_GRANT_ORIGIN, grant_id, request_id)
    created = GrantRow.from_row(await conn.fetchrow(SELECT_GRANT, grant_id))
    change = await recorded(admin, conn, "grant", "create", checked.resource.node, reason=why,
                            resource=checked.resource.code, department=checked.department,
                            after=created.as_dict())
    return created, change


async def store(conn: asyncpg.Connection, checked: validation.CheckedGrant, created_by: str,
                region_approver: str | None = None) -> int:
    """The row of a validated grant (the id); ``insert`` records it as a change, the demo seed as data."""
    scope = json.dumps({"division_codes": checked.divisions}) if checked.divisions is not None else None
    grant_id: int | None = await conn.fetchval(
        INSERT_GRANT, checked.department, checked.resource.code, checked.items, checked.purpose, checked.valid_from,
        checked.valid_until, scope, created_by, list(checked.share_modes), checked.sector, region_approver)
    assert grant_id is not None
    return grant_id


async def mark_revoked(conn: asyncpg.Connection, grant_id: int, why: str, by: str) -> bool:
    """Revoke an active grant's row; False when it is not active."""
    return await conn.fetchval(REVOKE_GRANT, grant_id, why, by) is not None


async def revoke(admin: Admin, grant_id: int, reason: str, *, reverts: int | None = None
                 ) -> tuple[GrantRow, Change]:
    why = checked_reason(reason)
    async with region_transaction(admin) as conn:
        row = await conn.fetchrow(SELECT_GRANT, grant_id)
        if row is None:
            raise NotFound(f"no grant {grant_id}", field="id")
        admin.authority.require(Action.GRANT_WRITE, domain_of_code(row["resource_code"]))
        before = GrantRow.from_row(row)
        if not await mark_revoked(conn, grant_id, why, admin.actor.user):
            raise BadRequest(f"no active grant {grant_id}: it is already revoked", field="id")
        after = GrantRow.from_row(await conn.fetchrow(SELECT_GRANT, grant_id))
        change = await recorded(admin, conn, "grant", "revoke", domain_of_code(before.resource), reason=why,
                                resource=before.resource, department=before.department,
                                before=before.as_dict(), after=after.as_dict(), reverts=reverts)
    # Authorised database access ends with the grant, now (a node that does not answer: the sweep retries).
    await access_roles.close_for_grant(admin.pools, grant_id, f"grant {grant_id} revoked: {why}")
    return after, change


async def listed(admin: Admin, department: str | None = None, resource: str | None = None,
                 state: str | None = None, limit: int = 500) -> list[GrantRow]:
    """Grants the caller may read: grant.read in the resource's domain, or its own department's."""
    if state is not None and state not in STATES:
        raise BadRequest(f"state {state!r} is not one of {', '.join(STATES)}", field="state", accepted=list(STATES))
    if not 1 <= limit <= 5000:
        raise BadRequest("limit must be between 1 and 5000", field="limit")
    domains: list[str] | None = None
    if not admin.authority.everywhere(Action.GRANT_READ):
        if department is not None and department == admin.actor.department:
            domains = None  # a department sees its own grants
        else:
            domains = admin.authority.domains(Action.GRANT_READ)
            if not domains:
                admin.authority.require(Action.GRANT_READ, resource[:6] if resource else admin.region)
    rows = await admin.pools.fetch(admin.region_database, "grants.list", SELECT_GRANTS, department, resource,
                                   domains, state, limit)
    return [GrantRow.from_row(r) for r in rows]
