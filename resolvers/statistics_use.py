"""Use of shared data from the audit trail: denied fields by reason, grants near expiry or never used.

The audit trail and the grants live in the region database: each statistic is one statement there. A
prefecture's domain sees what concerns its own resources (the resource code's node); a region that
does not answer costs every node's figures, reported in ``unavailable``.

Denial reasons are recorded with each audit record since issue 11 (``detail.denied_reasons``, in the
order of ``items_denied``, covered by the record's HMAC); earlier records count under ``UNRECORDED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from govshare.core.errors import BadRequest, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.policies.authority import Authority

from .statistics import permitted_nodes

UNRECORDED = "UNRECORDED"
MAX_EXPIRY_DAYS = 366
MAX_GRANTS = 500

# $1 since, $2 until, $3 consumer departments (null: all), $4 provider nodes
DENIALS = """select a.department, a.resource, d.item,
    coalesce(a.detail -> 'denied_reasons' ->> (d.n::integer - 1), 'UNRECORDED') as reason, count(*) as denials
    from audit_log a cross join lateral unnest(a.items_denied) with ordinality as d(item, n)
    where a.action in ('read', 'verify') and a.at >= $1 and a.at < $2
      and ($3::text[] is null or a.department = any($3::text[]))
      and left(a.resource, 6) = any($4::text[]) and d.item is not null
    group by 1, 2, 3, 4
    order by 1, 2, 3, 4"""

# Active grants of the nodes' resources that have begun, with how often the audit trail cites them;
# kept when they end within the window, or when no record cites them. $1 nodes, $2 now, $3 window end.
GRANT_USE = """select g.id, g.grantee_department, g.resource_code, g.items, g.purpose, g.valid_from, g.valid_until,
    u.uses, u.last_used
    from grants g
    cross join lateral (select count(*) as uses, max(a.at) as last_used from audit_log a
                        where a.grant_ids @> array[g.id]) u
    where g.status = 'active' and g.valid_from <= $2 and left(g.resource_code, 6) = any($1::text[])
      and ((g.valid_until > $2 and g.valid_until <= $3) or u.uses = 0)
    order by g.valid_until, g.id
    limit $4"""


@dataclass(frozen=True)
class Denials:
    department: str
    resource: str
    item: str
    reason: str
    denials: int


@dataclass(frozen=True)
class GrantUse:
    id: int
    grantee: str
    resource: str
    items: list[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime
    uses: int
    last_used_at: datetime | None


@dataclass
class GrantStatistics:
    expiring_soon: list[GrantUse] = field(default_factory=list)
    never_used: list[GrantUse] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)


async def denied_fields(pools: NodePools, authority: Authority, since: datetime, until: datetime,
                        departments: Sequence[str] | None, nodes: Sequence[str] | None
                        ) -> tuple[list[Denials], list[str]]:
    """Denied fields per consumer department, resource, item and reason in [since, until)."""
    if until <= since:
        raise BadRequest("'until' must be after 'since'")
    wanted = permitted_nodes(authority, pools, nodes)
    try:
        rows = await pools.fetch(pools.topology.region.database_node, "statistics.denials", DENIALS, since, until,
                                 list(departments) if departments else None, wanted)
    except NodeUnavailable:
        return [], sorted(wanted)
    return [Denials(r["department"], r["resource"], r["item"], r["reason"], int(r["denials"])) for r in rows], []


async def grant_statistics(pools: NodePools, authority: Authority, within_days: int, nodes: Sequence[str] | None,
                           now: datetime) -> GrantStatistics:
    """Active grants ending within ``within_days`` days, and those no audit record cites."""
    if not 0 < within_days <= MAX_EXPIRY_DAYS:
        raise BadRequest(f"'expiringWithinDays' must be between 1 and {MAX_EXPIRY_DAYS}")
    wanted = permitted_nodes(authority, pools, nodes)
    try:
        rows = await pools.fetch(pools.topology.region.database_node, "statistics.grants", GRANT_USE, wanted, now,
                                 now + timedelta(days=within_days), MAX_GRANTS)
    except NodeUnavailable:
        return GrantStatistics(unavailable=sorted(wanted))
    result = GrantStatistics()
    for r in rows:
        use = GrantUse(int(r["id"]), r["grantee_department"], r["resource_code"], list(r["items"]), r["purpose"],
                       r["valid_from"], r["valid_until"], int(r["uses"]), r["last_used"])
        if now < use.valid_until <= now + timedelta(days=within_days):
            result.expiring_soon.append(use)
        if use.uses == 0:
            result.never_used.append(use)
    return result
