"""Role assignments (user, role, domain): assign, revoke, list; each change recorded and audited."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from govshare.core.errors import BadRequest, Forbidden, NotFound
from govshare.policies.authority import ROLES, Action, RoleAssignment
from govshare.policies.changes import Change, checked_reason

from .administration import Admin, recorded, region_transaction

USER = re.compile(r"[^\s\x00]{1,200}")

INSERT_ASSIGNMENT = """insert into role_assignments (user_id, role, domain, created_by) values ($1, $2, $3, $4)
    on conflict do nothing returning id"""
REVOKE_ASSIGNMENT = """update role_assignments set revoked_at = clock_timestamp(), revoked_by = $4
    where user_id = $1 and role = $2 and domain = $3 and revoked_at is null returning id"""
SELECT_LIVE = """select user_id, role, domain, created_at, created_by from role_assignments
    where revoked_at is null and ($1::text is null or user_id = $1) and ($2::text[] is null or domain = any($2))
    order by user_id, role, domain"""


@dataclass(frozen=True)
class AssignmentRow:
    user: str
    role: str
    domain: str
    created_at: datetime
    created_by: str


def checked_assignment(admin: Admin, user: str, role: str, domain: str) -> RoleAssignment:
    if not USER.fullmatch(user or ""):
        raise BadRequest("user must be 1 to 200 characters without spaces", field="user")
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; accepted: {', '.join(ROLES)}", field="role",
                         accepted=list(ROLES))
    if domain not in admin.pools.topology.by_code:
        nodes = [n.code for n in admin.pools.topology.nodes]
        raise BadRequest(f"unknown domain {domain!r}: a domain is a node code ({admin.region} is the whole "
                         f"region); accepted: {', '.join(nodes)}", field="domain", accepted=nodes)
    admin.authority.require(Action.ROLE_ASSIGN, domain)
    return RoleAssignment(user, role, domain)


async def assign(admin: Admin, user: str, role: str, domain: str, reason: str, *,
                 reverts: int | None = None) -> Change:
    wanted = checked_assignment(admin, user, role, domain)
    why = checked_reason(reason)
    if wanted.user == admin.actor.user:
        # Separation of duties: an admin who could give itself reviewer or supervisor roles could approve
        # its own grants. Another policy admin of the domain (or of the region) assigns them.
        raise Forbidden(f"{user} cannot assign a role to themselves: ask another policy admin of domain "
                        f"{domain} or of the region", action=Action.ROLE_ASSIGN.value, domain=domain,
                        reason="SELF_ASSIGNMENT")
    async with region_transaction(admin) as conn:
        if await conn.fetchval(INSERT_ASSIGNMENT, wanted.user, wanted.role, wanted.domain, admin.actor.user) is None:
            raise BadRequest(f"{user} already holds {role} in domain {domain}", field="user")
        return await recorded(admin, conn, "role", "assign", domain, reason=why, department=None,
                              after={"user": user, "role": role, "domain": domain}, reverts=reverts)


async def revoke(admin: Admin, user: str, role: str, domain: str, reason: str, *,
                 reverts: int | None = None) -> Change:
    wanted = checked_assignment(admin, user, role, domain)
    why = checked_reason(reason)
    async with region_transaction(admin) as conn:
        if await conn.fetchval(REVOKE_ASSIGNMENT, wanted.user, wanted.role, wanted.domain,
                               admin.actor.user) is None:
            raise NotFound(f"{user} holds no {role} role in domain {domain}", field="user")
        return await recorded(admin, conn, "role", "revoke", domain, reason=why,
                              before={"user": user, "role": role, "domain": domain}, reverts=reverts)


async def live(admin: Admin, user: str | None = None) -> list[AssignmentRow]:
    """Assignments the caller may see: everywhere with policy.read in the region, else its domains."""
    if admin.authority.everywhere(Action.POLICY_READ):
        domains = None
    else:
        domains = admin.authority.domains(Action.POLICY_READ)
        if not domains and user != admin.actor.user:
            admin.authority.require(Action.POLICY_READ, admin.region)
        if user == admin.actor.user:
            domains = None
    rows = await admin.pools.fetch(admin.region_database, "roles.live", SELECT_LIVE, user, domains)
    return [AssignmentRow(r["user_id"], r["role"], r["domain"], r["created_at"], r["created_by"]) for r in rows]
