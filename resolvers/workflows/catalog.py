"""The catalog lifecycle: draft → submitted → approved → published (→ new version → …) → retired.

States and who moves them (domain: the resource's node, the first six characters of its code):

=================  ==================  ===========================================================
step               from → to           who
=================  ==================  ===========================================================
create             — → draft           registrar (catalog.edit) of the provider department
edit               draft → draft       same
submit             draft → submitted   same; the submit rules (documents.py) must all hold
review APPROVE     submitted→approved  sharing reviewer (catalog.review) of the node
review RETURN      submitted → draft   same; an opinion is mandatory
publish            approved→published  same; the live catalog is written (NOTIFY swaps the schema)
new version        published → draft   registrar of the provider; the published version keeps serving
retire             published→retired   sharing reviewer; an opinion is mandatory
duty change        any → same          registrar or reviewer: a change of law or duties, due in 15
                                       working days (fulfilled by the next publish)
=================  ==================  ===========================================================

A resource published before this workflow (seeded) has no working copy: it reads as revision 0, and
its first new version snapshots the live entry as the version it replaces.

This module holds the transitions only: reading entries (and who may) is catalog_records.py, what
going live writes and checks is catalog_publications.py, the authority's view of an entry
catalog_findings.py.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg

from govshare.core.errors import BadRequest, Conflict, Forbidden, InvalidTransition, NotFound, RuleViolated
from govshare.policies.authority import Action, domain_of_code
from govshare.policies.groups import department_facts
from govshare.policies.workdays import china_date

from . import catalog_publications as publications
from .catalog_records import (
    SELECT_DUTY_CHANGES,
    SELECT_ENTRY,
    SELECT_LIVE,
    SELECT_LIVE_ITEMS,
    DutyChange,
    Entry,
    duty_from_row,
    entry_from_row,
    live_document,
    node_of,
    own_row,
)
from .documents import Document, shaped
from .steps import Step, audited, transaction

DUTY_CHANGE_WORKING_DAYS = 15

LOCK_ENTRY = SELECT_ENTRY + " for update"
INSERT_ENTRY = """insert into catalog_entries (code, node_code, provider_code, state, revision, version, document,
    created_by, updated_by) values ($1, $2, $3, $4, 1, $5, $6::jsonb, $7, $7) on conflict (code) do nothing
    returning code"""
UPDATE_ENTRY = """update catalog_entries set state = $2, revision = revision + 1, version = $3,
    document = $4::jsonb, updated_at = clock_timestamp(), updated_by = $5 where code = $1"""
INSERT_HISTORY = """insert into catalog_history (code, actor, actor_department, action, from_state, to_state,
    revision, version, opinion) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"""
SELECT_RESOURCE_EXISTS = "select 1 from resources where code = $1"
SELECT_DEPARTMENT = "select level from departments where code = $1 and node_code = $2"
INSERT_DUTY_CHANGE = """insert into catalog_duty_changes (code, kind, changed_on, reference, due_on, recorded_by)
    values ($1, $2, $3, $4, $5, $6)"""


def _opinion(opinion: str | None, *, required: bool) -> str | None:
    text = " ".join((opinion or "").split())
    if "\x00" in text or len(text) > 2000:
        raise BadRequest("an opinion is text of at most 2000 characters", field="opinion")
    if required and not text:
        raise BadRequest("an opinion is required for this step", field="opinion")
    return text or None


def _require_registrar(step: Step, node: str, provider: str) -> None:
    step.admin.authority.require(Action.CATALOG_EDIT, node)
    if step.department != provider:
        raise Forbidden(f"only a registrar of the provider department {provider} may edit its catalog entries; "
                        f"you act for {step.department}", action=Action.CATALOG_EDIT.value, provider=provider)


def _hosted(step: Step, node: str) -> list[str]:
    """The nodes hosted by ``node``'s database: a working copy or live entry naming another is not read."""
    topology = step.admin.pools.topology
    return list(topology.hosted_on(topology.node(node).database_node))


async def _locked(step: Step, conn: asyncpg.Connection, code: str, revision: int) -> Entry:
    """The working copy, locked; a stale revision is CONFLICT. A published resource without one
    (revision 0) reads from the live catalog."""
    topology = step.admin.pools.topology
    database = topology.node(node_of(step, code)).database_node
    hosted = _hosted(step, node_of(step, code))
    row = own_row(topology, database, code, await conn.fetch(LOCK_ENTRY, code, hosted), "working copy")
    if row is not None:
        entry = entry_from_row(row)
    else:
        live = own_row(topology, database, code, await conn.fetch(SELECT_LIVE, code, hosted), "resource")
        if live is None:
            raise NotFound(f"no catalog entry {code}", field="code")
        items = await conn.fetch(SELECT_LIVE_ITEMS, code)
        entry = Entry(code, live["node_code"], live["provider_code"], live["status"], 0, live["version"],
                      live_document(live, items))
    if entry.revision != revision:
        raise Conflict(f"{code} is at revision {entry.revision}, not {revision}: it changed since you read it; "
                       "read it again and reapply your change", current=entry.revision, read=revision)
    return entry


def _allowed(entry: Entry, step_name: str, *states: str) -> None:
    if entry.state not in states:
        raise InvalidTransition(f"{step_name} needs an entry in state {' or '.join(states)}; {entry.code} is "
                                f"{entry.state}", state=entry.state, allowed=list(states))


async def _save(step: Step, conn: asyncpg.Connection, before: Entry, action: str, to_state: str,
                document: Document, version: int, opinion: str | None = None) -> Entry:
    if before.revision == 0:
        created = await conn.fetchval(INSERT_ENTRY, before.code, before.node, before.provider, to_state, version,
                                      json.dumps(document.as_json(), ensure_ascii=False), step.user)
        if created is None:
            raise Conflict(f"{before.code} got a working copy meanwhile; read it again", current=1, read=0)
        revision = 1
    else:
        await conn.execute(UPDATE_ENTRY, before.code, to_state, version,
                           json.dumps(document.as_json(), ensure_ascii=False), step.user)
        revision = before.revision + 1
    await conn.execute(INSERT_HISTORY, before.code, step.user, step.department, action,
                       before.state if before.revision or action != "create" else None, to_state, revision,
                       version, opinion)
    await audited(step, f"catalog.{action}", before.code, f"{before.state} -> {to_state}"
                  + (f": {opinion}" if opinion else ""))
    return Entry(before.code, before.node, before.provider, to_state, revision, version, document,
                 step.now, step.user)


async def create(step: Step, code: str, provider: str, body: dict[str, Any]) -> Entry:
    node = node_of(step, code)
    if domain_of_code(provider) != node:
        raise BadRequest(f"the provider {provider} must be a department of node {node}", field="providerCode")
    _require_registrar(step, node, provider)
    document = shaped(body)
    async with transaction(step, node) as conn:
        if await conn.fetchval(SELECT_DEPARTMENT, provider, node) is None:
            raise BadRequest(f"no department {provider} in node {node}'s catalog", field="providerCode")
        if await conn.fetchval(SELECT_RESOURCE_EXISTS, code) is not None:
            raise BadRequest(f"{code} is already in the catalog: start a new version of it", field="code")
        created = await conn.fetchval(INSERT_ENTRY, code, node, provider, "draft", 1,
                                      json.dumps(document.as_json(), ensure_ascii=False), step.user)
        if created is None:
            raise BadRequest(f"a catalog entry {code} already exists", field="code")
        await conn.execute(INSERT_HISTORY, code, step.user, step.department, "create", None, "draft", 1, 1, None)
        await audited(step, "catalog.create", code, "created as draft")
    return Entry(code, node, provider, "draft", 1, 1, document, step.now, step.user)


async def edit(step: Step, code: str, revision: int, body: dict[str, Any]) -> Entry:
    node = node_of(step, code)
    document = shaped(body)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _require_registrar(step, node, entry.provider)
        _allowed(entry, "edit", "draft")
        return await _save(step, conn, entry, "edit", "draft", document, entry.version)


async def submit(step: Step, code: str, revision: int) -> Entry:
    node = node_of(step, code)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _require_registrar(step, node, entry.provider)
        _allowed(entry, "submit", "draft")
        found = await publications.rule_violations(conn, entry)
        if found:
            raise RuleViolated(f"{code} cannot be submitted: " + "; ".join(v.message for v in found), found[0].code,
                               violations=[v.as_json() for v in found])
        return await _save(step, conn, entry, "submit", "submitted", entry.document, entry.version)


async def review(step: Step, code: str, revision: int, approve: bool, opinion: str | None) -> Entry:
    node = node_of(step, code)
    text = _opinion(opinion, required=not approve)
    step.admin.authority.require(Action.CATALOG_REVIEW, node)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _allowed(entry, "review", "submitted")
        if approve:
            return await _save(step, conn, entry, "approve", "approved", entry.document, entry.version, text)
        return await _save(step, conn, entry, "return", "draft", entry.document, entry.version, text)


async def publish(step: Step, code: str, revision: int, opinion: str | None) -> Entry:
    node = node_of(step, code)
    text = _opinion(opinion, required=False)
    step.admin.authority.require(Action.CATALOG_REVIEW, node)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _allowed(entry, "publish", "approved")
        # The rules hold at publish too: the data table may have changed since the submit.
        found = await publications.rule_violations(conn, entry)
        if found:
            raise RuleViolated(f"{code} cannot be published: " + "; ".join(v.message for v in found),
                               found[0].code, violations=[v.as_json() for v in found])
        level = await conn.fetchval(SELECT_DEPARTMENT, entry.provider, node)
        if level is None:
            raise BadRequest(f"the provider {entry.provider} is no longer in node {node}'s catalog")
        # the level its code says, as the access rules take it (the row may not contradict its code)
        level = department_facts(entry.provider, step.admin.pools.topology.region.code, level, node).level
        await publications.write_live(conn, entry, level, china_date(step.now), step.user)
        return await _save(step, conn, entry, "publish", "published", entry.document, entry.version, text)


async def new_version(step: Step, code: str, revision: int) -> Entry:
    node = node_of(step, code)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _require_registrar(step, node, entry.provider)
        _allowed(entry, "a new version", "published")
        if entry.revision == 0:
            await publications.keep_seeded_version(conn, entry, _hosted(step, node))
        return await _save(step, conn, entry, "new_version", "draft", entry.document, entry.version + 1)


async def retire(step: Step, code: str, revision: int, opinion: str | None) -> Entry:
    node = node_of(step, code)
    text = _opinion(opinion, required=True)
    step.admin.authority.require(Action.CATALOG_REVIEW, node)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _allowed(entry, "retire", "published")
        await publications.retire_live(conn, code)
        return await _save(step, conn, entry, "retire", "retired", entry.document, entry.version, text)


async def record_duty_change(step: Step, code: str, revision: int, kind: str, changed_on: date,
                             reference: str) -> tuple[Entry, DutyChange]:
    node = node_of(step, code)
    if kind not in ("law", "duties"):
        raise BadRequest("kind is law or duties", field="kind")
    ref = _opinion(reference, required=True) or ""
    if changed_on > china_date(step.now):
        raise BadRequest("a change of law or duties is recorded once it has happened", field="changedOn")
    due = step.calendar.add(changed_on, DUTY_CHANGE_WORKING_DAYS)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        if not step.admin.authority.allows(Action.CATALOG_REVIEW, node):
            _require_registrar(step, node, entry.provider)
        _allowed(entry, "recording a change of law or duties", "draft", "submitted", "approved", "published")
        await conn.execute(INSERT_DUTY_CHANGE, code, kind, changed_on, ref, due, step.user)
        saved = await _save(step, conn, entry, f"duty_change_{kind}", entry.state, entry.document, entry.version,
                            f"{changed_on.isoformat()} {ref}; update due {due.isoformat()}")
        row = (await conn.fetch(SELECT_DUTY_CHANGES, code))[-1]
    return saved, duty_from_row(row)
