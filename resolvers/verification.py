"""Verification against the source (比对核查): MATCH / MISMATCH / NOT_FOUND, never the stored value.

The comparison runs inside PostgreSQL: only booleans leave the database (with the key, the node_code and,
under a scoped grant, the division of the row compared, which the service checks).

The source is one node's row. A node database is trusted only for its own nodes' rows (README, trust
model), so an answer is never taken from one node over another: every database that could hold the key is
asked (all of an all-nodes register's; under a scoped grant those that can hold rows of its divisions),
every one must answer (else NODE_UNAVAILABLE), and rows of the key from several nodes (or disagreeing rows)
are refused as AMBIGUOUS_SOURCE. A key's division (a citizen ID's characters 1-6) is where it was issued,
not where the person is registered now: it names no authority, so it routes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg

from govshare.core.errors import AmbiguousSource, BadRequest, NodeUnavailable, RateLimited
from govshare.core.identifiers import canonical_key, key_fault
from govshare.policies.ratelimits import SharedRateLimiter

from . import audit, validation
from .data_plans import _apply_scopes, _q, _targets
from .data_requests import SCOPE_ITEM, DataRequest
from .shared_data import Caller, _Expected, _own_rows, decided_again, denial_reason, typed_value
from .specs import DataResourceSpec

logger = logging.getLogger(__name__)
MAX_ITEMS = 20
# Key items with a standard (core/identifiers.py KEY_STANDARDS: citizen ID, credit code) are asked and
# compared in canonical form; a key of the wrong length, characters or check character names nobody. It is
# refused before any node is asked (it would go to every database holding the register), as BAD_USER_INPUT
# with reason INVALID_KEY and the fault, and audited as a refusal.


@dataclass(frozen=True)
class ItemOutcome:
    item: str
    outcome: str  # MATCH | MISMATCH | NOT_FOUND | FORBIDDEN
    reason: str | None = None


async def verify(caller: Caller, spec: DataResourceSpec, key: str, values: dict[str, str], purpose: str | None,
                 limiter: SharedRateLimiter) -> tuple[bool, list[ItemOutcome]]:
    """One verification; one that fails after reaching a node still leaves a record (outcome ``error``)."""
    return await audit.failures_recorded(
        _verify(caller, spec, key, values, purpose, limiter),
        audit.AuditRecord(caller.request_id, caller.user, caller.department, "verify", purpose, spec.code,
                          items_returned=list(values), outcome="error", client_request_id=caller.client_request_id),
        caller.pools)


async def _verify(caller: Caller, spec: DataResourceSpec, key: str, values: dict[str, str], purpose: str | None,
                  limiter: SharedRateLimiter) -> tuple[bool, list[ItemOutcome]]:
    if not values:
        raise BadRequest("give at least one item value to verify")
    if len(values) > MAX_ITEMS:
        raise BadRequest(f"at most {MAX_ITEMS} items per verification")
    wait = await limiter.take(caller.department)
    if wait is not None:
        raise RateLimited(f"verification limit reached for {caller.department}; retry in {wait:.0f} s",
                          retryAfterSeconds=round(wait, 1))
    fault = key_fault(spec.key, key)
    if fault is not None:
        await audit.append(caller.pools, audit.AuditRecord(
            caller.request_id, caller.user, caller.department, "verify", purpose, spec.code, outcome="refused",
            client_request_id=caller.client_request_id, detail={"reason": validation.INVALID_KEY, "standard": fault.standard}))
        raise validation.invalid_key_error(spec.key, fault)
    # Decided again (not charged again) when rules or grants change under it.
    return await decided_again(caller.decider, lambda: _compare(caller, spec, key, values, purpose))


async def _compare(caller: Caller, spec: DataResourceSpec, key: str, values: dict[str, str], purpose: str | None
                   ) -> tuple[bool, list[ItemOutcome]]:
    key_item = spec.item(spec.key)
    typed = {name: typed_value(spec.item(name), value) for name, value in values.items()}
    decisions = await caller.decider.decide([spec.policy(n) for n in [key_item.name, *values]], "verify", purpose)
    # A grant's row scope holds here as on a data page: an item whose grant is scoped is verified only
    # against rows of the scope's divisions (denied OUT_OF_SCOPE where the register has no division).
    decisions, scope = _apply_scopes(spec, DataRequest(spec, [key_item.name, *values], purpose=purpose),
                                     decisions)
    record = audit.AuditRecord(caller.request_id, caller.user, caller.department, "verify", purpose, spec.code,
                               client_request_id=caller.client_request_id,
                               detail={"row_scope": scope} if scope is not None else None)
    if not decisions[key_item.name].allowed:
        record.items_denied = [key_item.name]
        record.denied_reasons = [denial_reason(decisions[key_item.name])]
        record.outcome = "refused"
        record.access_version = caller.decider.version
        await audit.append(caller.pools, record)
        key_reason = decisions[key_item.name].reason
        return False, [ItemOutcome(n, "FORBIDDEN", key_reason.value if key_reason else None) for n in values]
    allowed = [n for n in values if decisions[n].allowed]
    outcomes: dict[str, ItemOutcome] = {}
    for name in values:
        reason = decisions[name].reason
        if not decisions[name].allowed:
            outcomes[name] = ItemOutcome(name, "FORBIDDEN", reason.value if reason else None)

    typed_key = typed_value(key_item, canonical_key(key_item.name, key))
    params: list[object] = [typed_key]
    tests = []
    for position, name in enumerate(allowed):
        params.append(typed[name])
        tests.append(f"coalesce({_q(name)} = ${len(params)}, false) as m{position}")
    where = _q(key_item.name) + " = $1"
    if scope is not None:
        params.append(scope)
        where += f" and {_q(SCOPE_ITEM)} = any(${len(params)}::text[])"
    nodes_at = len(params) + 1  # the node restriction, given per database
    # The key and node_code come back with the booleans (and the division under a scope, last): the service
    # checks whose row answered, that it is the key's and within the scope, since the WHERE ran on the server
    # it is meant to distrust. Two rows at most: a second one means the key is not one row's.
    sql = ("select " + _q(key_item.name) + ", node_code, " + (", ".join(tests) or "true as m") +
           (", " + _q(SCOPE_ITEM) if scope is not None else "") + " from " + _q(spec.table) + " where " + where +
           f" and (${nodes_at}::text[] is null or node_code = any(${nodes_at}::text[])) limit 2")
    expected = _Expected(scope_at=2 + max(len(tests), 1) if scope is not None else None,
                         scope=frozenset(scope or ()), region=caller.pools.topology.region.code)
    # Every database that could hold the key (the key's division is where it was issued, not where the
    # person is registered: it names no authority); under a scope, those that can hold the scope's rows.
    targets = _targets(caller.pools, spec, None, scope)
    asked: list[str] = []
    try:
        found = await _source(caller, sql, params, key_item.name, typed_key, targets, expected, asked)
    except AmbiguousSource as exc:
        logger.warning("verification of %s: rows of one key in nodes %s; refused", spec.code,
                       ", ".join(exc.extensions["nodes"]))
        # The nodes answered, and nothing is returned: the record says so (no record, no answer either).
        record.items_returned, record.outcome, record.nodes = list(values), "error", sorted(asked)
        record.access_version = caller.decider.version
        await audit.append(caller.pools, record)
        raise
    for position, name in enumerate(allowed):
        if found is None:
            outcomes[name] = ItemOutcome(name, "NOT_FOUND")
        else:
            outcomes[name] = ItemOutcome(name, "MATCH" if found[f"m{position}"] else "MISMATCH")
    record.items_returned = allowed
    record.items_denied = [n for n in values if n not in allowed]
    record.denied_reasons = [denial_reason(decisions[n]) for n in record.items_denied]
    record.row_count = 1 if found is not None else 0
    record.nodes = sorted(asked)
    record.outcome = "ok" if found is not None else "not_found"
    record.grant_ids = sorted({d.grant.id for d in decisions.values() if d.grant is not None})
    record.access_version = caller.decider.version
    await audit.append(caller.pools, record)
    return found is not None, [outcomes[n] for n in values]


def invalid_key(item: str, key: str) -> str | None:
    """The standard ``key`` (of key item ``item``, in canonical form) breaks, or None: it is well formed with
    the right check character, or ``item`` follows no standard checked here."""
    fault = key_fault(item, key)
    return None if fault is None else fault.standard


async def _source(caller: Caller, sql: str, params: list[object], key_item: str, key: Any,
                  targets: dict[str, list[str] | None], expected: _Expected, asked: list[str]
                  ) -> asyncpg.Record | None:
    """The one row of the key these databases hold (None: none holds it). A database that does not answer,
    or answers beyond what it was asked, fails the verification: it could hold the key."""
    topology = caller.pools.topology

    async def one(db: str, nodes: list[str] | None) -> list[asyncpg.Record] | NodeUnavailable:
        try:
            return await caller.pools.fetch(db, "verify", sql, *params, nodes)
        except NodeUnavailable as exc:
            return exc

    if len(targets) == 1:  # one database: no task to gather
        ((only, only_nodes),) = targets.items()
        results = [await one(only, only_nodes)]
    else:
        results = await asyncio.gather(*(one(db, nodes) for db, nodes in targets.items()))
    failed = [r for r in results if isinstance(r, NodeUnavailable)]
    if failed:
        # A node that could hold the key did not answer: no answer is better than another node's.
        raise failed[0]
    rows: list[asyncpg.Record] = []
    for (db, nodes), answer in zip(targets.items(), results, strict=True):
        assert not isinstance(answer, NodeUnavailable)
        rows.extend(_own_rows(db, nodes, _the_key(db, key_item, key, answer), expected))
        asked.extend(nodes if nodes is not None else topology.hosted_on(db))
    holders = sorted({row[1] for row in rows})
    if len(holders) > 1 or len({tuple(row[2:]) for row in rows}) > 1:
        raise AmbiguousSource(f"{len(rows)} rows of this key (nodes {', '.join(holders)}): no node's answer is "
                              "taken over another's", nodes=holders)
    return rows[0] if rows else None


def _the_key(database: str, key_item: str, key: Any, rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
    """The rows, if each is of the key asked for (the key is the first column), compared in canonical form:
    the comparison ran on the node's server, whose operators its owner controls."""
    for row in rows:
        value = row[0]
        same = canonical_key(key_item, value.rstrip(" ")) == key.rstrip(" ") \
            if isinstance(value, str) and isinstance(key, str) else value == key
        if not same:
            raise NodeUnavailable(database, "answered rows it was not asked for")
    return rows
