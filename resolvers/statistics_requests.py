"""Share-request statistics (申请共享): counts per state and reply times in working days.

Share requests live in the region database beside the grants they create, so each statistic is one
aggregate statement there (grouped by the dimensions asked for); a region that does not answer costs
every node's rows, reported in ``unavailable``.

Working days: the calendar is the service's (policies/workdays.py: chinese-calendar plus the
GOVSHARE_WORKDAYS_FILE table), not a copy in the database that could drift from it. The statement
receives the working days of the period as one ``date[]`` parameter (about 250 a year) and counts, per
request, the working days after the day it was submitted up to and including the day it was decided
(China Standard Time), the same count as ``WorkCalendar.between``; PostgreSQL's ``percentile_cont``
then gives the median and the 90th percentile per group. Reply time is elapsed time as the applicant
sees it: days the provider waited for requested information are included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from govshare.core.errors import BadRequest, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.policies.authority import Authority
from govshare.policies.workdays import WorkCalendar, china_date

from .statistics import permitted_nodes

# Group-by dimensions: a fixed map from the API's enum to SQL expressions (never caller text).
REQUEST_DIMENSIONS: dict[str, str] = {
    "NODE": "node",
    "CONSUMER": "consumer",
    "PROVIDER": "provider",
    "MONTH": "month",
}
# A longer period would send thousands of calendar days; dashboards look at a year or two.
MAX_PERIOD_DAYS = 3 * 366
DECIDED = ("approved", "partially_approved", "rejected")

# $1 nodes, $2 since, $3 until, $4 working days of the period, $5 today (CST)
REQUESTS_HEAD = """with cal as (select d from unnest($4::date[]) as c(d)),
req as (
    select left(r.resource_code, 6) as node, r.applicant_department as consumer, r.provider_code as provider,
           to_char(r.submitted_at at time zone 'UTC' + interval '8 hours', 'YYYY-MM') as month,
           r.state, r.due_on,
           case when r.state in ('approved', 'partially_approved', 'rejected') and r.decided_at is not null then
               (select count(*) from cal
                where cal.d > (r.submitted_at at time zone 'UTC' + interval '8 hours')::date
                  and cal.d <= (r.decided_at at time zone 'UTC' + interval '8 hours')::date)
           end as reply_days
    from share_requests r
    where left(r.resource_code, 6) = any($1::text[]) and r.submitted_at >= $2 and r.submitted_at < $3
)
select """
REQUESTS_MEASURES = """count(*) as received,
    count(*) filter (where state = 'approved') as approved,
    count(*) filter (where state = 'partially_approved') as partly_approved,
    count(*) filter (where state = 'rejected') as rejected,
    count(*) filter (where state = 'withdrawn') as withdrawn,
    count(*) filter (where state in ('submitted', 'info_requested', 'awaiting_region')) as pending,
    count(*) filter (where state = 'submitted' and due_on < $5::date) as overdue,
    count(reply_days) as replied,
    count(*) filter (where reply_days > 10) as replied_late,
    percentile_cont(0.5) within group (order by reply_days) as median_reply,
    percentile_cont(0.9) within group (order by reply_days) as p90_reply
from req"""
COUNTS = ("received", "approved", "partly_approved", "rejected", "withdrawn", "pending", "overdue", "replied",
          "replied_late")


@dataclass(frozen=True)
class RequestCounts:
    keys: dict[str, str | None]
    received: int = 0
    approved: int = 0
    partly_approved: int = 0
    rejected: int = 0
    withdrawn: int = 0
    pending: int = 0
    overdue: int = 0
    replied: int = 0
    replied_late: int = 0  # decided after more than the 10 working days the provider has
    median_reply_days: float | None = None
    p90_reply_days: float | None = None


@dataclass
class RequestStatistics:
    rows: list[RequestCounts]
    unavailable: list[str] = field(default_factory=list)


def requests_sql(group_by: Sequence[str]) -> str:
    keys = [REQUEST_DIMENSIONS[d] + " as k" + str(n) for n, d in enumerate(group_by)]
    sql = REQUESTS_HEAD + "".join(k + ", " for k in keys) + REQUESTS_MEASURES
    if group_by:
        positions = ", ".join(str(n + 1) for n in range(len(group_by)))
        sql += "\ngroup by " + positions + "\norder by " + positions
    return sql


def working_days(calendar: WorkCalendar, start: date, end: date) -> list[date]:
    """The working days from ``start`` to ``end`` inclusive (raises CalendarNotConfigured for a year the
    calendar does not know)."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)
            if calendar.is_workday(start + timedelta(days=n))]


def check_dimensions(group_by: Sequence[str]) -> None:
    if len(group_by) > len(REQUEST_DIMENSIONS) or len(set(group_by)) != len(group_by):
        raise BadRequest("groupBy takes distinct dimensions")
    unknown = [d for d in group_by if d not in REQUEST_DIMENSIONS]
    if unknown:
        raise BadRequest(f"unknown dimension(s) {', '.join(unknown)}; accepted: {', '.join(REQUEST_DIMENSIONS)}")


async def request_statistics(pools: NodePools, authority: Authority, calendar: WorkCalendar, group_by: Sequence[str],
                             nodes: Sequence[str] | None, since: datetime, until: datetime,
                             now: datetime) -> RequestStatistics:
    """Requests submitted in [since, until) for resources of the permitted nodes, grouped as asked."""
    check_dimensions(group_by)
    if until <= since:
        raise BadRequest("'until' must be after 'since'")
    if (until - since).days > MAX_PERIOD_DAYS:
        raise BadRequest(f"the period may span at most {MAX_PERIOD_DAYS} days")
    return await request_counts(pools, calendar, group_by, permitted_nodes(authority, pools, nodes), since, until,
                                now)


async def request_counts(pools: NodePools, calendar: WorkCalendar, group_by: Sequence[str], wanted: Sequence[str],
                         since: datetime, until: datetime, now: datetime) -> RequestStatistics:
    """The counts for requests on these nodes' resources (already permitted): one statement on the region."""
    today = china_date(now)
    # Decisions up to now count, also for requests submitted in a period that ended earlier.
    days = working_days(calendar, china_date(since), max(today, china_date(until)))
    try:
        rows = await pools.fetch(pools.topology.region.database_node, "statistics.requests",
                                 requests_sql(group_by), list(wanted), since, until, days, today)
    except NodeUnavailable:
        return RequestStatistics([], sorted(wanted))
    out: list[RequestCounts] = []
    for row in rows:
        if not row["received"]:
            continue
        keys = {d: row["k" + str(n)] for n, d in enumerate(group_by)}
        median, p90 = row["median_reply"], row["p90_reply"]
        out.append(RequestCounts(keys, **{c: int(row[c]) for c in COUNTS},
                                 median_reply_days=None if median is None else float(median),
                                 p90_reply_days=None if p90 is None else float(p90)))
    return RequestStatistics(out, [])
