"""Assessment scores per department (监督考核, seed §7.2-7.3), with the parts that make them up.

The formula (also in the README, "Supervision statistics"): six parts, each a ratio between 0 and 1
times its weight; a part that does not apply to a department (no published resources, no NOT_SHARED
items, no requests to answer, no queries made) is left out and the score is scaled to 100 over the
parts that apply. No part applies: no score.

==============  ======  ====================================================================
part            weight  ratio
==============  ======  ====================================================================
names           20      1 - (resources missing a Uyghur name + missing a Kazakh name) / (2 x resources)
legal_basis     10      1 - NOT_SHARED items citing no law / NOT_SHARED items
sharing         20      (unconditional + conditional items) / items
timeliness      20      max(0, 1 - (overdue catalog updates + resources with stale data) / resources)
requests        20      requests answered within 10 working days / (answered + pending past the deadline)
use             10      1 - refused queries / queries and verifications made (as consumer)
==============  ======  ====================================================================

The first five judge the department as provider (its published resources, the share requests made to
it in the period), the last as consumer (its queries in the period, from the audit trail). The figures
come from the same statements as the statistics: catalog counts grouped by provider (one per node
database), request counts grouped by provider and use counts grouped by department (one each on the
region), run concurrently.

Who sees what: stats.read in a domain sees the departments of its nodes; any other caller sees only
its own department (asking for another is FORBIDDEN).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from govshare.core.errors import BadRequest, Forbidden, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.policies.authority import Action, Authority, domain_of_code
from govshare.policies.workdays import WorkCalendar, china_date

from .statistics import CatalogCounts, catalog_counts, permitted_nodes
from .statistics_requests import RequestCounts, request_counts

WEIGHTS: dict[str, int] = {"names": 20, "legal_basis": 10, "sharing": 20, "timeliness": 20, "requests": 20,
                           "use": 10}
MAX_DEPARTMENTS = 500

# Data queries and verifications per consumer department in the period, and how many were refused.
USE = """select department, count(*) as queries, count(*) filter (where outcome = 'refused') as refused
    from audit_log
    where action in ('read', 'verify') and at >= $1 and at < $2 and left(department, 6) = any($3::text[])
      and ($4::text[] is null or department = any($4::text[]))
    group by department"""


@dataclass(frozen=True)
class Part:
    name: str
    weight: int
    ratio: float | None  # None: does not apply
    detail: str

    @property
    def points(self) -> float | None:
        return None if self.ratio is None else round(self.weight * self.ratio, 2)


@dataclass(frozen=True)
class Score:
    department: str
    node: str
    score: float | None
    parts: list[Part]


@dataclass
class Assessment:
    rows: list[Score] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)


def _ratio(good: int, total: int) -> float | None:
    return None if total == 0 else max(0.0, min(1.0, good / total))


def parts_of(catalog: CatalogCounts | None, requests: RequestCounts | None, queries: int, refused: int) -> list[Part]:
    c = catalog or CatalogCounts({})
    missing = c.missing_ug + c.missing_kk
    late = c.overdue_updates + c.stale
    answered_on_time = requests.replied - requests.replied_late if requests else 0
    due = (requests.replied + requests.overdue) if requests else 0
    return [
        Part("names", WEIGHTS["names"], _ratio(2 * c.resources - missing, 2 * c.resources),
             f"{c.missing_ug} of {c.resources} published resources lack a Uyghur name, {c.missing_kk} a Kazakh name"),
        Part("legal_basis", WEIGHTS["legal_basis"], _ratio(c.not_shared - c.no_basis, c.not_shared),
             f"{c.no_basis} of {c.not_shared} NOT_SHARED items cite no law or regulation"),
        Part("sharing", WEIGHTS["sharing"], _ratio(c.unconditional + c.conditional, c.items),
             f"{c.unconditional + c.conditional} of {c.items} data items are shared (unconditional or conditional)"),
        Part("timeliness", WEIGHTS["timeliness"], _ratio(c.resources - late, c.resources),
             f"{c.overdue_updates} catalog updates overdue, {c.stale} of {c.resources} resources with stale data"),
        Part("requests", WEIGHTS["requests"], _ratio(answered_on_time, due),
             f"{answered_on_time} of {due} share requests answered within 10 working days "
             f"({requests.overdue if requests else 0} pending past the deadline)"),
        Part("use", WEIGHTS["use"], _ratio(queries - refused, queries),
             f"{refused} of {queries} queries and verifications refused (filters or sorting on denied items)"),
    ]


def score_of(parts: Sequence[Part]) -> float | None:
    applying = [p for p in parts if p.ratio is not None]
    if not applying:
        return None
    return round(100 * sum(p.weight * (p.ratio or 0.0) for p in applying) / sum(p.weight for p in applying), 1)


def _scope(pools: NodePools, authority: Authority, departments: Sequence[str] | None,
           nodes: Sequence[str] | None) -> tuple[list[str], list[str] | None]:
    """(nodes, departments) the caller may see: stats.read domains, else only its own department."""
    if authority.domains(Action.STATS_READ):
        return permitted_nodes(authority, pools, nodes), list(departments) if departments else None
    own = authority.department
    if (departments and set(departments) != {own}) or (nodes and set(nodes) != {domain_of_code(own)}):
        raise Forbidden(f"a department sees only its own assessment; others need stats.read "
                        f"({', '.join(authority.model.roles_for(Action.STATS_READ))})",
                        action=Action.STATS_READ.value, domain=domain_of_code(own),
                        requiredRoles=authority.model.roles_for(Action.STATS_READ))
    return [domain_of_code(own)], [own]


async def assessment(pools: NodePools, authority: Authority, calendar: WorkCalendar,
                     departments: Sequence[str] | None, nodes: Sequence[str] | None, since: datetime,
                     until: datetime, now: datetime) -> Assessment:
    if until <= since:
        raise BadRequest("'until' must be after 'since'")
    # Timeliness counts working days, known from the first year any calendar source covers (chinese-calendar:
    # 2004): an earlier period is refused as such, not as a calendar the operator should add for it.
    earliest = date(calendar.covered_years()[0], 1, 1)
    if china_date(since) < earliest:
        raise BadRequest(f"the period starts on {china_date(since)} (since; default: a year before until): an "
                         f"assessment starts no earlier than {earliest}, the first day whose working days are "
                         "known", field="since", earliest=earliest.isoformat())
    if departments is not None and len(departments) > MAX_DEPARTMENTS:
        raise BadRequest(f"at most {MAX_DEPARTMENTS} departments")
    wanted, chosen = _scope(pools, authority, departments, nodes)
    if chosen is not None:
        unknown = [d for d in chosen if domain_of_code(d) not in pools.topology.by_code]
        if unknown:
            raise BadRequest(f"unknown department(s): {', '.join(unknown)}", departments=unknown)

    async def use() -> list[object] | NodeUnavailable:
        try:
            return list(await pools.fetch(pools.topology.region.database_node, "statistics.assessment_use", USE,
                                          since, until, wanted, chosen))
        except NodeUnavailable as exc:
            return exc

    catalog, requests, used = await asyncio.gather(
        catalog_counts(pools, ["PROVIDER"], wanted, ["published"], now),
        request_counts(pools, calendar, ["PROVIDER"], wanted, since, until, now),
        use())
    unavailable = set(catalog.unavailable) | set(requests.unavailable)
    if isinstance(used, NodeUnavailable):
        unavailable |= set(wanted)
        used = []
    by_provider = {r.keys["PROVIDER"]: r for r in catalog.rows}
    requests_by = {r.keys["PROVIDER"]: r for r in requests.rows}
    queries = {r["department"]: (int(r["queries"]), int(r["refused"])) for r in used}  # type: ignore[index]
    names = set(chosen) if chosen is not None else {*by_provider, *requests_by, *queries}
    rows: list[Score] = []
    for department in sorted(d for d in names if d is not None):
        node = domain_of_code(department)
        if node not in wanted or node in unavailable:
            continue  # outside the caller's nodes, or figures missing: never a score from part of them
        made, refused = queries.get(department, (0, 0))
        parts = parts_of(by_provider.get(department), requests_by.get(department), made, refused)
        rows.append(Score(department, node, score_of(parts), parts))
    return Assessment(rows, sorted(unavailable))
