"""Share-request statistics (申请共享) for supervision: counts per state and reply times in working days."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

import strawberry
from strawberry.types import Info

from govshare.resolvers import statistics_requests
from govshare.resolvers.context import Context


@strawberry.enum(description="A dimension to group share-request counts by.")
class RequestDimension(Enum):
    NODE = "NODE"
    CONSUMER = "CONSUMER"
    PROVIDER = "PROVIDER"
    MONTH = "MONTH"


@strawberry.type(description="One group's share requests. Keys not grouped by are null.")
class RequestCountRow:
    node: str | None = strawberry.field(description="The node of the requested resource.")
    consumer: str | None = strawberry.field(description="The applicant department.")
    provider: str | None = strawberry.field(description="The provider department of the resource.")
    month: str | None = strawberry.field(description="Month of submission (YYYY-MM, China Standard Time).")
    received: int
    approved: int
    partly_approved: int
    rejected: int
    withdrawn: int
    pending: int = strawberry.field(description="Submitted, waiting for information from the applicant, or (an "
                                           "institution's) waiting for the region's approval.")
    overdue: int = strawberry.field(description="Pending past the 10-working-day answer deadline.")
    replied: int = strawberry.field(description="Decided: approved, partly approved or rejected.")
    replied_late: int = strawberry.field(description="Decided after more than 10 working days.")
    median_reply_working_days: float | None = strawberry.field(
        description="Median working days from submission to decision (null: none decided).")
    p90_reply_working_days: float | None = strawberry.field(
        description="90th percentile (linear interpolation) of the same.")

    @classmethod
    def of(cls, row: statistics_requests.RequestCounts) -> RequestCountRow:
        k = row.keys
        return cls(node=k.get("NODE"), consumer=k.get("CONSUMER"), provider=k.get("PROVIDER"), month=k.get("MONTH"),
                   received=row.received, approved=row.approved, partly_approved=row.partly_approved,
                   rejected=row.rejected, withdrawn=row.withdrawn, pending=row.pending, overdue=row.overdue,
                   replied=row.replied, replied_late=row.replied_late,
                   median_reply_working_days=row.median_reply_days, p90_reply_working_days=row.p90_reply_days)


@strawberry.type
class RequestStatistics:
    rows: list[RequestCountRow]
    unavailable_nodes: list[str] = strawberry.field(description="Nodes whose counts are missing.")


@strawberry.type
class RequestStatisticsQuery:
    @strawberry.field(description="Share requests submitted in [since, until) (default: the last 365 days) "
                                  "grouped by node, consumer, provider and month: counts per state, overdue, "
                                  "reply times in working days. One statement on the region database. Needs "
                                  "stats.read (supervisor, policy admin); a prefecture's domain sees requests "
                                  "for its own node's resources.")
    async def request_statistics(self, info: Info[Context, None], group_by: list[RequestDimension],
                                 since: datetime | None = None, until: datetime | None = None,
                                 nodes: list[str] | None = None) -> RequestStatistics | None:
        context = info.context
        end = until or context.now
        result = await statistics_requests.request_statistics(
            context.pools, context.authority, context.calendar, [d.value for d in group_by], nodes,
            since or end - timedelta(days=365), end, context.now)
        return RequestStatistics(rows=[RequestCountRow.of(r) for r in result.rows],
                                 unavailable_nodes=result.unavailable)
