"""Verification against the source (比对核查): MATCH / MISMATCH / NOT_FOUND, never the stored value.

The comparison runs inside PostgreSQL: only booleans leave the database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from govshare.core.errors import BadRequest, NodeUnavailable, RateLimited
from govshare.policies.ratelimits import SharedRateLimiter

from . import audit
from .data_plans import _q, _targets
from .shared_data import Caller, decided_again, denial_reason, typed_value
from .specs import DataResourceSpec

MAX_ITEMS = 20


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
    # Decided again (not charged again) when rules or grants change under it.
    return await decided_again(caller.decider, lambda: _compare(caller, spec, key, values, purpose))


async def _compare(caller: Caller, spec: DataResourceSpec, key: str, values: dict[str, str], purpose: str | None
                   ) -> tuple[bool, list[ItemOutcome]]:
    key_item = spec.item(spec.key)
    typed = {name: typed_value(spec.item(name), value) for name, value in values.items()}
    decisions = await caller.decider.decide([spec.policy(n) for n in [key_item.name, *values]], "verify", purpose)
    record = audit.AuditRecord(caller.request_id, caller.user, caller.department, "verify", purpose, spec.code,
                               client_request_id=caller.client_request_id)
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

    params: list[object] = [typed_value(key_item, key)]
    tests = []
    for position, name in enumerate(allowed):
        params.append(typed[name])
        tests.append(f"coalesce({_q(name)} = ${len(params)}, false) as m{position}")
    params.append(None)  # the node restriction, filled per database below
    sql = ("select " + (", ".join(tests) or "true as m") + " from " + _q(spec.table) + " where " +
           _q(key_item.name) + f" = $1 and (${len(params)}::text[] is null or node_code = any(${len(params)}::text[]))"
           " limit 1")
    targets = _targets(caller.pools, spec, None)

    async def one(db: str, nodes: list[str] | None) -> list[object] | NodeUnavailable:
        try:
            return list(await caller.pools.fetch(db, "verify", sql, *params[:-1], nodes))
        except NodeUnavailable as exc:
            return exc

    results = await asyncio.gather(*(one(db, nodes) for db, nodes in targets.items()))
    found = next((rows[0] for rows in results if not isinstance(rows, NodeUnavailable) and rows), None)
    failed = [r for r in results if isinstance(r, NodeUnavailable)]
    if found is None and failed:
        # Not found on the nodes that answered; a missing node might hold it: no answer is better than a wrong one.
        raise failed[0]
    for position, name in enumerate(allowed):
        if found is None:
            outcomes[name] = ItemOutcome(name, "NOT_FOUND")
        else:
            outcomes[name] = ItemOutcome(name, "MATCH" if found[f"m{position}"] else "MISMATCH")  # type: ignore[index]
    record.items_returned = allowed
    record.items_denied = [n for n in values if n not in allowed]
    record.denied_reasons = [denial_reason(decisions[n]) for n in record.items_denied]
    record.row_count = 1 if found is not None else 0
    record.outcome = "ok" if found is not None else "not_found"
    record.grant_ids = sorted({d.grant.id for d in decisions.values() if d.grant is not None})
    record.access_version = caller.decider.version
    await audit.append(caller.pools, record)
    return found is not None, [outcomes[n] for n in values]
