"""Grants (共享授权) administered directly: list with their effective state, create, revoke."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from govshare.resolvers import grants
from govshare.resolvers.context import Context
from govshare.resolvers.validation import GrantInput

from .changes import PolicyChange
from .common import ShareMode


@strawberry.enum(description="A grant's effective state now.")
class GrantEffectiveState(Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"


@strawberry.type(description="A purpose-bound grant of CONDITIONAL items to a department.")
class Grant:
    id: int
    department: str
    resource: str
    items: list[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime = strawberry.field(description="Exclusive: 00:00 China Standard Time after the last day.")
    divisions: list[str] | None = strawberry.field(description="Row scope (division codes); null: all rows.")
    state: GrantEffectiveState
    revoked_at: datetime | None
    revoke_reason: str | None
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, row: grants.GrantRow) -> Grant:
        return cls(id=row.id, department=row.department, resource=row.resource, items=row.items,
                   purpose=row.purpose, valid_from=row.valid_from, valid_until=row.valid_until,
                   divisions=row.divisions, state=GrantEffectiveState(row.state), revoked_at=row.revoked_at,
                   revoke_reason=row.revoke_reason, created_at=row.created_at, created_by=row.created_by)


@strawberry.input(description="A grant: CONDITIONAL items of a published resource, for a purpose, for calendar "
                              "days in China Standard Time (until includes its whole day).")
class GrantCreateInput:
    department: str
    resource: str
    items: list[str]
    purpose: str
    until: date
    valid_from: date | None = None
    divisions: list[str] | None = strawberry.field(default=None, description="Row scope: division codes.")
    share_modes: list[ShareMode] | None = strawberry.field(
        default=None, description="Share modes the grant allows (default INTERFACE); each must be offered by the "
                                  "resource.")


@strawberry.type
class GrantChange:
    grant: Grant
    change: PolicyChange


async def grant_list(info: Info[Context, None], department: str | None = None, resource: str | None = None,
                     state: GrantEffectiveState | None = None) -> list[Grant]:
    rows = await grants.listed(info.context.admin(), department, resource, state.value if state else None)
    return [Grant.of(r) for r in rows]


@strawberry.type
class GrantQuery:
    grants: list[Grant] = strawberry.field(
        resolver=grant_list, description="Grants (grant.read in the resource's domain, or your own department's).")


@strawberry.type
class GrantMutation:
    @strawberry.mutation(description="Create a grant (grant.write in the domain of the resource's node; for an "
                                     "institution outside government also in the region's).")
    async def create_grant(self, info: Info[Context, None], grant: GrantCreateInput, reason: str) -> GrantChange:
        given = GrantInput(grant.department, grant.resource, grant.items, grant.purpose, grant.until,
                           grant.valid_from, grant.divisions,
                           tuple(m.value for m in grant.share_modes) if grant.share_modes else ("interface",))
        row, change = await grants.create(info.context.admin(), given, reason)
        return GrantChange(grant=Grant.of(row), change=PolicyChange.of(change))

    @strawberry.mutation(description="Revoke an active grant: the next data query is refused (GRANT_REVOKED).")
    async def revoke_grant(self, info: Info[Context, None], id: int, reason: str) -> GrantChange:
        row, change = await grants.revoke(info.context.admin(), id, reason)
        return GrantChange(grant=Grant.of(row), change=PolicyChange.of(change))
