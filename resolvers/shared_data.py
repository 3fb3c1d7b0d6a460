"""Queries of the shared data itself, decided field by field before any SQL runs.

Order of work for one data query:
1. decide every item the query touches (selected, filtered, sorted) once, for this department,
   purpose and action; refuse filters and sorts on denied items before any data SQL;
2. select only the permitted selected columns, with the grant's row scope compiled into the WHERE;
3. run the page on every database holding the resource, concurrently, within per-node timeouts,
   ordered by the caller's sort (a permitted item) or by the neutral (node_code, row_id);
4. merge the pages, append the audit record (no record, no data), return.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg

from govshare.core.errors import AuditUnavailable, BadRequest, FieldForbidden, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.federation.pagination import Positions, merge_resumable
from govshare.policies.decisions import AccessDecider, Decision, Reason

from . import audit
from .data_cursors import Cursors, Key, _position_order, convert, decode_cursor
from .data_plans import COUNT_HEAD, _apply_scopes, _order_sql, _q, _targets, _where
from .data_requests import MAX_FIRST, SCOPE_ITEM, Condition, DataRequest, Order
from .specs import DataItemSpec
from .values import check as check_value

# The data query's vocabulary, used by the schema's generated fields and the subgraph's entities.
__all__ = ["MAX_FIRST", "Caller", "Condition", "DataPage", "DataRequest", "Order", "RefusedQuery", "convert",
           "decided_again", "forbidden_error", "read", "typed_value"]

T = TypeVar("T")
logger = logging.getLogger(__name__)
ACCESS_RETRIES = 3  # decisions made again when rules or grants change under a request (then fail closed)
HEAVY_ROWS = 250  # a page this long takes milliseconds to answer from: a heavy step (core/turns.py)


@dataclass
class DataPage:
    records: Sequence[asyncpg.Record]  # the page's rows as the databases returned them
    columns: dict[str, int]  # each permitted selected item -> its position in a record
    cursors: Sequence[str]
    has_next: bool
    denied: list[Decision]
    unavailable: list[str]
    total: int | None
    row_scope: list[str] | None
    grant_ids: list[int]

    @functools.cached_property
    def rows(self) -> list[dict[str, Any]]:
        """Each row as item -> value: exactly the permitted selected items, and the denied ones as None
        (shaped on first use: a direct read shapes its answer from the records instead)."""
        allowed = list(self.columns)
        positions = list(self.columns.values())
        nulls = [(d.item, None) for d in self.denied]
        if positions == list(range(2, 2 + len(allowed))):
            # The permitted items follow row_id and node_code in order: one slice per row (2.5x faster than
            # reading each column by position on 1,000 rows).
            end = 2 + len(allowed)
            shaped = [dict(zip(allowed, row[2:end], strict=True)) for row in self.records]
            if nulls:
                for values in shaped:
                    values.update(nulls)
            return shaped
        return [dict([*zip(allowed, [row[i] for i in positions], strict=True), *nulls]) for row in self.records]


class RefusedQuery(Exception):
    """Filters or sorts on denied items: the query is refused before any data SQL, one error each."""

    def __init__(self, errors: list[FieldForbidden]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


@dataclass
class Caller:
    """The parts of the request a data query needs (kept free of HTTP and GraphQL types)."""

    request_id: str
    user: str
    department: str
    decider: AccessDecider
    pools: NodePools
    client_request_id: str | None = None  # the caller's X-Request-Id: for correlation, never trusted as unique


def denial_reason(decision: Decision) -> str:
    """The reason code an audit record keeps for a denied item (statistics count denials by it)."""
    return (decision.reason or Reason.POLICY_DENIED).value


async def decided_again(decider: AccessDecider, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` (decide, read, append the record); when its record was refused because rules or grants
    changed after it decided, decide again on the new ones and run it again, a few times at most."""
    for _attempt in range(ACCESS_RETRIES):
        try:
            return await work()
        except audit.AccessChanged as changed:
            await decider.renew(changed.version)
    raise AuditUnavailable("access rules or grants kept changing during the query, so no data is returned; "
                           "try again")


def forbidden_error(decision: Decision, usage: str) -> FieldForbidden:
    policy = decision.policy
    reason = decision.reason or Reason.POLICY_DENIED
    extensions: dict[str, Any] = {
        "shareClass": policy.share_class, "resource": policy.resource, "item": policy.item,
        "reason": reason.value, "usage": usage,
    }
    if policy.share_class == "NOT_SHARED":
        extensions["legalBasis"] = policy.legal_basis
        message = f"{policy.item} is not shared ({policy.legal_basis})"
    else:
        if policy.share_class == "CONDITIONAL":
            extensions["condition"] = policy.condition
        how = decision.how_to_request()  # fits the reason: a deny rule names the rule and the admin domain
        if how is not None:
            extensions["howToRequest"] = how
        if decision.deny_rules:
            extensions["rules"] = [r.id for r in decision.deny_rules]
        message = f"{policy.item} is not available to your department: {reason.value}"
    return FieldForbidden(message, **extensions)


async def read(caller: Caller, request: DataRequest) -> DataPage:
    """One data query; a query that fails unexpectedly still leaves a record (outcome ``error``)."""
    return await audit.failures_recorded(
        decided_again(caller.decider, lambda: _read(caller, request)),
        audit.AuditRecord(caller.request_id, caller.user, caller.department, "read", request.purpose,
                          request.spec.code, outcome="error", client_request_id=caller.client_request_id),
        caller.pools, (RefusedQuery,))


async def _read(caller: Caller, request: DataRequest) -> DataPage:
    spec = request.spec
    if request.first < 0:
        raise BadRequest("'first' must not be negative")
    first = min(request.first, MAX_FIRST)
    used = dict.fromkeys([*request.selected, *(c.item for c in request.conditions),
                          *([request.order.item] if request.order.item else [])])
    decisions = await caller.decider.decide([spec.policy(name) for name in used], "read", request.purpose)
    decisions, scope = _apply_scopes(spec, request, decisions)
    record = audit.AuditRecord(caller.request_id, caller.user, caller.department, "read", request.purpose,
                               spec.code, client_request_id=caller.client_request_id)

    refused = [(d, "filter") for c in request.conditions if not (d := decisions[c.item]).allowed]
    if request.order.item and not decisions[request.order.item].allowed:
        refused.append((decisions[request.order.item], "orderBy"))
    if refused:
        first_refusal = {d.item: d for d, _ in reversed(refused)}
        record.items_denied = sorted(first_refusal)
        record.denied_reasons = [denial_reason(first_refusal[item]) for item in record.items_denied]
        record.outcome = "refused"
        record.access_version = caller.decider.version
        await audit.append(caller.pools, record)
        raise RefusedQuery([forbidden_error(d, usage) for d, usage in refused])

    after: Positions[Key] = decode_cursor(request.after, request.order, spec)["positions"] if request.after \
        else Positions()
    allowed = [name for name in request.selected if decisions[name].allowed]
    denied = [decisions[name] for name in request.selected if not decisions[name].allowed]
    # The row-scope item is read (last, never returned) when the rows are restricted to divisions: the
    # restriction is SQL on the node's server, and the service checks each row against it (_own_rows).
    wanted = dict.fromkeys(["row_id", "node_code", *allowed, *([request.order.item] if request.order.item else []),
                            *([SCOPE_ITEM] if scope is not None else [])])
    columns = ", ".join(_q(c) for c in wanted)
    at = {name: i for i, name in enumerate(wanted)}
    expected = _Expected(
        scope_at=at[SCOPE_ITEM] if scope is not None else None, scope=frozenset(scope or ()),
        region=caller.pools.topology.region.code,
        order_at=at[request.order.item] if request.order.item else None,
        order_types=ORDER_TYPES[spec.item(request.order.item).data_type] if request.order.item else frozenset())
    targets = _targets(caller.pools, spec, request.nodes, scope)

    async def one(db: str, nodes: list[str] | None) -> tuple[list[asyncpg.Record], int | None]:
        position = after.of(db)  # each database continues from its own position
        cursor = None if position is None else {"n": position[0], "r": position[1], "v": position[2]}
        where = _where(request, nodes, scope, cursor)
        limit = where.param(first + 1)
        page_sql = "select " + columns + " from " + _q(spec.table) + " where " + where.sql() + \
            _order_sql(request.order) + " limit " + limit
        page = caller.pools.fetch(db, "data.page", page_sql, *where.args)
        if not request.want_total:
            return _own_rows(db, nodes, await page, expected), None  # one statement: awaited here, without a task of its own
        count_where = _where(request, nodes, scope, None)
        count = caller.pools.fetch(db, "data.count", COUNT_HEAD + _q(spec.table) + " where " + count_where.sql(),
                                   *count_where.args)
        rows, counted = await asyncio.gather(page, count)
        return _own_rows(db, nodes, rows, expected), counted[0]["n"]

    async def guarded(db: str, nodes: list[str] | None) -> tuple[list[asyncpg.Record], int | None] | NodeUnavailable:
        try:
            return await one(db, nodes)
        except NodeUnavailable as exc:
            return exc

    # The audit batch being written meanwhile may wait for this request's record (audit.expecting); from
    # here to the append below nothing awaits.
    with audit.expecting(caller.pools):
        if len(targets) == 1:  # one database: no task to gather
            ((only, only_nodes),) = targets.items()
            outcomes = {only: await guarded(only, only_nodes)}
        else:
            outcomes = dict(zip(targets, await asyncio.gather(*(guarded(db, n) for db, n in targets.items())),
                                strict=True))
    topology = caller.pools.topology
    unavailable: list[str] = []
    answered: list[str] = []
    pages: dict[str, list[asyncpg.Record]] = {}
    total: int | None = 0
    for db, outcome in outcomes.items():
        nodes = targets[db] or list(topology.hosted_on(db))
        if isinstance(outcome, NodeUnavailable):
            unavailable.extend(nodes)
            continue
        answered.extend(nodes)
        pages[db] = outcome[0]
        if total is not None and outcome[1] is not None:
            total += outcome[1]
    order_item = request.order.item
    # row_id and node_code are the first two columns
    merged = merge_resumable(pages, [db for db in outcomes if db not in pages], after,
                             position=lambda row: (row[1], row[0], row[order_item] if order_item else None),
                             order=_position_order(request.order), first=first)
    rows, has_next = merged.rows, merged.has_next
    grant_ids = sorted({d.grant.id for d in decisions.values() if d.allowed and d.grant is not None})

    record.grant_ids = grant_ids
    record.items_returned = allowed
    record.items_denied = [d.item for d in denied]
    record.denied_reasons = [denial_reason(d) for d in denied]
    record.row_count = len(rows)
    record.nodes = sorted(answered)
    record.outcome = "partial" if unavailable else "ok"
    record.access_version = caller.decider.version
    await audit.append(caller.pools, record)  # raises AuditUnavailable: then nothing is returned
    if len(rows) >= HEAVY_ROWS:
        # The caller builds its answer from these rows in the step this returns to: milliseconds for a long
        # page. The pages of one audit batch all resume at once: each takes a turn of its own.
        await caller.pools.turns.take()

    # The permitted selected items are read by column position (DataPage.rows, or a direct read's shape);
    # cursors keep only their keys (row_id and node_code are the first two columns) and are encoded when read.
    column = {name: i for i, name in enumerate(wanted)}
    cursors = Cursors(request.order, merged)
    return DataPage(rows, {name: column[name] for name in allowed}, cursors, has_next, denied, sorted(unavailable),
                    total if request.want_total and not unavailable else None, scope, grant_ids)


@dataclass(frozen=True)
class _Expected:
    """What every row of a database's answer must be besides its node, checked in the service."""
    scope_at: int | None = None  # column of the row-scope item when the rows are restricted to divisions
    scope: frozenset[str] = frozenset()
    region: str = ""  # the region node, whose rows may be of any division
    order_at: int | None = None  # column of the order item: the merge compares its values across databases
    order_types: frozenset[type] = frozenset()


NOTHING_MORE = _Expected()
# The Python type of each item data type as the driver reads it: an order value of another type cannot be
# compared with other databases' values (and would fail the merge of every node's rows).
ORDER_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}), "integer": frozenset({int}), "decimal": frozenset({Decimal, int, float}),
    "date": frozenset({date}), "datetime": frozenset({datetime}), "boolean": frozenset({bool}),
}


def _own_rows(database: str, nodes: list[str] | None, rows: list[asyncpg.Record],
              expected: _Expected = NOTHING_MORE) -> list[asyncpg.Record]:
    """The rows, if every one is of a node the database was asked for (node_code is the second column),
    within the divisions asked for, and with an order value of the order item's type.

    The SQL asked for exactly that, but it runs on the server it is meant to distrust: a row beyond it means
    the server does not answer as asked, and nothing it answered is served (the node is reported
    unavailable; the other nodes' rows are kept).
    """
    asked = None if nodes is None else frozenset(nodes)  # None: the region's own database, trusted
    scope_at, scope, order_at, types = expected.scope_at, expected.scope, expected.order_at, expected.order_types
    if asked is None and scope_at is None and order_at is None:
        return rows
    for row in rows:
        if asked is not None and row[1] not in asked:
            problem = f"a row of node {row[1]!r}"
        elif scope_at is not None and (row[scope_at] not in scope or (
                row[1] != expected.region and str(row[scope_at])[:4] != str(row[1])[:4])):
            # A prefecture's divisions share its code's first 4 digits (650102 is Urumqi's, 650100's): its
            # database cannot place its rows in another prefecture's division, and so in that one's scope.
            problem = f"a row of node {row[1]!r} in division {row[scope_at]!r}, outside the divisions asked for"
        elif order_at is not None and row[order_at] is not None and type(row[order_at]) not in types:
            problem = f"an order value of type {type(row[order_at]).__name__}"
        else:
            continue
        logger.warning("database %s answered %s: its answer is refused", database, problem)
        raise NodeUnavailable(database, "answered rows it was not asked for")
    return rows


def typed_value(item: DataItemSpec, value: str) -> Any:
    """A caller-supplied text value as the item's type (for verification)."""
    try:
        typed = convert(value.strip(), item.data_type)
    except ValueError as exc:
        raise BadRequest(f"value for {item.name} is not a valid {item.data_type}", item=item.name) from exc
    return check_value(typed, f"value for {item.name}")
