"""Why may department X (not) read or verify item Y? The same decision a real query makes (same grant
state, same ``policies.decisions.decide``), with every rule that matched and the grant that applied."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from govshare.core.errors import BadRequest
from govshare.policies.authority import Action, domain_of_code
from govshare.policies.decisions import Decision, ItemPolicy, PolicyEngine, Reason, decide
from govshare.policies.grants import SELECT_GRANTS, Grant, GrantState, grant_state, normalise_purpose
from govshare.policies.rules import ACTIONS, Rule, loadable

from . import validation
from .administration import Admin

SCOPE_ITEM = "division_code"
# The class an item had at $3 if it was reclassified since: the `before` of its first later change
# (the same reading as policyAt's classes).
CLASS_AT = """select before from policy_changes
    where kind = 'class' and resource = $1 and before->>'item' = $2 and at > $3 order by at, id limit 1"""
RULES_AT = """select id, ptype, v0, v1, v2, v3, v4, v5, v6, v7 from policy_rules
    where created_at <= $1 and (removed_at is null or removed_at > $1) order by id"""


async def _engine_at(admin: Admin, engine: PolicyEngine, at: datetime) -> PolicyEngine:
    """The rules as they stood at ``at`` (loaded as the loader would: unloadable rows skipped)."""
    rows = await admin.pools.fetch(admin.region_database, "explain.rules_at", RULES_AT, at)
    found = [loadable(r["id"], r["ptype"], [v for v in (r[f"v{i}"] for i in range(7))]) for r in rows]
    return PolicyEngine.from_rules([r for r in found if isinstance(r, Rule)], engine.memberships)


async def _class_at(admin: Admin, resource: str, known: validation.CatalogItem, at: datetime
                    ) -> validation.CatalogItem:
    rows = await admin.pools.fetch(admin.region_database, "explain.class_at", CLASS_AT, resource, known.name, at)
    if not rows:
        return known
    before = rows[0]["before"]
    then = json.loads(before) if isinstance(before, str) else before
    return validation.CatalogItem(known.name, then["shareClass"], then.get("condition"), then.get("legalBasis"))


@dataclass(frozen=True)
class Explanation:
    department: str
    decision: Decision
    grant_state: GrantState
    matched: list[Rule]
    at: datetime
    row_scope: list[str] | None


async def explain(admin: Admin, engine: PolicyEngine, department: str, resource: str, item: str, action: str,
                  purpose: str | None, at: datetime | None = None, nodes: list[str] | None = None) -> Explanation:
    """Anyone may ask about their own department; about another, policy.read in the resource's domain."""
    if department != admin.actor.department:
        admin.authority.require(Action.POLICY_READ, domain_of_code(resource))
    if action not in ACTIONS:
        raise BadRequest(f"action {action!r} is not one of {', '.join(ACTIONS)}", field="action",
                         accepted=list(ACTIONS))
    await validation.department(admin.pools, department)
    found = await validation.resource(admin.pools, resource)
    known = validation.item(found, item)
    moment = at or datetime.now(UTC)
    if at is not None and at < datetime.now(UTC) - timedelta(seconds=1):
        engine = await _engine_at(admin, engine, at)
        known = await _class_at(admin, found.code, known, at)
    policy = ItemPolicy(found.code, known.name, known.share_class, known.condition, known.legal_basis,
                        found.provider)
    stated = normalise_purpose(purpose)
    state, grant = GrantState.NONE, None
    if policy.share_class == "CONDITIONAL":
        rows = await admin.pools.fetch(admin.region_database, "grants.by_department", SELECT_GRANTS, department,
                                       [found.code])
        state, grant = grant_state([Grant.from_row(r) for r in rows], policy.item, stated, moment)
    decision = decide(engine, department, policy, action, state, grant)
    scope: list[str] | None = None
    if decision.allowed and grant is not None and grant.division_codes is not None:
        # As a data query with a node filter: outside the grant's row scope the item is denied.
        if SCOPE_ITEM not in found.items or (nodes is not None and not set(nodes) & grant.division_codes):
            decision = Decision(policy, action, False, Reason.OUT_OF_SCOPE, region=engine.region)
        else:
            scope = sorted(grant.division_codes)
    matched = engine.matching(department, policy.resource, policy.item, policy.share_class, action, state)
    return Explanation(department, decision, state, matched, moment, scope)
