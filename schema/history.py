"""The policy's history as GraphQL: changes, the policy at a past time, revert; item classes; groups."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from govshare.policies.rules import admin_domain
from govshare.resolvers import classes, groups, history
from govshare.resolvers.context import Context

from .changes import ChangeKind, PolicyChange
from .common import ShareClass
from .grants import Grant
from .roles import RoleAssignment
from .rules import AccessRule


@strawberry.type(description="A named department group (usable in rules as group:<name>).")
class DepartmentGroup:
    name: str
    domain: str
    members: list[str]
    title: str = ""


@strawberry.type(description="An item's share class at a past time (only items reclassified since).")
class ItemClass:
    resource: str
    item: str
    share_class: ShareClass
    condition: str | None
    legal_basis: str | None


@strawberry.type(description="The policy as it stood at a past time.")
class PolicySnapshot:
    at: datetime
    rules: list[AccessRule]
    grants: list[Grant]
    roles: list[RoleAssignment]
    groups: list[DepartmentGroup]
    classes: list[ItemClass]


@strawberry.type
class HistoryQuery:
    @strawberry.field(description="Policy changes, newest first (policy.read; in your domains unless regional). "
                                  "Page with before: the last id you got.")
    async def policy_changes(self, info: Info[Context, None], resource: str | None = None,
                             department: str | None = None, since: datetime | None = None,
                             until: datetime | None = None, kind: ChangeKind | None = None, first: int = 50,
                             before: int | None = None) -> list[PolicyChange]:
        found = await history.changes(info.context.admin(), resource, department, since, until,
                                      kind.value if kind else None, first, before)
        return [PolicyChange.of(c) for c in found]

    @strawberry.field(description="Rules, grants, roles, groups and reclassified items as they stood at AT "
                                  "(policy.read in the region).")
    async def policy_at(self, info: Info[Context, None], at: datetime) -> PolicySnapshot:
        snap = await history.policy_at(info.context.admin(), at)
        region = info.context.topology.region.code
        return PolicySnapshot(
            at=snap.at, rules=[AccessRule.of(r, admin_domain(r, region)) for r in snap.rules],
            grants=[Grant.of(g) for g in snap.grants],
            roles=[RoleAssignment(user=u, role=r, domain=d) for u, r, d in snap.roles],
            groups=[DepartmentGroup(name=n, domain=d, members=m) for n, d, m in snap.groups],
            classes=[ItemClass(resource=res, item=item, share_class=ShareClass(c["shareClass"]),
                               condition=c["condition"], legal_basis=c["legalBasis"])
                     for res, item, c in snap.classes])

    @strawberry.field(description="Members of a group: kind:MZ, level:county, node:650100 or group:<name>.")
    def group_members(self, info: Info[Context, None], group: str) -> list[str]:
        return info.context.engine.memberships.members_of(group)


@strawberry.type
class HistoryMutation:
    @strawberry.mutation(description="Revert a change: a new change doing the opposite (same permission).")
    async def revert_policy_change(self, info: Info[Context, None], id: int, reason: str) -> PolicyChange:
        return PolicyChange.of(await history.revert(info.context.admin(), info.context.engine, id, reason))

    @strawberry.mutation(description="Change a data item's share class (policy.write in the resource's node). "
                                     "NOT_SHARED requires legalBasis; CONDITIONAL requires condition.")
    async def reclassify_item(self, info: Info[Context, None], resource: str, item: str, share_class: ShareClass,
                              reason: str, condition: str | None = None,
                              legal_basis: str | None = None) -> PolicyChange:
        return PolicyChange.of(await classes.reclassify(info.context.admin(), resource, item, share_class.value,
                                                        condition, legal_basis, reason))

    @strawberry.mutation(description="Create a named department group or replace its members.")
    async def save_department_group(self, info: Info[Context, None], name: str, members: list[str], reason: str,
                                    title: str = "", domain: str | None = None) -> PolicyChange:
        return PolicyChange.of(await groups.save_group(info.context.admin(), name, members, title, domain, reason))

    @strawberry.mutation(description="Remove a named department group (rules naming it then match nobody).")
    async def remove_department_group(self, info: Info[Context, None], name: str, reason: str) -> PolicyChange:
        return PolicyChange.of(await groups.remove_group(info.context.admin(), name, reason))
