"""Data exchange (bulk export) in GraphQL: start, follow, cancel export jobs; fetch the file by its link."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from govshare.resolvers import exchange_links, exchanges
from govshare.resolvers.context import Context


@strawberry.enum(description="File format of an export: CSV (UTF-8, header row), NDJSON, or Parquet (only "
                             "with the optional extra govshare[parquet]).")
class ExchangeFormat(Enum):
    CSV = "csv"
    NDJSON = "ndjson"
    PARQUET = "parquet"


@strawberry.enum(description="Where an export job stands.")
class ExchangeJobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@strawberry.enum(description="A filter operator; IS_NULL takes one value, true or false.")
class ExportFilterOp(Enum):
    EQ = "eq"
    IN = "in"
    GTE = "gte"
    LTE = "lte"
    IS_NULL = "is_null"


@strawberry.input(description="A filter on one item; values as text in the item's type (dates YYYY-MM-DD).")
class ExportFilterInput:
    item: str
    op: ExportFilterOp
    values: list[str]


@strawberry.type(description="A bulk export (数据交换) of a resource under an exchange grant.")
class ExchangeJob:
    id: int
    grant_id: int
    resource: str
    purpose: str
    items: list[str] = strawberry.field(description="The columns of the file, in order.")
    items_denied: list[str] = strawberry.field(description="Items of the resource left out (not permitted).")
    format: ExchangeFormat
    since: datetime | None = strawberry.field(description="Incremental: rows changed after this watermark.")
    state: ExchangeJobState
    rows_done: int
    rows_total: int | None = strawberry.field(description="Rows to export, known once the run has counted them.")
    attempts: int
    row_scope: list[str] | None = strawberry.field(description="Division codes the grant restricts rows to.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = strawberry.field(description="The file and its link are gone after this.")
    file_bytes: int | None
    sha256: str | None = strawberry.field(description="SHA-256 of the file, also in the audit record.")
    next_watermark: datetime | None = strawberry.field(
        description="Pass it back as `since` for the rows changed after this export.")
    error: str | None
    download_url: str | None = strawberry.field(
        description="Path of the file (GET with your bearer token) while the job is DONE; expires at expiresAt.")

    @classmethod
    def of(cls, job: exchanges.Job, link_key: bytes | None) -> ExchangeJob:
        return cls(id=job.id, grant_id=job.grant_id, resource=job.resource, purpose=job.purpose, items=job.items,
                   items_denied=job.items_denied, format=ExchangeFormat(job.format), since=job.since,
                   state=ExchangeJobState(job.state), rows_done=job.rows_done, rows_total=job.rows_total,
                   attempts=job.attempts, row_scope=job.row_scope, created_at=job.created_at,
                   started_at=job.started_at, finished_at=job.finished_at, expires_at=job.expires_at,
                   file_bytes=job.file_bytes, sha256=job.digest, next_watermark=job.next_watermark,
                   error=job.error,
                   download_url=exchange_links.download_path(link_key, job) if link_key is not None else None)


def _key(info: Info[Context, None]) -> bytes | None:
    found = exchanges.installed(info.context.pools)
    return found.link_key if found is not None else None


async def export_job(info: Info[Context, None], id: int) -> ExchangeJob:
    ctx = info.context
    return ExchangeJob.of(await exchanges.job(ctx.pools, ctx.caller.department, id), _key(info))


async def export_jobs(info: Info[Context, None], state: ExchangeJobState | None = None) -> list[ExchangeJob]:
    ctx = info.context
    key = _key(info)
    return [ExchangeJob.of(j, key) for j in await exchanges.jobs(ctx.pools, ctx.caller.department,
                                                                  state.value if state else None)]


@strawberry.type
class ExchangeQuery:
    export_job: ExchangeJob = strawberry.field(resolver=export_job, description="One of your department's exports.")
    export_jobs: list[ExchangeJob] = strawberry.field(resolver=export_jobs,
                                                      description="Your department's exports, newest first.")


@strawberry.type
class ExchangeMutation:
    @strawberry.mutation(description="Export a resource (or a filtered part) under your grant that allows EXCHANGE: "
                                     "only permitted items and rows, NOT_SHARED never. Runs as a job; fetch the file "
                                     "from downloadUrl when it is DONE. `since`: only rows changed after a watermark "
                                     "(nextWatermark of an earlier export).")
    async def start_export(self, info: Info[Context, None], grant_id: int, format: ExchangeFormat = ExchangeFormat.CSV,
                           items: list[str] | None = None, filters: list[ExportFilterInput] | None = None,
                           nodes: list[str] | None = None, since: datetime | None = None) -> ExchangeJob:
        ctx = info.context
        exporter = exchanges.Exporter(ctx.request_id, ctx.caller.user, ctx.caller.department, ctx.pools, ctx.engine,
                                      ctx.specs, ctx.now, ctx.client_request_id)
        order = exchanges.ExportOrder(grant_id, format.value, items,
                                      [exchanges.ExportFilter(f.item, f.op.value, f.values) for f in filters or []],
                                      nodes, since)
        return ExchangeJob.of(await exchanges.start(exporter, order), _key(info))

    @strawberry.mutation(description="Cancel one of your department's queued or running exports.")
    async def cancel_export(self, info: Info[Context, None], id: int) -> ExchangeJob:
        ctx = info.context
        return ExchangeJob.of(await exchanges.cancel(ctx.pools, ctx.caller.department, ctx.caller.user, id),
                              _key(info))
