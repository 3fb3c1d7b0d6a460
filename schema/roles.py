"""Roles: the caller's own (``me``), role assignments, and the mutations that change them."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from govshare.policies.authority import Action, Authority
from govshare.resolvers import roles
from govshare.resolvers.context import Context

from .changes import PolicyChange

ROLE_HELP = "policy_admin, sharing_reviewer, registrar, supervisor or developer"
DOMAIN_HELP = "a node code; the region's code (650000) means the whole region"


@strawberry.type(description="A role held by a user in a domain (a node code; the region's code: everywhere).")
class RoleAssignment:
    user: str
    role: str
    domain: str
    created_at: datetime | None = None
    created_by: str | None = None


@strawberry.type(description="An administrative action and the domains where the caller may perform it.")
class Permission:
    action: str
    domains: list[str]


@strawberry.type(description="The caller: department, roles and where each administrative action is allowed.")
class Me:
    user: str
    department: str
    node: str
    # Roles and permissions are worked out only when asked for (the permissions walk every action).
    authority: strawberry.Private[Authority]

    @strawberry.field
    def roles(self) -> list[RoleAssignment]:
        return [RoleAssignment(user=r.user, role=r.role, domain=r.domain) for r in self.authority.roles()]

    @strawberry.field
    def permissions(self) -> list[Permission]:
        permissions = [Permission(action=a.value, domains=self.authority.domains(a)) for a in Action]
        return [p for p in permissions if p.domains]


def me(info: Info[Context, None]) -> Me:
    caller = info.context.caller
    return Me(user=caller.user, department=caller.department, node=caller.node, authority=info.context.authority)


async def role_assignments(info: Info[Context, None], user: str | None = None) -> list[RoleAssignment]:
    rows = await roles.live(info.context.admin(), user)
    return [RoleAssignment(user=r.user, role=r.role, domain=r.domain, created_at=r.created_at,
                           created_by=r.created_by) for r in rows]


@strawberry.type
class RoleQuery:
    me: Me = strawberry.field(resolver=me, description="Who you are and what you may administer.")
    role_assignments: list[RoleAssignment] = strawberry.field(
        resolver=role_assignments, description="Live role assignments (policy.read in their domain).")


@strawberry.type
class RoleMutation:
    @strawberry.mutation(description=f"Give USER a role ({ROLE_HELP}) in a domain ({DOMAIN_HELP}). "
                                     "Needs role.assign (policy_admin) in that domain.")
    async def assign_role(self, info: Info[Context, None], user: str, role: str, domain: str,
                          reason: str) -> PolicyChange:
        return PolicyChange.of(await roles.assign(info.context.admin(), user, role, domain, reason))

    @strawberry.mutation(description="Take a role away (the assignment is kept in the history).")
    async def revoke_role(self, info: Info[Context, None], user: str, role: str, domain: str,
                          reason: str) -> PolicyChange:
        return PolicyChange.of(await roles.revoke(info.context.admin(), user, role, domain, reason))
