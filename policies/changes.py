"""The history of administrative changes (rules, classes, roles, grants, groups): who, when, before,
after and why. A row is written in the same transaction as the change it records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from govshare.core.errors import BadRequest

KINDS = ("rule", "class", "role", "grant", "group")
MAX_REASON = 2000

INSERT_CHANGE = """insert into policy_changes (actor, actor_department, kind, operation, domain, resource,
    department, before, after, reason, reverts)
    values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11) returning id, at"""
SELECT_CHANGE = """select id, at, actor, actor_department, kind, operation, domain, resource, department,
    before, after, reason, reverts from policy_changes where id = $1"""
# Filters are optional: a NULL parameter matches everything. Newest first, keyset on (at, id).
SELECT_CHANGES = """select id, at, actor, actor_department, kind, operation, domain, resource, department,
    before, after, reason, reverts from policy_changes
    where ($1::text is null or resource = $1) and ($2::text is null or department = $2)
      and ($3::timestamptz is null or at >= $3) and ($4::timestamptz is null or at < $4)
      and ($5::text is null or kind = $5) and ($6::text[] is null or domain = any($6::text[]))
      and ($7::bigint is null or id < $7)
    order by id desc limit $8"""
SELECT_REVERTED = "select id from policy_changes where reverts = $1 limit 1"


@dataclass(frozen=True)
class Change:
    id: int
    at: datetime
    actor: str
    actor_department: str
    kind: str
    operation: str
    domain: str
    resource: str | None
    department: str | None
    before: Any
    after: Any
    reason: str
    reverts: int | None

    @classmethod
    def from_row(cls, row: Any) -> Change:
        def load(value: Any) -> Any:
            return json.loads(value) if isinstance(value, str) else value

        return cls(row["id"], row["at"], row["actor"], row["actor_department"], row["kind"], row["operation"],
                   row["domain"], row["resource"], row["department"], load(row["before"]), load(row["after"]),
                   row["reason"], row["reverts"])


def checked_reason(reason: str | None) -> str:
    """A reason is mandatory for every change: non-blank, at most MAX_REASON characters."""
    text = " ".join((reason or "").split())
    if not text:
        raise BadRequest("a reason is required for every policy change", field="reason")
    if len(text) > MAX_REASON or "\x00" in text:
        raise BadRequest(f"the reason must be at most {MAX_REASON} characters of text", field="reason")
    return text


@dataclass(frozen=True)
class Actor:
    user: str
    department: str


async def record(conn: asyncpg.Connection, actor: Actor, kind: str, operation: str, domain: str, *,
                 reason: str, resource: str | None = None, department: str | None = None,
                 before: Any = None, after: Any = None, reverts: int | None = None) -> Change:
    assert kind in KINDS, kind
    row = await conn.fetchrow(INSERT_CHANGE, actor.user, actor.department, kind, operation, domain, resource,
                              department, _json(before), _json(after), reason, reverts)
    assert row is not None
    return Change(row["id"], row["at"], actor.user, actor.department, kind, operation, domain, resource,
                  department, before, after, reason, reverts)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
