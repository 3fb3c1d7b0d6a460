"""Use of shared data for supervision: denied fields by reason, grants near expiry or never used."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry
from strawberry.types import Info

from govshare.resolvers import statistics, statistics_use
from govshare.resolvers.context import Context


@strawberry.type(description="How often one item of one resource was denied to one department, and why.")
class DeniedFieldRow:
    department: str
    resource: str
    item: str
    reason: str = strawberry.field(description="NOT_SHARED, NO_GRANT, GRANT_EXPIRED, GRANT_NOT_YET_VALID, "
                                               "GRANT_REVOKED, PURPOSE_MISMATCH, PURPOSE_MISSING, OUT_OF_SCOPE, "
                                               "POLICY_DENIED; UNRECORDED for records older than the reasons.")
    denials: int


@strawberry.type
class DeniedFieldStatistics:
    rows: list[DeniedFieldRow]
    unavailable_nodes: list[str]


@strawberry.type(description="An active grant with how often the audit trail cites it.")
class GrantUse:
    id: int
    grantee: str
    resource: str
    items: list[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime
    uses: int = strawberry.field(description="Audit records citing the grant.")
    last_used_at: datetime | None

    @classmethod
    def of(cls, use: statistics_use.GrantUse) -> GrantUse:
        return cls(**vars(use))


@strawberry.type
class GrantStatistics:
    expiring_soon: list[GrantUse] = strawberry.field(description="Ending within the window, soonest first.")
    never_used: list[GrantUse] = strawberry.field(
        description="Begun (valid now or expired) and cited by no audit record.")
    unavailable_nodes: list[str]


@strawberry.type
class UseStatisticsQuery:
    @strawberry.field(description="Denied fields per consumer department, resource, item and reason in "
                                  "[since, until) (default: the last 30 days), from the audit trail. Needs "
                                  "stats.read; a prefecture's domain sees denials of its own resources.")
    async def denied_field_statistics(self, info: Info[Context, None], since: datetime | None = None,
                                      until: datetime | None = None, departments: list[str] | None = None,
                                      nodes: list[str] | None = None) -> DeniedFieldStatistics | None:
        context = info.context
        end = until or context.now
        rows, unavailable = await statistics_use.denied_fields(
            context.pools, context.authority, since or end - timedelta(days=30), end, departments, nodes)
        await statistics.record_reading(context.pools, context.request_id, context.caller.user,
                                        context.caller.department, "deniedFieldStatistics", len(rows))
        return DeniedFieldStatistics(rows=[DeniedFieldRow(**vars(r)) for r in rows], unavailable_nodes=unavailable)

    @strawberry.field(description="Active grants ending within expiringWithinDays days, and grants no audit "
                                  "record cites (at most 500 in all). Needs stats.read; a prefecture's domain "
                                  "sees grants on its own resources.")
    async def grant_statistics(self, info: Info[Context, None], expiring_within_days: int = 30,
                               nodes: list[str] | None = None) -> GrantStatistics | None:
        context = info.context
        result = await statistics_use.grant_statistics(context.pools, context.authority, expiring_within_days,
                                                       nodes, context.now)
        await statistics.record_reading(context.pools, context.request_id, context.caller.user,
                                        context.caller.department, "grantStatistics",
                                        len(result.expiring_soon) + len(result.never_used))
        return GrantStatistics(expiring_soon=[GrantUse.of(g) for g in result.expiring_soon],
                               never_used=[GrantUse.of(g) for g in result.never_used],
                               unavailable_nodes=result.unavailable)
