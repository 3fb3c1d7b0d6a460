"""Access rules administered through the API: list with filters, add and remove, each change validated
against the catalog, decided by the admin model (policy.write in the rule's domain), recorded, audited."""

from __future__ import annotations

from dataclasses import dataclass

from casbin.util import key_match

from govshare.core.errors import BadRequest, NotFound
from govshare.policies.adapter import VALUE_COLUMNS
from govshare.policies.authority import Action
from govshare.policies.changes import Change, checked_reason
from govshare.policies.decisions import PolicyEngine
from govshare.policies.rules import LEVELS, Rule, admin_domain, loadable, rule_from, shape_problems

from . import validation
from .administration import Admin, recorded, region_transaction
from .groups import existing_departments

SELECT_LIVE_RULES = """select id, ptype, v0, v1, v2, v3, v4, v5, v6, v7, note, created_at, created_by
    from policy_rules where removed_at is null order by id"""
SELECT_LIVE_RULE = """select id, ptype, v0, v1, v2, v3, v4, v5, v6, v7 from policy_rules
    where id = $1 and removed_at is null"""
INSERT_RULE = """insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6, v7, note, created_by)
    values ('p', $1, $2, $3, $4, $5, $6, $7, '', $8, $9) on conflict do nothing returning id"""
SELECT_SAME_RULE = """select id from policy_rules where removed_at is null and ptype = 'p' and v0 = $1 and v1 = $2
    and v2 = $3 and v3 = $4 and v4 = $5 and v5 = $6 and v6 = $7 and v7 = ''"""
REMOVE_RULE = """update policy_rules set removed_at = clock_timestamp(), removed_by = $2
    where id = $1 and removed_at is null"""
SELECT_NAMED_GROUP_EXISTS = "select 1 from department_groups where name = $1 and removed_at is null"


@dataclass(frozen=True)
class RuleFilter:
    subject: str | None = None      # exactly this subject (a department code or a group)
    applies_to: str | None = None   # rules that apply to this department (directly, by group, or *)
    resource: str | None = None     # rules whose resource pattern matches this code
    item: str | None = None
    action: str | None = None
    effect: str | None = None


@dataclass(frozen=True)
class ListedRule:
    rule: Rule
    domain: str
    loaded: bool
    problem: str | None
    note: str | None


def _values(row: object) -> list[str]:
    values = [row[c] for c in VALUE_COLUMNS]  # type: ignore[index]
    while values and values[-1] == "":
        values.pop()
    return values


async def listed(admin: Admin, engine: PolicyEngine, flt: RuleFilter) -> list[ListedRule]:
    """Live stored rules (also those the loader skipped, marked), filtered, in the caller's domains."""
    readable = None if admin.authority.everywhere(Action.POLICY_READ) else set(
        admin.authority.domains(Action.POLICY_READ))
    if readable is not None and not readable:
        admin.authority.require(Action.POLICY_READ, admin.region)
    rows = await admin.pools.fetch(admin.region_database, "rules.live", SELECT_LIVE_RULES)
    groups = engine.memberships.groups_of
    found: list[ListedRule] = []
    for row in rows:
        values = _values(row)
        rule = loadable(row["id"], row["ptype"], values)
        if not isinstance(rule, Rule):
            shown = rule_from(values, row["id"])
            listed_rule = ListedRule(shown, admin_domain(shown, admin.region), False, rule.problem, row["note"])
        else:
            listed_rule = ListedRule(rule, admin_domain(rule, admin.region), True, None, row["note"])
        r = listed_rule.rule
        if readable is not None and listed_rule.domain not in readable:
            continue
        if flt.subject is not None and r.subject != flt.subject:
            continue
        if flt.applies_to is not None and not (r.subject in ("*", flt.applies_to)
                                               or r.subject in groups(flt.applies_to)):
            continue
        if flt.resource is not None and not key_match(flt.resource, r.resource):
            continue
        if flt.item is not None and not key_match(flt.item, r.item):
            continue
        if flt.action is not None and r.action not in ("*", flt.action):
            continue
        if flt.effect is not None and r.effect != flt.effect:
            continue
        found.append(listed_rule)
    return found


async def checked_rule(admin: Admin, engine: PolicyEngine, rule: Rule) -> Rule:
    """Shape first (enums and patterns), then existence in the catalog of what the rule names."""
    problems = shape_problems(rule)
    if problems:
        field, problem, accepted = problems[0]
        extra = {"accepted": accepted} if accepted else {}
        raise BadRequest(problem, field=field, **extra)
    await _check_subject(admin, engine, rule.subject)
    if "*" not in rule.resource:
        found = await validation.resource(admin.pools, rule.resource)
        if "*" not in rule.item:
            known = validation.item(found, rule.item)
            if rule.share_class not in ("*", known.share_class):
                raise BadRequest(f"item {rule.item} of {rule.resource} is {known.share_class}, so a rule for "
                                 f"class {rule.share_class} would never apply", field="shareClass",
                                 accepted=["*", known.share_class])
    elif rule.resource[:6].isdigit() and rule.resource[:6] not in admin.pools.topology.by_code:
        raise BadRequest(f"resource pattern {rule.resource!r} names no known node", field="resource")
    return rule


async def _check_subject(admin: Admin, engine: PolicyEngine, subject: str) -> None:
    prefix, _, name = subject.partition(":")
    if subject == "*":
        return
    if not name:
        if subject not in await existing_departments(admin.pools, [subject]):
            raise BadRequest(f"unknown department {subject!r}", field="subject")
    elif prefix == "kind" and name not in engine.memberships.kinds():
        kinds = engine.memberships.kinds()
        raise BadRequest(f"no department is of kind {name!r}; kinds: {', '.join(kinds)}", field="subject",
                         accepted=[f"kind:{k}" for k in kinds])
    elif prefix == "level" and name not in LEVELS:
        raise BadRequest(f"unknown level {name!r}", field="subject", accepted=[f"level:{v}" for v in LEVELS])
    elif prefix == "node" and name not in admin.pools.topology.by_code:
        nodes = [n.code for n in admin.pools.topology.nodes]
        raise BadRequest(f"unknown node {name!r}", field="subject", accepted=[f"node:{n}" for n in nodes])
    elif prefix == "group" and not await admin.pools.fetch(admin.region_database, "groups.exists",
                                                          SELECT_NAMED_GROUP_EXISTS, name):
        raise BadRequest(f"no department group named {name!r} (create it first)", field="subject")


async def add(admin: Admin, engine: PolicyEngine, rule: Rule, reason: str, note: str | None = None, *,
              reverts: int | None = None) -> tuple[Rule, Change]:
    why = checked_reason(reason)
    admin.authority.require(Action.POLICY_WRITE, admin_domain(rule, admin.region))
    checked = await checked_rule(admin, engine, rule)
    domain = admin_domain(checked, admin.region)
    async with region_transaction(admin) as conn:
        rule_id = await conn.fetchval(INSERT_RULE, *checked.values(), note, admin.actor.user)
        if rule_id is None:
            same = await conn.fetchval(SELECT_SAME_RULE, *checked.values())
            raise BadRequest(f"the same rule exists already (rule {same})", field="rule", rule=same)
        stored = rule_from(checked.values(), rule_id)
        change = await recorded(admin, conn, "rule", "add", domain, reason=why, after=stored.as_dict(),
                                resource=_exact(checked.resource), department=_department(checked.subject),
                                reverts=reverts)
    return stored, change


async def remove(admin: Admin, rule_id: int, reason: str, *, reverts: int | None = None) -> tuple[Rule, Change]:
    why = checked_reason(reason)
    async with region_transaction(admin) as conn:
        row = await conn.fetchrow(SELECT_LIVE_RULE, rule_id)
        if row is None:
            raise NotFound(f"no live rule {rule_id}", field="id")
        rule = rule_from(_values(row), rule_id)
        domain = admin_domain(rule, admin.region)
        admin.authority.require(Action.POLICY_WRITE, domain)
        await conn.execute(REMOVE_RULE, rule_id, admin.actor.user)
        change = await recorded(admin, conn, "rule", "remove", domain, reason=why, before=rule.as_dict(),
                                resource=_exact(rule.resource), department=_department(rule.subject),
                                reverts=reverts)
    return rule, change


def _exact(resource: str) -> str | None:
    return None if "*" in resource else resource


def _department(subject: str) -> str | None:
    return None if subject == "*" or ":" in subject else subject
