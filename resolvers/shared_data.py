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
import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, overload

import asyncpg
import orjson

from core.errors import BadRequest, FieldForbidden, NodeUnavailable
from federation.nodes import NodePools
from federation.pagination import DATABASE_CODE, Positions, Resumable, merge_resumable
from policies.decisions import AccessDecider, Decision, Reason

from . import audit
from .specs import ALL_NODES, DataItemSpec, DataResourceSpec
from .sql import Where
from .values import check as check_value

MAX_FIRST = 1000
SCOPE_ITEM = "division_code"

COUNT_HEAD = "select count(*) as n from "


@dataclass(frozen=True)
class Condition:
    item: str
    op: str  # eq | in | gte | lte | is_null
    value: Any


@dataclass(frozen=True)
class Order:
    item: str | None = None
    descending: bool = False


@dataclass
class DataRequest:
    spec: DataResourceSpec
    selected: list[str]
    conditions: list[Condition] = field(default_factory=list)
    order: Order = field(default_factory=Order)
    first: int = 100
    after: str | None = None
    nodes: list[str] | None = None
    purpose: str | None = None
    want_total: bool = False


Key = tuple[str, int, Any]  # (node_code, row_id, value of the ordering item): a row's place in the order


class Cursors(Sequence[str]):
    """A page's cursors, encoded only when read: most queries select rows, not edges, and a
    1,000-row page would otherwise encode 1,000 cursors for at most one ``endCursor``.

    Each cursor holds the row's key and, only when some database lags behind it (it did not answer,
    or has not caught up since), that database's own position, so the next page resumes it there."""

    def __init__(self, order: Order, keys: list[Key] | Resumable[Any, Key]) -> None:
        self._order = order
        self._merged = keys if isinstance(keys, Resumable) else None
        self._keys = keys.keys if isinstance(keys, Resumable) else keys
        self._encoded: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = range(len(self._keys))[index]  # IndexError as for a list
        cursor = self._encoded.get(position)
        if cursor is None:
            node, row_id, value = self._keys[position]
            lagging = self._merged.positions(position).lagging if self._merged is not None else {}
            cursor = self._encoded[position] = _encode(self._order, node, row_id, value, lagging)
        return cursor


@dataclass
class DataPage:
    rows: list[dict[str, Any]]
    cursors: Sequence[str]
    has_next: bool
    denied: list[Decision]
    unavailable: list[str]
    total: int | None
    row_scope: list[str] | None
    grant_ids: list[int]


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


# --- cursors --------------------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def convert(value: Any, data_type: str) -> Any:
    """A JSON or text value as the Python value of an item's data type; ValueError when it is not one."""
    try:
        if data_type == "date":
            return date.fromisoformat(value)
        if data_type == "datetime":
            return datetime.fromisoformat(value)
        if data_type == "decimal":
            return Decimal(value)
        if data_type == "integer":
            return int(value)
    except (TypeError, InvalidOperation) as exc:
        raise ValueError(f"not a {data_type}") from exc
    if data_type == "boolean":
        return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
    return str(value)


def encode_cursor(order: Order, row: Mapping[str, Any]) -> str:
    return _encode(order, row["node_code"], row["row_id"], row[order.item] if order.item is not None else None)


def _encode(order: Order, node: str, row_id: int, value: Any, lagging: Mapping[str, Key | None] | None = None) -> str:
    body: dict[str, Any] = {"o": order.item, "d": order.descending, "n": node, "r": row_id}
    if order.item is not None:
        body["v"] = _jsonable(value)
    if lagging:
        body["x"] = {db: None if p is None else [p[0], p[1], _jsonable(p[2])] for db, p in lagging.items()}
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def _position(body: Any, order: Order, spec: DataResourceSpec) -> Key:
    """One (node_code, row_id, value) from a cursor, checked: the database must be able to take it."""
    if not (isinstance(body, list) and len(body) == 3 and isinstance(body[0], str)
            and DATABASE_CODE.fullmatch(body[0]) and isinstance(body[1], int) and not isinstance(body[1], bool)):
        raise ValueError("not a position")
    node, row_id, value = body
    check_value(row_id, "'after'")  # a row id beyond bigint (10^23) is the caller's error, not ours
    if order.item is None:
        return node, row_id, None
    if value is not None:
        value = check_value(convert(value, spec.item(order.item).data_type), "'after'")
    return node, row_id, value


def decode_cursor(cursor: str, order: Order, spec: DataResourceSpec) -> dict[str, Any]:
    """The row a cursor points after (``n``, ``r``, ``v``), and ``positions``: every database's own."""
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        valid = (isinstance(body, dict) and body.get("o") == order.item and body.get("d") == order.descending
                 and isinstance(body.get("x", {}), dict))
    except (ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise BadRequest("'after' is not a cursor returned by this API for this ordering")
    try:
        key = _position([body.get("n"), body.get("r"), body.get("v")], order, spec)
        lagging: dict[str, Key | None] = {}
        for db, p in body.get("x", {}).items():
            if not DATABASE_CODE.fullmatch(db):
                raise ValueError("not a database code")
            lagging[db] = None if p is None else _position(p, order, spec)
    except ValueError as exc:
        raise BadRequest("'after' is not a cursor returned by this API") from exc
    body["n"], body["r"], body["v"] = key
    body["positions"] = Positions(key, lagging)
    return body  # type: ignore[no-any-return]


class _Desc:
    """Reverses comparison, for merging pages sorted descending."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _merge_key(order: Order) -> Any:
    """Sort key of a row (or of a position: (node_code, row_id, value)), as the SQL orders them."""
    if order.item is None:
        return lambda r: (r["node_code"], r["row_id"])
    item = order.item

    def key(r: Any) -> tuple[Any, ...]:
        value = r[item]
        if value is None:
            return (1, 0, r["node_code"], r["row_id"])  # NULLS LAST in both directions, as in SQL
        return (0, _Desc(value) if order.descending else value, r["node_code"], r["row_id"])

    return key


def _position_order(order: Order) -> Any:
    row_key = _merge_key(order)
    item = order.item
    return lambda p: row_key({"node_code": p[0], "row_id": p[1], item: p[2]} if item else
                             {"node_code": p[0], "row_id": p[1]})


# --- SQL ------------------------------------------------------------------------------------------

def _q(identifier: str) -> str:
    # Identifiers come from the catalog, whose CHECK constraints allow only [a-z][a-z0-9_]*.
    return '"' + identifier + '"'


def _where(request: DataRequest, database_nodes: list[str] | None, scope: list[str] | None,
           cursor: dict[str, Any] | None) -> Where:
    where = Where()
    if database_nodes is not None:
        where.add("node_code = any({}::text[])", database_nodes)
    for cond in request.conditions:
        column = _q(cond.item)
        if cond.op == "eq":
            where.add(column + " = {}", cond.value)
        elif cond.op == "in":
            where.add(column + " = any({})", list(cond.value))
        elif cond.op == "gte":
            where.add(column + " >= {}", cond.value)
        elif cond.op == "lte":
            where.add(column + " <= {}", cond.value)
        elif cond.op == "is_null":
            where.fragments.append(column + (" is null" if cond.value else " is not null"))
    if scope is not None:
        where.add(_q(SCOPE_ITEM) + " = any({}::text[])", scope)
    if cursor is not None:
        tie = "(node_code, row_id) > ({}, "
        if request.order.item is None:
            n = where.param(cursor["n"])
            where.add(tie.replace("{}", n) + "{})", cursor["r"])
        else:
            column = _q(request.order.item)
            if cursor["v"] is None:
                n = where.param(cursor["n"])
                where.add(f"({column} is null and " + tie.replace("{}", n) + "{}))", cursor["r"])
            else:
                beyond = "<" if request.order.descending else ">"
                v1, v2, n = where.param(cursor["v"]), where.param(cursor["v"]), where.param(cursor["n"])
                r = where.param(cursor["r"])
                where.fragments.append(f"({column} {beyond} {v1} or ({column} = {v2} and "
                                       f"(node_code, row_id) > ({n}, {r})) or {column} is null)")
    return where


def _order_sql(order: Order) -> str:
    if order.item is None:
        return " order by node_code, row_id"
    return f" order by {_q(order.item)} {'desc' if order.descending else 'asc'} nulls last, node_code, row_id"


# --- the query ------------------------------------------------------------------------------------

def _targets(pools: NodePools, spec: DataResourceSpec, nodes: list[str] | None) -> dict[str, list[str] | None]:
    """database -> node codes to restrict to there (None: every node that database holds)."""
    topology = pools.topology
    if nodes:
        unknown = [n for n in nodes if n not in topology.by_code]
        if unknown:
            raise BadRequest(f"unknown node(s): {', '.join(unknown)}", nodes=unknown)
    if spec.scope != ALL_NODES or spec.node != topology.region.code:
        # The provider's table may hold other nodes' rows too (a hosted prefecture shares its host's
        # tables): always restrict to the provider node; asking for other nodes yields nothing.
        # Only the region's registers reach every node (resolvers/specs.py enforces it; this is the
        # second lock on the same door).
        if nodes and spec.node not in nodes:
            return {}
        return {topology.node(spec.node).database_node: [spec.node]}
    if not nodes:
        return {n.code: None for n in topology.databases}
    targets: dict[str, list[str] | None] = {}
    for code in nodes:
        db = topology.node(code).database_node
        targets.setdefault(db, [])
        targets[db].append(code)  # type: ignore[union-attr]
    return targets


def _requested_divisions(request: DataRequest) -> set[str] | None:
    values: set[str] | None = None
    for cond in request.conditions:
        if cond.item == SCOPE_ITEM and cond.op in ("eq", "in"):
            chosen = {cond.value} if cond.op == "eq" else set(cond.value)
            values = chosen if values is None else values & chosen
    if request.nodes:
        values = set(request.nodes) if values is None else values & set(request.nodes)
    return values


def _apply_scopes(spec: DataResourceSpec, request: DataRequest, decisions: dict[str, Decision]
                  ) -> tuple[dict[str, Decision], list[str] | None]:
    """Row scopes of the grants in use: deny items whose scope the request lies outside of, and
    return the division codes the rows are restricted to (None: unrestricted)."""
    requested = _requested_divisions(request)
    has_scope_item = any(i.name == SCOPE_ITEM for i in spec.items)
    scope: set[str] | None = None
    result = dict(decisions)
    for name, decision in decisions.items():
        grant = decision.grant
        if not decision.allowed or grant is None or grant.division_codes is None:
            continue
        if not has_scope_item or (requested is not None and not requested & grant.division_codes):
            result[name] = Decision(decision.policy, decision.action, False, Reason.OUT_OF_SCOPE)
            continue
        scope = set(grant.division_codes) if scope is None else scope & grant.division_codes
    return result, sorted(scope) if scope is not None else None


async def read(caller: Caller, request: DataRequest) -> DataPage:
    """One data query; a query that fails unexpectedly still leaves a record (outcome ``error``)."""
    return await audit.failures_recorded(
        _read(caller, request),
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
        record.items_denied = sorted({d.item for d, _ in refused})
        record.outcome = "refused"
        await audit.append(caller.pools, record)
        raise RefusedQuery([forbidden_error(d, usage) for d, usage in refused])

    after: Positions[Key] = decode_cursor(request.after, request.order, spec)["positions"] if request.after \
        else Positions()
    allowed = [name for name in request.selected if decisions[name].allowed]
    denied = [decisions[name] for name in request.selected if not decisions[name].allowed]
    wanted = dict.fromkeys(["row_id", "node_code", *allowed, *([request.order.item] if request.order.item else [])])
    columns = ", ".join(_q(c) for c in wanted)
    targets = _targets(caller.pools, spec, request.nodes)

    async def one(db: str, nodes: list[str] | None) -> tuple[list[asyncpg.Record], int | None]:
        position = after.of(db)  # each database continues from its own position
        cursor = None if position is None else {"n": position[0], "r": position[1], "v": position[2]}
        where = _where(request, nodes, scope, cursor)
        limit = where.param(first + 1)
        page_sql = "select " + columns + " from " + _q(spec.table) + " where " + where.sql() + \
            _order_sql(request.order) + " limit " + limit
        jobs = [caller.pools.fetch(db, "data.page", page_sql, *where.args)]
        if request.want_total:
            count_where = _where(request, nodes, scope, None)
            jobs.append(caller.pools.fetch(db, "data.count", COUNT_HEAD + _q(spec.table) + " where " +
                                           count_where.sql(), *count_where.args))
        results = await asyncio.gather(*jobs)
        return results[0], (results[1][0]["n"] if request.want_total else None)

    async def guarded(db: str, nodes: list[str] | None) -> tuple[list[asyncpg.Record], int | None] | NodeUnavailable:
        try:
            return await one(db, nodes)
        except NodeUnavailable as exc:
            return exc

    outcomes = dict(zip(targets, await asyncio.gather(*(guarded(db, n) for db, n in targets.items())), strict=True))
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
    record.row_count = len(rows)
    record.nodes = sorted(answered)
    record.outcome = "partial" if unavailable else "ok"
    await audit.append(caller.pools, record)  # raises AuditUnavailable: then nothing is returned

    # Exactly the permitted selected items (read by column position), and the denied ones as None;
    # cursors keep only their keys (row_id and node_code are the first two columns) and are encoded
    # when read.
    column = {name: i for i, name in enumerate(wanted)}
    positions = [column[name] for name in allowed]
    nulls = [(d.item, None) for d in denied]
    shaped = [dict([*zip(allowed, [row[i] for i in positions], strict=True), *nulls]) for row in rows]
    cursors = Cursors(request.order, merged)
    return DataPage(shaped, cursors, has_next, denied, sorted(unavailable),
                    total if request.want_total and not unavailable else None, scope, grant_ids)


def typed_value(item: DataItemSpec, value: str) -> Any:
    """A caller-supplied text value as the item's type (for verification)."""
    try:
        typed = convert(value.strip(), item.data_type)
    except ValueError as exc:
        raise BadRequest(f"value for {item.name} is not a valid {item.data_type}", item=item.name) from exc
    return check_value(typed, f"value for {item.name}")
