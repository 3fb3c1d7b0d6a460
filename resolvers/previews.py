"""previewPolicyChange: which (department, resource, item, action, grant state) decisions a change of
rules and classes would turn, from what to what, before anything is stored.

Every department of the catalog and every item of every published resource is considered. Decisions
depend on a department only through the rules whose subject it matches, and on an item only through
the rules whose resource and item patterns it matches and its class: departments and items are grouped
by those signatures, each group decided once under the current and the proposed rules (with
``policies.decisions.verdict``, the end of every real decision), and the differences expanded back.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from casbin.util import key_match

from govshare.core.errors import BadRequest
from govshare.policies.authority import Action
from govshare.policies.decisions import PolicyEngine, Reason, verdict
from govshare.policies.grants import GrantState
from govshare.policies.rules import ACTIONS, Rule

from . import catalog, hosting, validation
from .administration import Admin
from .rules import checked_rule

# Only the entries each database serves (catalog.HOSTED_NODES, HOSTED_PREFIXES): $1 its nodes, $2 their prefixes.
# Each row names its resource's node and provider, checked again in the service (hosting.own_rows).
SELECT_PUBLISHED_ITEMS = """select i.resource_code, r.node_code, r.provider_code, i.name, i.share_class from data_items i
    join resources r on r.code = i.resource_code where r.status = 'published'
    and r.node_code = any($1::text[]) and r.code ^@ any($2::text[]) and r.provider_code ^@ any($2::text[])"""
CONDITIONAL_STATES = tuple(GrantState)
MAX_ADD = 50


@dataclass(frozen=True)
class Reclassification:
    resource: str
    item: str
    share_class: str


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    reason: Reason | None


@dataclass
class DecisionChange:
    departments: list[str]
    resource: str
    item: str
    share_class_before: str
    share_class_after: str
    action: str
    grant_state: str
    before: Outcome
    after: Outcome


@dataclass
class Preview:
    changes: list[DecisionChange]
    total: int  # changed (department, resource, item, action, grant state) decisions
    departments: int
    items: int
    seconds: float
    unavailable: list[str] = field(default_factory=list)


def _outcome(matched: list[Rule], share_class: str, action: str, state: GrantState) -> Outcome:
    allowed = any(r.effect == "allow" for r in matched) and not any(r.effect == "deny" for r in matched)
    reason = verdict(allowed, any(r.effect == "deny" for r in matched), share_class, action, state)
    return Outcome(reason is None, reason)


def _matched(union: list[Rule], candidates: frozenset[int], live: set[int], share_class: str, action: str,
             state: GrantState) -> list[Rule]:
    return [union[i] for i in candidates if i in live and union[i].share_class in ("*", share_class)
            and union[i].action in ("*", action) and union[i].grant in ("*", state.value)]


async def preview(admin: Admin, engine: PolicyEngine, add: list[Rule], remove: list[int],
                  reclassify: list[Reclassification], limit: int = 200) -> Preview:
    if not admin.authority.domains(Action.POLICY_READ):
        admin.authority.require(Action.POLICY_READ, admin.region)
    if len(add) > MAX_ADD or len(remove) > MAX_ADD or len(reclassify) > MAX_ADD:
        raise BadRequest(f"at most {MAX_ADD} rules to add, remove or items to reclassify per preview", field="add")
    started = time.perf_counter()
    current = list(engine.rules)
    live = {r.id for r in current}
    unknown = [i for i in remove if i not in live]
    if unknown:
        raise BadRequest(f"no loaded rule {', '.join(map(str, unknown))}", field="remove", unknown=unknown)
    added = [await checked_rule(admin, engine, r) for r in add]
    for r in reclassify:
        validation.share_class(r.share_class, "reclassify.shareClass")
    proposed_ids = [i for i, r in enumerate(current) if r.id not in set(remove)]
    union = [*current, *added]
    before_set = set(range(len(current)))
    after_set = set(proposed_ids) | set(range(len(current), len(union)))

    # The items of every published resource, with the proposed classes.
    results = await catalog.fetch_each_hosted(admin.pools, "preview.items", SELECT_PUBLISHED_ITEMS)
    unavailable = sorted(db for db, rows in results.items() if not isinstance(rows, list))
    overrides = {(r.resource, r.item): r.share_class for r in reclassify}
    items: list[tuple[str, str, str, str]] = []  # resource, item, class before, class after
    for db, rows in results.items():
        if isinstance(rows, list):
            for row in hosting.own_rows(admin.pools.topology, db, rows, "published item", code="resource_code",
                                        provider="provider_code"):
                key = (row["resource_code"], row["name"])
                items.append((key[0], key[1], row["share_class"], overrides.pop(key, row["share_class"])))
    if overrides:
        missing = [f"{res}/{item}" for res, item in overrides]
        raise BadRequest(f"no published item {', '.join(missing)}", field="reclassify")

    # Signatures: which rules (indexes into union) can match a department, a resource, an item name.
    groups = engine.memberships.groups_of
    departments = sorted(engine.memberships.departments)
    by_department: dict[frozenset[int], list[str]] = defaultdict(list)
    for code in departments:
        mine = groups(code)
        sig = frozenset(i for i, r in enumerate(union) if r.subject == "*" or r.subject == code or r.subject in mine)
        by_department[sig].append(code)
    resource_sig: dict[str, frozenset[int]] = {}
    name_sig: dict[str, frozenset[int]] = {}
    by_item: dict[tuple[frozenset[int], str, str], list[tuple[str, str]]] = defaultdict(list)
    for resource, name, cls_before, cls_after in items:
        rs = resource_sig.get(resource)
        if rs is None:
            rs = resource_sig[resource] = frozenset(i for i, r in enumerate(union) if key_match(resource, r.resource))
        ns = name_sig.get(name)
        if ns is None:
            ns = name_sig[name] = frozenset(i for i, r in enumerate(union) if key_match(name, r.item))
        by_item[(rs & ns, cls_before, cls_after)].append((resource, name))

    found: list[DecisionChange] = []
    total = 0
    for (item_sig, cls_before, cls_after), members in by_item.items():
        for dept_sig, codes in by_department.items():
            candidates = dept_sig & item_sig
            for action in ACTIONS:
                for state in CONDITIONAL_STATES if "CONDITIONAL" in (cls_before, cls_after) else (GrantState.NONE,):
                    state_before = state if cls_before == "CONDITIONAL" else GrantState.NONE
                    state_after = state if cls_after == "CONDITIONAL" else GrantState.NONE
                    old = _outcome(_matched(union, candidates, before_set, cls_before, action, state_before),
                                   cls_before, action, state_before)
                    new = _outcome(_matched(union, candidates, after_set, cls_after, action, state_after),
                                   cls_after, action, state_after)
                    if old == new:
                        continue
                    total += len(codes) * len(members)
                    for resource, name in members:
                        if len(found) < limit:
                            found.append(DecisionChange(codes, resource, name, cls_before, cls_after, action,
                                                        state.value, old, new))
    found.sort(key=lambda c: (c.resource, c.item, c.action, c.grant_state))
    return Preview(found, total, len(departments), len(items), time.perf_counter() - started, unavailable)
