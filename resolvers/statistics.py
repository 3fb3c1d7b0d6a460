"""Supervision statistics of the catalog, computed where the data is.

One aggregate statement per node database (fanned out concurrently, within the request's node
deadlines), grouped by the dimensions the dashboard asks for; the partial results are summed in
Python by group key (a handful of rows, never catalog rows). Each database reports only the nodes it
holds (the region database: itself and its hosted prefectures), so a node's catalog cannot inflate
another node's figures.

Who sees what: ``stats.read`` (supervisor, policy admin) in the region's domain sees every node; in a
prefecture's domain only that node. Nodes outside the caller's domains are refused, not silently
dropped, so a dashboard never shows a partial table as if it were whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from govshare.core.errors import BadRequest, Forbidden, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.federation.topology import Topology
from govshare.policies.authority import Action, Authority
from govshare.policies.groups import facts_from_code
from govshare.policies.workdays import china_date

from . import audit, hosting
from .catalog import HOSTED_LOOKUP, group_by_database, rows_by_code

# Group-by dimensions: a fixed map from the API's enum to SQL expressions (never caller text). LEVEL is read
# as the provider's code and made its level in the service (``_keys``: policies.groups.facts_from_code, as
# Resource.providerLevel and the access rules take it): the rows' provider_level column is the node's word,
# and a prefecture could count its resources as region-level there.
DIMENSIONS: dict[str, str] = {
    "NODE": "r.node_code",
    "PROVIDER": "r.provider_code",
    "LEVEL": "r.provider_code",
    "CLASSIFICATION": "r.classification",
    "SHARE_CLASS": "r.share_class",
    "SHARE_MODE": "m.share_mode",
    "UPDATE_CYCLE": "r.update_cycle",
    "STATUS": "r.status",
}
MAX_DIMENSIONS = 4
STATUSES = ("draft", "submitted", "published", "retired")

# Items per resource by class, and the changes of law or duties still open past their deadline.
CATALOG_HEAD = """with items as (
    select resource_code,
           count(*) as items,
           count(*) filter (where share_class = 'UNCONDITIONAL') as unconditional,
           count(*) filter (where share_class = 'CONDITIONAL') as conditional,
           count(*) filter (where share_class = 'NOT_SHARED') as not_shared,
           count(*) filter (where share_class = 'NOT_SHARED' and coalesce(btrim(legal_basis), '') = '')
               as no_basis
    from data_items group by resource_code
), overdue as (
    select code, count(*) as overdue from catalog_duty_changes
    where fulfilled_at is null and due_on < $3::date group by code
), fresh as (
    select code, last_change from govshare_data_changes($1::text[])
)
select """
CATALOG_MEASURES = """count(*) as resources,
    coalesce(sum(i.items), 0)::bigint as items,
    coalesce(sum(i.unconditional), 0)::bigint as unconditional,
    coalesce(sum(i.conditional), 0)::bigint as conditional,
    coalesce(sum(i.not_shared), 0)::bigint as not_shared,
    coalesce(sum(i.no_basis), 0)::bigint as no_basis,
    count(*) filter (where coalesce(btrim(r.name_ug), '') = '') as missing_ug,
    count(*) filter (where coalesce(btrim(r.name_kk), '') = '') as missing_kk,
    coalesce(sum(o.overdue), 0)::bigint as overdue_updates,
    count(*) filter (where f.last_change < $4::timestamptz - case r.update_cycle
        when 'realtime' then interval '1 day' when 'daily' then interval '1 day' when 'weekly' then interval '7 days'
        when 'monthly' then interval '1 month' when 'quarterly' then interval '3 months'
        when 'half_yearly' then interval '6 months' else interval '1 year' end) as stale,
    count(*) filter (where r.data_table is not null and f.last_change is null) as freshness_unknown
from resources r
left join items i on i.resource_code = r.code
left join overdue o on o.code = r.code
left join fresh f on f.code = r.code"""
# Counted once per share mode it offers ('none' for a resource offering none).
CATALOG_MODES = """
cross join lateral unnest(case when cardinality(r.share_modes) = 0 then array['none']
                               else r.share_modes end) as m(share_mode)"""
# $1: the nodes asked for that the database hosts; $5: the prefixes of every node it hosts (an entry under
# another node's code or naming another node's provider is not served, so not counted: catalog.HOSTED_PREFIXES).
CATALOG_WHERE = """
where r.node_code = any($1::text[]) and r.status = any($2::text[])
  and r.code ^@ any($5::text[]) and r.provider_code ^@ any($5::text[])"""
# The filter above runs on the server the service distrusts, so each group also says whose rows it counts,
# checked again in the service (``_owned``): grouped by the node the rows name as well (a hidden key), with
# the least and greatest first 7 characters of their codes and of their providers' codes (``NNNNNN-`` of a
# node the database hosts; a prefecture's database hosts one node, so both are its own prefix). Min and max
# keep the plan of the dimensions asked for (grouping by the prefixes themselves misestimates the groups
# and sorts every row instead of hashing).
OWNERS = """r.node_code as owner_node,
    min(substr(r.code, 1, 7)) as code_min, max(substr(r.code, 1, 7)) as code_max,
    min(substr(r.provider_code, 1, 7)) as provider_min, max(substr(r.provider_code, 1, 7)) as provider_max, """
OWNER_PREFIXES = ("code_min", "code_max", "provider_min", "provider_max")
MEASURES = ("resources", "items", "unconditional", "conditional", "not_shared", "no_basis", "missing_ug",
            "missing_kk", "overdue_updates", "stale", "freshness_unknown")


@dataclass(frozen=True)
class CatalogCounts:
    keys: dict[str, str | None]
    resources: int = 0
    items: int = 0
    unconditional: int = 0
    conditional: int = 0
    not_shared: int = 0
    no_basis: int = 0
    missing_ug: int = 0
    missing_kk: int = 0
    overdue_updates: int = 0
    stale: int = 0  # data whose newest change is older than its update cycle allows
    freshness_unknown: int = 0  # data whose register declares no change column (or holds no rows)

    @property
    def share_ratio(self) -> float | None:
        """Shared items (unconditional + conditional) over all items; None without items."""
        return round((self.unconditional + self.conditional) / self.items, 4) if self.items else None


@dataclass
class CatalogStatistics:
    rows: list[CatalogCounts]
    unavailable: list[str] = field(default_factory=list)


def catalog_sql(group_by: Sequence[str]) -> str:
    """The aggregate statement for these dimensions (each validated against DIMENSIONS)."""
    keys = [DIMENSIONS[d] + " as k" + str(n) for n, d in enumerate(group_by)]
    sql = CATALOG_HEAD + "".join(k + ", " for k in keys) + OWNERS + CATALOG_MEASURES
    if "SHARE_MODE" in group_by:
        sql += CATALOG_MODES
    sql += CATALOG_WHERE
    return sql + "\ngroup by " + ", ".join(str(n + 1) for n in range(len(group_by) + 1))


def _owned(topology: Topology, database: str, nodes: list[str], group_by: Sequence[str], row: asyncpg.Record
           ) -> bool:
    """Whether a group of counts read from ``database`` counts only rows the catalog would serve from it: of
    the nodes asked of it, codes and providers of nodes it hosts (and so is its PROVIDER key)."""
    hosted = topology.hosted_on(database)
    providers = [row["k" + str(group_by.index(d))] for d in ("PROVIDER", "LEVEL") if d in group_by]
    return (row["owner_node"] in nodes and all(hosting.belongs(row[k], hosted) for k in OWNER_PREFIXES)
            and all(hosting.belongs(provider, hosted) for provider in providers))


def _keys(group_by: Sequence[str], row: asyncpg.Record, region: str) -> tuple[str | None, ...]:
    """A group's key: its dimensions' values, LEVEL's being its provider code's level (DIMENSIONS)."""
    return tuple(facts_from_code(row["k" + str(n)], region).level if dimension == "LEVEL" else row["k" + str(n)]
                 for n, dimension in enumerate(group_by))


def permitted_nodes(authority: Authority, pools: NodePools, nodes: Sequence[str] | None) -> list[str]:
    """The nodes asked for (all when None), refused unless stats.read holds in each one's domain."""
    topology = pools.topology
    region = topology.region.code
    domains = set(authority.domains(Action.STATS_READ))
    if not domains:
        authority.require(Action.STATS_READ, region)  # raises FORBIDDEN with the roles that would do
    unknown = [n for n in nodes or () if n not in topology.by_code]
    if unknown:
        raise BadRequest(f"unknown node(s): {', '.join(unknown)}", nodes=unknown)
    if nodes is None:
        return [n.code for n in topology.nodes] if region in domains else sorted(domains)
    outside = [n for n in nodes if region not in domains and n not in domains]
    if outside:
        raise Forbidden(f"stats.read does not hold in domain(s) {', '.join(outside)}", action=Action.STATS_READ.value,
                        domain=outside[0], requiredRoles=authority.model.roles_for(Action.STATS_READ))
    return list(dict.fromkeys(nodes))


async def catalog_statistics(pools: NodePools, authority: Authority, group_by: Sequence[str],
                             nodes: Sequence[str] | None, statuses: Sequence[str] | None,
                             now: datetime) -> CatalogStatistics:
    if len(group_by) > MAX_DIMENSIONS or len(set(group_by)) != len(group_by):
        raise BadRequest(f"groupBy takes at most {MAX_DIMENSIONS} distinct dimensions")
    unknown = [d for d in group_by if d not in DIMENSIONS]
    if unknown:
        raise BadRequest(f"unknown dimension(s) {', '.join(unknown)}; accepted: {', '.join(DIMENSIONS)}")
    chosen = list(statuses) if statuses else ["published"]
    bad = [s for s in chosen if s not in STATUSES]
    if bad:
        raise BadRequest(f"unknown status(es) {', '.join(bad)}; accepted: {', '.join(STATUSES)}")
    return await catalog_counts(pools, group_by, permitted_nodes(authority, pools, nodes), chosen, now)


async def catalog_counts(pools: NodePools, group_by: Sequence[str], nodes: Sequence[str], chosen: Sequence[str],
                         now: datetime) -> CatalogStatistics:
    """The counts of these nodes (already permitted), one statement per node database."""
    wanted = set(nodes)
    topology = pools.topology
    # database -> the node codes it holds that were asked for (its own rows only)
    targets: dict[str, list[str]] = {}
    for node in topology.nodes:
        if node.code in wanted:
            targets.setdefault(node.database_node, []).append(node.code)
    sql = catalog_sql(group_by)

    async def one(db: str) -> tuple[str, list[asyncpg.Record] | NodeUnavailable]:
        try:
            prefixes = [node + "-" for node in topology.hosted_on(db)]
            return db, list(await pools.fetch(db, "statistics.catalog", sql, targets[db], list(chosen),
                                              china_date(now), now, prefixes))
        except NodeUnavailable as exc:
            return db, exc

    results = await asyncio.gather(*(one(db) for db in sorted(targets)))
    merged: dict[tuple[str | None, ...], dict[str, int]] = {}
    unavailable: list[str] = []
    for db, rows in results:
        if isinstance(rows, NodeUnavailable):
            unavailable.extend(targets[db])
            continue
        foreign = next((row for row in rows if not _owned(topology, db, targets[db], group_by, row)), None)
        if foreign is not None:
            # Counts mixing in rows the database does not own: none of its figures is used (as when it does
            # not answer), rather than a part of them or another node's.
            hosting.dropped(db, "catalog counts of codes", f"{foreign['code_min']}..{foreign['code_max']}",
                            foreign["owner_node"], f"{foreign['provider_min']}..{foreign['provider_max']}")
            unavailable.extend(targets[db])
            continue
        for row in rows:
            key = _keys(group_by, row, topology.region.code)
            sums = merged.setdefault(key, dict.fromkeys(MEASURES, 0))
            for measure in MEASURES:
                sums[measure] += int(row[measure])
    if not group_by and len(unavailable) < len(nodes):  # the totals: a row even when nothing is counted
        merged.setdefault((), dict.fromkeys(MEASURES, 0))
    ordered = sorted(merged.items(), key=lambda kv: tuple("" if k is None else k for k in kv[0]))
    rows_out = [CatalogCounts(dict(zip(group_by, key, strict=True)), **sums) for key, sums in ordered
                if sums["resources"] or not group_by]
    return CatalogStatistics(rows_out, sorted(unavailable))


# --- use of shared data, from the audit trail ------------------------------------------------------

# Data queries and verifications per consumer department, resource and action in a period.
USAGE = """select department, resource, action, count(*) as requests,
    coalesce(sum(row_count), 0)::bigint as rows,
    count(*) filter (where cardinality(items_denied) > 0) as requests_with_denials,
    coalesce(sum(cardinality(items_denied)), 0)::bigint as denied_fields,
    count(*) filter (where outcome = 'refused') as refused
    from audit_log
    where action in ('read', 'verify') and at >= $1 and at < $2
      and ($3::text[] is null or department = any($3::text[]))
      and ($4::text[] is null or substr(resource, 1, 6) = any($4::text[]))
    group by department, resource, action
    order by department, resource, action"""
# Only entries the catalog serves (catalog.HOSTED_LOOKUP): one naming another node or provider has none.
PROVIDERS = f"""select code, node_code, provider_code from resources
    where code = any($1::text[]) and {HOSTED_LOOKUP.format(2)}"""


@dataclass(frozen=True)
class Usage:
    department: str
    resource: str
    provider: str | None
    action: str
    requests: int
    rows: int
    requests_with_denials: int
    denied_fields: int
    refused: int


async def providers_of(pools: NodePools, codes: list[str]
                       ) -> tuple[dict[str, asyncpg.Record], list[NodeUnavailable]]:
    """The catalog rows (code, node_code, provider_code) of these resources that the catalog serves, by code:
    each row checked again in the service (hosting.owns), as the SQL filter ran on the row's own server."""
    found, failures = await rows_by_code(pools, "statistics.providers", PROVIDERS, codes, hosted=True)
    served: dict[str, asyncpg.Record] = {}
    for db, asked in group_by_database(pools, codes).items():
        for code in asked:
            row = found.get(code)
            if row is None:
                continue
            if hosting.owns(pools.topology, db, row["node_code"], row["code"], row["provider_code"],
                            with_provider=True):
                served[code] = row
            else:
                hosting.dropped(db, "resource", row["code"], row["node_code"], row["provider_code"])
    return served, failures


async def usage_statistics(pools: NodePools, authority: Authority, since: datetime, until: datetime,
                           departments: Sequence[str] | None, nodes: Sequence[str] | None
                           ) -> tuple[list[Usage], list[str]]:
    """Use per consumer department -> resource (and its provider); supervisors of the region see all,
    others the resources their domains provide. One statement on the region, one per node for providers."""
    if until <= since:
        raise BadRequest("'until' must be after 'since'")
    provider_nodes = permitted_nodes(authority, pools, nodes)
    everything = nodes is None and pools.topology.region.code in authority.domains(Action.STATS_READ)
    rows = await pools.fetch(pools.topology.region.database_node, "statistics.usage", USAGE, since, until,
                             list(departments) if departments else None, None if everything else provider_nodes)
    providers, failures = await providers_of(pools, sorted({r["resource"] for r in rows}))
    usage = [Usage(r["department"], r["resource"],
                   providers[r["resource"]]["provider_code"] if r["resource"] in providers else None,
                   r["action"], int(r["requests"]), int(r["rows"]), int(r["requests_with_denials"]),
                   int(r["denied_fields"]), int(r["refused"])) for r in rows]
    return usage, sorted({f.node for f in failures})


async def record_reading(pools: NodePools, request_id: str, user: str, department: str, statistic: str,
                         rows: int) -> None:
    """Figures read from the audit trail (use, denials, grant use, assessment) are themselves audited:
    no record written, no figures returned."""
    await audit.append(pools, audit.AuditRecord(request_id, user, department, "stats.read", None, "audit_log",
                                                row_count=rows, outcome="ok", detail={"statistic": statistic}))
