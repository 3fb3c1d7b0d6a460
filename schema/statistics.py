"""Supervision statistics (监督考核): catalog counts grouped as a dashboard asks, use of shared data from
the audit trail, and the audit records themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from govshare.resolvers import audit_pages, statistics
from govshare.resolvers.context import Context

from .common import PageInfo
from .scalars import BigInt


@strawberry.enum(description="A dimension to group catalog counts by.")
class CatalogDimension(Enum):
    NODE = "NODE"
    PROVIDER = "PROVIDER"
    LEVEL = "LEVEL"
    CLASSIFICATION = "CLASSIFICATION"
    SHARE_CLASS = "SHARE_CLASS"
    SHARE_MODE = "SHARE_MODE"
    UPDATE_CYCLE = "UPDATE_CYCLE"
    STATUS = "STATUS"


@strawberry.type(description="One group's counts. Keys not grouped by are null.")
class CatalogCountRow:
    node: str | None
    provider: str | None
    level: str | None = strawberry.field(
        description="The providers' level (region, prefecture, county) their codes say, as Resource.providerLevel.")
    classification: str | None
    share_class: str | None
    share_mode: str | None = strawberry.field(
        description="A resource offering several modes counts once under each ('none': it offers none).")
    update_cycle: str | None
    status: str | None
    resources: int
    data_items: int
    unconditional_items: int
    conditional_items: int
    not_shared_items: int
    not_shared_without_legal_basis: int = strawberry.field(
        description="NOT_SHARED items that cite no law or regulation (a supervision finding).")
    missing_uyghur_names: int
    missing_kazakh_names: int
    overdue_updates: int = strawberry.field(
        description="Changes of law or duties whose 15-working-day catalog update is past due and open.")
    stale_resources: int = strawberry.field(
        description="Resources whose data changed last longer ago than the declared update cycle allows "
                    "(realtime and daily: 1 day, weekly: 7 days, monthly, quarterly, half-yearly, yearly).")
    freshness_unknown: int = strawberry.field(
        description="Resources with a data table whose register declares no change column, or holds no rows.")
    share_ratio: float | None = strawberry.field(
        description="(unconditional + conditional items) / all items; null without items.")

    @classmethod
    def of(cls, row: statistics.CatalogCounts) -> CatalogCountRow:
        k = row.keys
        return cls(node=k.get("NODE"), provider=k.get("PROVIDER"), level=k.get("LEVEL"),
                   classification=k.get("CLASSIFICATION"), share_class=k.get("SHARE_CLASS"),
                   share_mode=k.get("SHARE_MODE"), update_cycle=k.get("UPDATE_CYCLE"), status=k.get("STATUS"),
                   resources=row.resources, data_items=row.items, unconditional_items=row.unconditional,
                   conditional_items=row.conditional, not_shared_items=row.not_shared,
                   not_shared_without_legal_basis=row.no_basis, missing_uyghur_names=row.missing_ug,
                   missing_kazakh_names=row.missing_kk, overdue_updates=row.overdue_updates,
                   stale_resources=row.stale, freshness_unknown=row.freshness_unknown,
                   share_ratio=row.share_ratio)


@strawberry.type
class CatalogStatistics:
    rows: list[CatalogCountRow]
    unavailable_nodes: list[str] = strawberry.field(description="Nodes whose counts are missing.")


@strawberry.type(description="Use of one resource by one consumer department in the period.")
class UsageRow:
    department: str
    resource: str
    provider: str | None
    action: str = strawberry.field(description="read (data queries) or verify.")
    requests: int
    rows: int
    requests_with_denials: int
    denied_fields: int
    refused: int = strawberry.field(description="Queries refused before any data SQL (filters/sorts on denied items).")


@strawberry.type
class UsageStatistics:
    rows: list[UsageRow]
    unavailable_nodes: list[str]


@strawberry.type(description="One record of the tamper-evident audit trail.")
class AuditRecord:
    seq: BigInt = strawberry.field(description="Global index of the record; not under the HMAC and not commit "
                                               "order across lanes: lane, laneSeq and hash name the record as the "
                                               "chain does. A BigInt (a string of digits), as it can pass 2^31 "
                                               "(it counts the whole trail).")
    lane: int = strawberry.field(description="The audit lane (one keyed chain per writer process) of the record.")
    lane_seq: BigInt = strawberry.field(description="The record's number in its lane (1, 2, 3...: commit order); a "
                                                    "BigInt (a string of digits), as it can pass 2^31.")
    hash: str = strawberry.field(description="The record's HMAC-SHA256 (hex), as `govshare audit verify` checks it.")
    at: datetime
    request_id: str
    client_request_id: str | None
    user: str
    department: str
    action: str
    purpose: str | None
    grant_ids: list[int]
    resource: str
    items_returned: list[str]
    items_denied: list[str]
    denied_reasons: list[str] = strawberry.field(
        description="Why each denied item was denied, in the order of itemsDenied (empty before they were recorded).")
    row_count: int
    nodes: list[str]
    outcome: str


@strawberry.enum(description="The order auditRecords pages in: commit order (the transaction that appended a "
                              "record, then seq), which records committing later cannot enter behind a cursor.")
class AuditOrder(Enum):
    NEWEST_FIRST = "NEWEST_FIRST"
    OLDEST_FIRST = "OLDEST_FIRST"


@strawberry.type
class AuditRecordEdge:
    cursor: str = strawberry.field(description="Pass as 'after' (with the same order) to continue after this record.")
    node: AuditRecord


@strawberry.type
class AuditRecordPage:
    records: list[AuditRecord] = strawberry.field(description="The records of this page (the nodes of edges).")
    edges: list[AuditRecordEdge]
    page_info: PageInfo = strawberry.field(
        description="endCursor: pass as 'after' for the next page. A page without records has none: keep "
                    "the cursor you had (oldest first, new records come after it).")
    has_next_page: bool
    next_before: BigInt | None = strawberry.field(
        description="Pass as 'before' for the next (older) page by seq. Given only on pages by seq: those with "
                    "'before', and a first page that asks nextBefore but neither edges nor pageInfo (a client "
                    "of this deprecated paging is paged by seq from its first page on); null otherwise.",
        deprecation_reason="seq is not commit order across lanes: a page boundary by seq can skip a record. "
                           "Use 'after' with pageInfo.endCursor.")


def _asks(selections: list[Selection], names: set[str]) -> bool:
    """Whether a selection (through fragments) asks for any of ``names`` at its own level."""
    return any(sel.name in names if isinstance(sel, SelectedField) else _asks(sel.selections, names)
               for sel in selections)


def _pages_by_seq(info: Info[Context, None], before: BigInt | None, after: str | None, order: AuditOrder) -> bool:
    """A client of the deprecated before/nextBefore (it asks nextBefore, not edges or pageInfo) is paged by seq
    from its first page on: a first page in commit order gives no seq to go on from by seq without skipping."""
    if before is not None:
        return True
    fields = info.selected_fields
    return after is None and order is AuditOrder.NEWEST_FIRST \
        and any(_asks(f.selections, {"nextBefore"}) for f in fields) \
        and not any(_asks(f.selections, {"edges", "pageInfo"}) for f in fields)


@strawberry.type
class StatisticsQuery:
    @strawberry.field(description="Catalog counts grouped by up to four dimensions, computed on each node "
                                  "(one statement per node database). Needs stats.read (supervisor, "
                                  "policy admin); a prefecture's domain sees only its node. Statuses: "
                                  "draft, submitted, published (default), retired.")
    async def catalog_statistics(self, info: Info[Context, None], group_by: list[CatalogDimension],
                                 nodes: list[str] | None = None,
                                 statuses: list[str] | None = None) -> CatalogStatistics | None:
        context = info.context
        result = await statistics.catalog_statistics(
            context.pools, context.authority, [d.value for d in group_by], nodes, statuses, context.now)
        return CatalogStatistics(rows=[CatalogCountRow.of(r) for r in result.rows],
                                 unavailable_nodes=result.unavailable)

    @strawberry.field(description="Data queries and verifications per consumer department and resource in "
                                  "[since, until) (default: the last 30 days), read from the audit trail. "
                                  "Needs stats.read; a prefecture's domain sees the use of its own resources.")
    async def usage_statistics(self, info: Info[Context, None], since: datetime | None = None,
                               until: datetime | None = None, departments: list[str] | None = None,
                               nodes: list[str] | None = None) -> UsageStatistics | None:
        context = info.context
        end = until or context.now
        rows, unavailable = await statistics.usage_statistics(
            context.pools, context.authority, since or end - timedelta(days=30), end, departments, nodes)
        await statistics.record_reading(context.pools, context.request_id, context.caller.user,
                                        context.caller.department, "usageStatistics", len(rows))
        return UsageStatistics(rows=[UsageRow(**vars(r)) for r in rows], unavailable_nodes=unavailable)

    @strawberry.field(description="Audit records in commit order, newest first unless order: OLDEST_FIRST "
                                  "(keyset pages: pass pageInfo.endCursor as after). A page boundary never skips "
                                  "or repeats a record while lanes append: only settled records are read (every "
                                  "transaction that could still add one before them has ended), so a record "
                                  "committing later sorts after every cursor handed out. Supervisors (audit.read "
                                  "in the region) read all; anyone else only their own department's. Reading is "
                                  "itself audited.")
    async def audit_records(
            self, info: Info[Context, None], first: int = 50, after: str | None = None,
            order: AuditOrder = AuditOrder.NEWEST_FIRST,
            before: Annotated[BigInt | None, strawberry.argument(
                deprecation_reason="Pages by seq, which is not commit order across lanes (a page boundary can "
                                   "skip a record): use 'after'.")] = None,
            departments: list[str] | None = None, resource: str | None = None, since: datetime | None = None,
            until: datetime | None = None, outcomes: list[str] | None = None,
            lane: int | None = None) -> AuditRecordPage | None:
        context = info.context
        page = await audit_pages.audit_records(
            context.pools, context.authority, context.request_id, context.caller.user,
            context.caller.department, departments=departments, resource=resource, since=since, until=until,
            outcomes=outcomes, first=first, after=after, order=audit_pages.Order[order.value], before=before,
            lane=lane, by_seq=_pages_by_seq(info, before, after, order))
        records = [AuditRecord(seq=r["seq"], lane=r["lane"], lane_seq=r["lane_seq"], hash=r["hash"], at=r["at"],
                               request_id=r["request_id"], client_request_id=r["client_request_id"],
                               user=r["user_id"], department=r["department"], action=r["action"],
                               purpose=r["purpose"], grant_ids=list(r["grant_ids"]), resource=r["resource"],
                               items_returned=list(r["items_returned"]), items_denied=list(r["items_denied"]),
                               denied_reasons=list(r["denied_reasons"]),
                               row_count=r["row_count"], nodes=list(r["nodes"]), outcome=r["outcome"])
                   for r in page.rows]
        edges = [AuditRecordEdge(cursor=c, node=r) for c, r in zip(page.cursors, records, strict=True)]
        # The deprecated pages by seq are no prefix of commit order: their last record is no place to go on from.
        end = edges[-1].cursor if edges and page.settled else None
        return AuditRecordPage(records=records, edges=edges,
                               page_info=PageInfo(has_next_page=page.has_next and end is not None, end_cursor=end),
                               has_next_page=page.has_next,
                               # by seq only: a seq goes on from a page by seq, never from one in commit order
                               next_before=records[-1].seq if records and page.has_next and not page.settled
                               else None)
