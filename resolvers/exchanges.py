"""Data exchange (数据交换, seed §5.2): a department exports a resource, or a filtered part of it, as a file,
under a grant of its own that allows the EXCHANGE share mode.

Starting an export decides every item it touches exactly as a data query does (policies/decisions.py,
Casbin, deny wins), with the exchange grant as the only grant in play: UNCONDITIONAL items and the grant's
CONDITIONAL items may be exported, NOT_SHARED items never. Filters on a denied item refuse the export (the
refusal is audited), as do explicitly requested items that are denied. The grant's row scope becomes part
of every statement. The job is then run by resolvers/exchange_runs.py; this module holds the job records:
start, cancel, read, list. The grant it runs under is checked in exchange_grants.py, its download
links are signed in exchange_links.py.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from govshare.core.errors import BadRequest, FieldForbidden, InvalidTransition, LimitExceeded, NotFound
from govshare.federation.nodes import NodePools
from govshare.policies.decisions import Decision, PolicyEngine

from . import audit
from .data_cursors import convert
from .data_plans import _apply_scopes, _targets
from .data_requests import Condition, DataRequest
from .exchange_formats import check_format
from .exchange_grants import decider_for, spec_of, usable_grant
from .shared_data import forbidden_error
from .specs import DataResourceSpec

OPS = ("eq", "in", "gte", "lte", "is_null")
MAX_FILTERS = 20
# The register's declared update-timestamp column, if it has one of type timestamptz.
SELECT_CHANGE_COLUMN = """select c.change_column from register_change_columns c
    join pg_attribute a on a.attrelid = to_regclass('public.' || quote_ident(c.data_table))
     and a.attname = c.change_column and not a.attisdropped and a.atttypid = 'timestamptz'::regtype
    where c.data_table = $1"""
JOB_COLUMNS = """id, request_id, department, user_id, grant_id, resource_code, purpose, items, items_denied, conditions,
    nodes, format, since, state, rows_done, rows_total, attempts, max_attempts, created_at, started_at, finished_at,
    expires_at, file_name, file_bytes, digest, row_scope, next_watermark, audit_seq, error"""
# Stored only while the department has fewer than $14 open (queued or running) jobs: exports are heavy.
INSERT_JOB = f"""insert into exchange_jobs (request_id, department, user_id, grant_id, resource_code, purpose, items,
    items_denied, conditions, nodes, format, since, row_scope)
    select $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13
    where (select count(*) from exchange_jobs where department = $2 and state in ('queued', 'running')) < $14
    returning {JOB_COLUMNS}"""
MAX_OPEN_JOBS = 3
SELECT_JOB = f"select {JOB_COLUMNS} from exchange_jobs where id = $1"
SELECT_JOBS = f"""select {JOB_COLUMNS} from exchange_jobs where department = $1 and ($2::text is null or state = $2)
    order by id desc limit $3"""
CANCEL_JOB = f"""update exchange_jobs set state = 'cancelled', finished_at = clock_timestamp(), cancelled_by = $3,
    lease_until = null where id = $1 and department = $2 and state in ('queued', 'running') returning {JOB_COLUMNS}"""


@dataclass(frozen=True)
class ExportFilter:
    item: str
    op: str
    values: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportOrder:
    """What the caller asks for; ``items`` None: every item it may export."""

    grant_id: int
    format: str = "csv"
    items: list[str] | None = None
    filters: list[ExportFilter] = field(default_factory=list)
    nodes: list[str] | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class Exporter:
    """The caller of an export (kept free of HTTP and GraphQL types)."""

    request_id: str
    user: str
    department: str
    pools: NodePools
    engine: PolicyEngine
    specs: Sequence[DataResourceSpec]
    now: datetime
    client_request_id: str | None = None


@dataclass(frozen=True)
class Job:
    id: int
    department: str
    user: str
    grant_id: int
    resource: str
    purpose: str
    items: list[str]
    items_denied: list[str]
    conditions: list[dict[str, Any]]
    nodes: list[str] | None
    format: str
    since: datetime | None
    state: str
    rows_done: int
    rows_total: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    file_name: str | None
    file_bytes: int | None
    digest: str | None
    row_scope: list[str] | None
    next_watermark: datetime | None
    audit_seq: int | None
    error: str | None
    request_id: str = ""

    @classmethod
    def from_row(cls, r: Any) -> Job:
        conditions = r["conditions"]
        if isinstance(conditions, str):
            conditions = json.loads(conditions)
        return cls(r["id"], r["department"], r["user_id"], r["grant_id"], r["resource_code"], r["purpose"],
                   list(r["items"]), list(r["items_denied"]), list(conditions),
                   list(r["nodes"]) if r["nodes"] is not None else None, r["format"], r["since"], r["state"],
                   r["rows_done"], r["rows_total"], r["attempts"], r["created_at"], r["started_at"],
                   r["finished_at"], r["expires_at"], r["file_name"], r["file_bytes"], r["digest"],
                   list(r["row_scope"]) if r["row_scope"] is not None else None, r["next_watermark"],
                   r["audit_seq"], r["error"], r["request_id"])

    @property
    def extension(self) -> str:
        return self.format


class ExportRefused(FieldForbidden):
    """Items or filters the caller may not use: the export is refused before any data SQL, every denied
    item listed in ``extensions.denied``."""

    def __init__(self, message: str, denied: list[FieldForbidden]) -> None:
        super().__init__(message, denied=[e.extensions for e in denied])



def conditions_of(spec: DataResourceSpec, filters: Sequence[ExportFilter]) -> list[Condition]:
    if len(filters) > MAX_FILTERS:
        raise BadRequest(f"at most {MAX_FILTERS} filters", field="filters")
    found: list[Condition] = []
    for f in filters:
        item = spec.item(f.item)  # BAD_USER_INPUT for an unknown item
        if f.op not in OPS:
            raise BadRequest(f"filter op {f.op!r} is not one of {', '.join(OPS)}", field="filters",
                             accepted=list(OPS))
        try:
            if f.op == "is_null":
                if len(f.values) != 1 or f.values[0].lower() not in ("true", "false"):
                    raise ValueError("isNull takes one value: true or false")
                found.append(Condition(item.name, "is_null", f.values[0].lower() == "true"))
            elif f.op == "in":
                if not f.values:
                    raise ValueError("in takes one or more values")
                found.append(Condition(item.name, "in", [convert(v, item.data_type) for v in f.values]))
            else:
                if len(f.values) != 1:
                    raise ValueError(f"{f.op} takes exactly one value")
                found.append(Condition(item.name, f.op, convert(f.values[0], item.data_type)))
        except ValueError as exc:
            raise BadRequest(f"filter on {item.name}: {exc}", field="filters", item=item.name) from exc
    return found


def _denied(decisions: dict[str, Decision], names: Sequence[str], usage: str) -> list[FieldForbidden]:
    return [forbidden_error(decisions[n], usage) for n in names if not decisions[n].allowed]


async def start(exporter: Exporter, order: ExportOrder) -> Job:
    """Decide, then store the job (queued); the runner picks it up. Refusals are audited."""
    fmt = check_format(order.format)
    pools = exporter.pools
    grant_row = await usable_grant(pools, exporter.department, order.grant_id, "exchange", exporter.now)
    spec = spec_of(exporter.specs, grant_row["resource_code"])
    names = list(dict.fromkeys(order.items)) if order.items is not None else [i.name for i in spec.items]
    for name in names:
        spec.item(name)
    if not names:
        raise BadRequest("items: name one or more items, or leave items out for every item you may export",
                         field="items")
    conditions = conditions_of(spec, order.filters)
    request = DataRequest(spec, names, conditions, nodes=order.nodes, purpose=grant_row["purpose"])
    _targets(pools, spec, order.nodes)  # unknown nodes are refused here
    used = dict.fromkeys([*names, *(c.item for c in conditions)])
    decider = decider_for(exporter.engine, exporter.department, grant_row, exporter.now)
    decisions = await decider.decide([spec.policy(n) for n in used], "read", grant_row["purpose"])
    decisions, scope = _apply_scopes(spec, request, decisions)
    record = audit.AuditRecord(exporter.request_id, exporter.user, exporter.department, "exchange",
                               grant_row["purpose"], spec.code, grant_ids=[grant_row["id"]],
                               client_request_id=exporter.client_request_id)
    refused = _denied(decisions, list(dict.fromkeys(c.item for c in conditions)), "filter")
    if order.items is not None:
        refused += _denied(decisions, names, "export")
    allowed = [n for n in names if decisions[n].allowed]
    if refused or not allowed:
        record.items_denied = sorted({e.extensions["item"] for e in refused} or set(names))
        record.outcome = "refused"
        await audit.append(pools, record)
        raise ExportRefused("the export is refused: " + ("; ".join(e.message for e in refused) or
                                                         "none of the resource's items may be exported"), refused)
    if order.since is not None and not await change_column(pools, spec):
        raise BadRequest(f"register {spec.table} declares no update-timestamp column: incremental exchange "
                         "(since) is not available for it", field="since")
    denied = [n for n in names if not decisions[n].allowed]
    rows = await pools.fetch(pools.topology.region.database_node, "exchange.insert", INSERT_JOB,
                             exporter.request_id, exporter.department, exporter.user, grant_row["id"], spec.code,
                             grant_row["purpose"], allowed, denied,
                             json.dumps([{"item": c.item, "op": c.op, "value": _jsonable(c.value)}
                                         for c in conditions], ensure_ascii=False),
                             order.nodes, fmt, order.since, scope, MAX_OPEN_JOBS)
    if not rows:
        raise LimitExceeded(f"your department has {MAX_OPEN_JOBS} exports queued or running: wait for one to "
                            "finish (or cancel one)", limit="openExports", maximum=MAX_OPEN_JOBS)
    runner = installed(pools)
    if runner is not None:
        runner.wake()  # this process starts it now; the others would find it within their poll interval
    return Job.from_row(rows[0])


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def stored_conditions(spec: DataResourceSpec, job: Job) -> list[Condition]:
    """The job's filters as typed conditions again (they were checked when it started)."""
    found = []
    for c in job.conditions:
        item = spec.item(c["item"])
        value = c["value"]
        if c["op"] == "in":
            value = [convert(v, item.data_type) for v in value]
        elif c["op"] != "is_null":
            value = convert(value, item.data_type)
        found.append(Condition(item.name, c["op"], value))
    return found


async def change_column(pools: NodePools, spec: DataResourceSpec) -> str | None:
    database = pools.topology.node(spec.node).database_node
    rows = await pools.fetch(database, "exchange.change_column", SELECT_CHANGE_COLUMN, spec.table)
    return str(rows[0]["change_column"]) if rows else None


async def job(pools: NodePools, department: str, job_id: int) -> Job:
    rows = await pools.fetch(pools.topology.region.database_node, "exchange.job", SELECT_JOB, job_id)
    if not rows or rows[0]["department"] != department:
        raise NotFound(f"your department has no export job {job_id}", field="id")
    return Job.from_row(rows[0])


async def jobs(pools: NodePools, department: str, state: str | None = None, limit: int = 100) -> list[Job]:
    rows = await pools.fetch(pools.topology.region.database_node, "exchange.jobs", SELECT_JOBS, department, state,
                             max(1, min(limit, 500)))
    return [Job.from_row(r) for r in rows]


async def cancel(pools: NodePools, department: str, user: str, job_id: int) -> Job:
    rows = await pools.fetch(pools.topology.region.database_node, "exchange.cancel", CANCEL_JOB, job_id,
                             department, user)
    if rows:
        return Job.from_row(rows[0])
    current = await job(pools, department, job_id)  # NOT_FOUND when it is not the caller's
    raise InvalidTransition(f"export job {job_id} is {current.state}: only a queued or running job can be "
                            "cancelled", state=current.state, allowed=["queued", "running"])


# --- the process's part: link key and the runner to wake ------------------------------------------------

@dataclass(frozen=True)
class Installed:
    link_key: bytes
    wake: Callable[[], None]


_installed: weakref.WeakKeyDictionary[NodePools, Installed] = weakref.WeakKeyDictionary()


def install(pools: NodePools, link_key: bytes, wake: Callable[[], None]) -> None:
    """The app installs the key its download links are signed with and its runner's wake-up call."""
    _installed[pools] = Installed(link_key, wake)


def installed(pools: NodePools) -> Installed | None:
    return _installed.get(pools)
