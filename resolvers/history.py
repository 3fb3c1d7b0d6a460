"""The policy's history: changes by resource, department, kind and time; the policy as it stood at a
past time; reverting a change (itself a new, recorded change)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from govshare.core.errors import BadRequest, NotFound
from govshare.policies.authority import Action
from govshare.policies.changes import (
    KINDS,
    SELECT_CHANGE,
    SELECT_CHANGES,
    SELECT_REVERTED,
    Change,
    checked_reason,
)
from govshare.policies.rules import Rule, rule_from

from . import classes, grants, groups, roles, rules
from .administration import Admin, recorded, region_transaction

RULES_AT = """select id, ptype, v0, v1, v2, v3, v4, v5, v6, v7 from policy_rules
    where created_at <= $1 and (removed_at is null or removed_at > $1) order by id"""
GRANTS_AT = """select id, grantee_department, resource_code, items, purpose, valid_from, valid_until, row_scope,
    case when status = 'revoked' and revoked_at <= $1 then 'revoked' when $1 >= valid_until then 'expired'
         when $1 < valid_from then 'not_yet_valid' else 'active' end as state,
    revoked_at, revoke_reason, created_at, created_by, status
    from grants where created_at <= $1 order by id"""
ROLES_AT = """select user_id, role, domain from role_assignments
    where created_at <= $1 and (revoked_at is null or revoked_at > $1) order by user_id, role, domain"""
GROUPS_AT = """select name, domain, members from department_groups
    where created_at <= $1 and (removed_at is null or removed_at > $1) order by name"""
# For every item reclassified after $1, the class it had then: the `before` of its first later change.
CLASSES_AT = """select distinct on (resource, before->>'item') resource, before from policy_changes
    where kind = 'class' and at > $1 order by resource, before->>'item', at, id"""
REINSTATE_GRANT = """update grants set status = 'active', revoked_at = null, revoke_reason = null, revoked_by = null
    where id = $1 and status = 'revoked' returning id"""


MAX_CHANGES = 500  # changes in one answer


async def changes(admin: Admin, resource: str | None = None, department: str | None = None,
                  since: datetime | None = None, until: datetime | None = None, kind: str | None = None,
                  first: int = 50, before_id: int | None = None) -> list[Change]:
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind {kind!r} is not one of {', '.join(KINDS)}", field="kind", accepted=list(KINDS))
    if not 1 <= first <= MAX_CHANGES:
        raise BadRequest(f"first must be between 1 and {MAX_CHANGES}", field="first")
    domains = None if admin.authority.everywhere(Action.POLICY_READ) else admin.authority.domains(Action.POLICY_READ)
    if domains == []:
        admin.authority.require(Action.POLICY_READ, admin.region)
    rows = await admin.pools.fetch(admin.region_database, "history.changes", SELECT_CHANGES, resource, department,
                                   since, until, kind, domains, before_id, first)
    return [Change.from_row(r) for r in rows]


@dataclass(frozen=True)
class PolicyAt:
    at: datetime
    rules: list[Rule]
    grants: list[grants.GrantRow]
    roles: list[tuple[str, str, str]]
    groups: list[tuple[str, str, list[str]]]
    classes: list[tuple[str, str, dict[str, Any]]]  # resource, item, {shareClass, condition, legalBasis}


async def policy_at(admin: Admin, at: datetime) -> PolicyAt:
    """Rules, grants (with their state then), roles, named groups and the item classes changed since."""
    admin.authority.require(Action.POLICY_READ, admin.region)
    db = admin.region_database
    rule_rows = await admin.pools.fetch(db, "history.rules_at", RULES_AT, at)
    grant_rows = await admin.pools.fetch(db, "history.grants_at", GRANTS_AT, at)
    role_rows = await admin.pools.fetch(db, "history.roles_at", ROLES_AT, at)
    group_rows = await admin.pools.fetch(db, "history.groups_at", GROUPS_AT, at)
    class_rows = await admin.pools.fetch(db, "history.classes_at", CLASSES_AT, at)
    found_rules = [rule_from([r[c] for c in ("v0", "v1", "v2", "v3", "v4", "v5", "v6")], r["id"]) for r in rule_rows]
    classes_then = []
    for row in class_rows:
        before = json.loads(row["before"]) if isinstance(row["before"], str) else row["before"]
        classes_then.append((row["resource"], before.pop("item"), before))
    return PolicyAt(at, found_rules, [grants.GrantRow.from_row(r) for r in grant_rows],
                    [(r["user_id"], r["role"], r["domain"]) for r in role_rows],
                    [(r["name"], r["domain"], list(r["members"])) for r in group_rows], classes_then)


async def revert(admin: Admin, engine: Any, change_id: int, reason: str) -> Change:
    """Undo change ``change_id`` with a new change (same permission as the original operation)."""
    why = checked_reason(reason)
    rows = await admin.pools.fetch(admin.region_database, "history.change", SELECT_CHANGE, change_id)
    if not rows:
        raise NotFound(f"no policy change {change_id}", field="id")
    if await admin.pools.fetch(admin.region_database, "history.reverted", SELECT_REVERTED, change_id):
        raise BadRequest(f"policy change {change_id} has been reverted already", field="id")
    original = Change.from_row(rows[0])
    kind, op, before, after = original.kind, original.operation, original.before, original.after
    if kind == "rule" and op == "add":
        return (await rules.remove(admin, int(after["id"]), why, reverts=change_id))[1]
    if kind == "rule" and op == "remove":
        rule = rule_from([before[k] for k in ("subject", "resource", "item", "shareClass", "action", "grantState",
                                              "effect")])
        return (await rules.add(admin, engine, rule, why, reverts=change_id))[1]
    if kind == "class":
        return await classes.reclassify(admin, original.resource or "", before["item"], before["shareClass"],
                                        before["condition"], before["legalBasis"], why, reverts=change_id)
    if kind == "grant" and op == "create":
        return (await grants.revoke(admin, int(after["id"]), why, reverts=change_id))[1]
    if kind == "grant" and op == "revoke":
        return await _reinstate(admin, original, why)
    if kind == "role":
        given = after if op == "assign" else before
        operation = roles.revoke if op == "assign" else roles.assign
        return await operation(admin, given["user"], given["role"], given["domain"], why, reverts=change_id)
    if kind == "group":
        if before is None:
            return await groups.remove_group(admin, after["name"], why, reverts=change_id)
        return await groups.save_group(admin, before["name"], before["members"], before["title"], before["domain"],
                                       why, reverts=change_id)
    raise BadRequest(f"policy change {change_id} ({kind} {op}) cannot be reverted", field="id")


async def _reinstate(admin: Admin, original: Change, why: str) -> Change:
    grant_id = int(original.before["id"])
    admin.authority.require(Action.GRANT_WRITE, original.domain)
    async with region_transaction(admin) as conn:
        if await conn.fetchval(REINSTATE_GRANT, grant_id) is None:
            raise BadRequest(f"grant {grant_id} is not revoked", field="id")
        return await recorded(admin, conn, "grant", "reinstate", original.domain, reason=why,
                              resource=original.resource, department=original.department,
                              before=original.after, after=original.before, reverts=original.id)
