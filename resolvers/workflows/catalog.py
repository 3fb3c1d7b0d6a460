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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from core.errors import BadRequest, Conflict, Forbidden, InvalidTransition, NotFound, RuleViolated
from policies.authority import Action, domain_of_code
from policies.workdays import china_date

from ..specs import (
    PLATFORM_TABLES,
    PROVIDER,
    DataItemSpec,
    DataResourceSpec,
    Finding,
    authorise,
    load_catalogs,
)
from .documents import CODE, Document, Item, Violation, shaped, violations, warnings
from .steps import Step, audited, transaction

DUTY_CHANGE_WORKING_DAYS = 15

SELECT_ENTRY = """select code, node_code, provider_code, state, revision, version, document, created_at,
    created_by, updated_at, updated_by from catalog_entries where code = $1"""
LOCK_ENTRY = SELECT_ENTRY + " for update"
INSERT_ENTRY = """insert into catalog_entries (code, node_code, provider_code, state, revision, version, document,
    created_by, updated_by) values ($1, $2, $3, $4, 1, $5, $6::jsonb, $7, $7) on conflict (code) do nothing
    returning code"""
UPDATE_ENTRY = """update catalog_entries set state = $2, revision = revision + 1, version = $3,
    document = $4::jsonb, updated_at = clock_timestamp(), updated_by = $5 where code = $1"""
INSERT_HISTORY = """insert into catalog_history (code, actor, actor_department, action, from_state, to_state,
    revision, version, opinion) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"""
SELECT_HISTORY = """select at, actor, actor_department, action, from_state, to_state, revision, version, opinion
    from catalog_history where code = $1 order by id"""
SELECT_VERSIONS = """select version, published_at, published_by, document from catalog_versions
    where code = $1 order by version"""
INSERT_VERSION = """insert into catalog_versions (code, version, published_by, published_at, document)
    values ($1, $2, $3, coalesce($4, clock_timestamp()), $5::jsonb) on conflict (code, version) do nothing"""
SELECT_LIVE = """select code, node_code, classification, category, name_zh, name_ug, name_kk, name_en, summary_zh,
    summary_ug, summary_kk, summary_en, provider_code, format, update_cycle, share_modes, open_attribute, status,
    version, published_on, related_codes, data_table, api_name, updated_at from resources where code = $1"""
SELECT_RESOURCE_EXISTS = "select 1 from resources where code = $1"
SELECT_LIVE_ITEMS = """select name, title_zh, title_ug, title_kk, title_en, data_type, share_class, share_condition,
    legal_basis, is_key from data_items where resource_code = $1 order by position"""
SELECT_DEPARTMENT = "select level from departments where code = $1 and node_code = $2"
SELECT_COLUMNS = """select column_name from information_schema.columns
    where table_schema = 'public' and table_name = $1"""
SELECT_API_NAME_USED = "select code from resources where api_name = $1 and code <> $2 limit 1"
UPSERT_RESOURCE = """insert into resources (code, node_code, classification, category, name_zh, name_ug, name_kk,
    name_en, summary_zh, summary_ug, summary_kk, summary_en, provider_code, provider_level, format, update_cycle,
    share_class, share_conditions, share_modes, legal_basis, open_attribute, status, version, published_on,
    related_codes, data_table, api_name)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
            'published', $22, $23, $24, $25, $26)
    on conflict (code) do update set classification = excluded.classification, category = excluded.category,
      name_zh = excluded.name_zh, name_ug = excluded.name_ug, name_kk = excluded.name_kk, name_en = excluded.name_en,
      summary_zh = excluded.summary_zh, summary_ug = excluded.summary_ug, summary_kk = excluded.summary_kk,
      summary_en = excluded.summary_en, format = excluded.format, update_cycle = excluded.update_cycle,
      share_class = excluded.share_class, share_conditions = excluded.share_conditions,
      share_modes = excluded.share_modes, legal_basis = excluded.legal_basis,
      open_attribute = excluded.open_attribute, status = 'published', version = excluded.version,
      published_on = excluded.published_on, related_codes = excluded.related_codes,
      data_table = excluded.data_table, api_name = excluded.api_name, updated_at = now()"""
DELETE_ITEMS = "delete from data_items where resource_code = $1"
INSERT_ITEM = """insert into data_items (resource_code, name, position, title_zh, title_ug, title_kk, title_en,
    data_type, share_class, share_condition, legal_basis, is_key) values ($1, $2, $3, $4, $5, $6, $7, $8, $9,
    $10, $11, $12)"""
RETIRE_RESOURCE = "update resources set status = 'retired', updated_at = now() where code = $1"
INSERT_DUTY_CHANGE = """insert into catalog_duty_changes (code, kind, changed_on, reference, due_on, recorded_by)
    values ($1, $2, $3, $4, $5, $6)"""
FULFIL_DUTY_CHANGES = """update catalog_duty_changes set fulfilled_at = clock_timestamp(), fulfilled_version = $2
    where code = $1 and fulfilled_at is null"""
SELECT_DUTY_CHANGES = """select id, code, kind, changed_on, reference, due_on, recorded_at, recorded_by,
    fulfilled_at, fulfilled_version from catalog_duty_changes where code = $1 order by id"""
SELECT_OPEN_DUTY_CHANGES = """select id, code, kind, changed_on, reference, due_on, recorded_at, recorded_by,
    fulfilled_at, fulfilled_version from catalog_duty_changes
    where fulfilled_at is null and left(code, 6) = any($1::text[]) order by due_on, id"""
SELECT_ENTRIES = """select code, node_code, provider_code, state, revision, version, document, created_at,
    created_by, updated_at, updated_by from catalog_entries
    where node_code = any($1::text[]) and ($2::text is null or state = $2)
      and ($3::text is null or provider_code = $3) order by code limit 500"""


@dataclass(frozen=True)
class Event:
    at: datetime
    actor: str
    actor_department: str
    action: str
    from_state: str | None
    to_state: str
    revision: int
    version: int
    opinion: str | None


@dataclass(frozen=True)
class PublishedVersion:
    version: int
    published_at: datetime
    published_by: str
    document: Document


@dataclass(frozen=True)
class DutyChange:
    id: int
    code: str
    kind: str
    changed_on: date
    reference: str
    due_on: date
    recorded_at: datetime
    recorded_by: str
    fulfilled_at: datetime | None
    fulfilled_version: int | None

    def overdue(self, today: date) -> bool:
        return self.fulfilled_at is None and today > self.due_on


@dataclass(frozen=True)
class Entry:
    code: str
    node: str
    provider: str
    state: str
    revision: int
    version: int
    document: Document
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def warnings(self) -> list[Violation]:
        return warnings(self.document)


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _entry(row: Any) -> Entry:
    return Entry(row["code"], row["node_code"], row["provider_code"], row["state"], row["revision"], row["version"],
                 Document.from_json(_load(row["document"])), row["updated_at"], row["updated_by"])


def _live_document(row: Any, items: list[Any]) -> Document:
    return Document(
        classification=row["classification"], category=row["category"],
        names={lang: row[f"name_{lang}"] for lang in ("zh", "ug", "kk", "en")},
        summaries={lang: row[f"summary_{lang}"] for lang in ("zh", "ug", "kk", "en")},
        format=row["format"], update_cycle=row["update_cycle"], share_modes=tuple(row["share_modes"]),
        open_attribute=row["open_attribute"], data_table=row["data_table"], api_name=row["api_name"],
        related_codes=tuple(row["related_codes"]),
        items=tuple(_live_item(i) for i in items))


def _live_item(row: Any) -> Item:
    return Item(row["name"], {lang: row[f"title_{lang}"] for lang in ("zh", "ug", "kk", "en")}, row["data_type"],
                row["share_class"], row["share_condition"], row["legal_basis"], row["is_key"])


def _node_of(step: Step, code: str) -> str:
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise BadRequest("a resource code looks like 650100-D10-000010", field="code")
    node = domain_of_code(code)
    if node not in step.admin.pools.topology.by_code:
        raise NotFound(f"no node {node} serves resource {code}", field="code")
    return node


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


async def _locked(step: Step, conn: asyncpg.Connection, code: str, revision: int) -> Entry:
    """The working copy, locked; a stale revision is CONFLICT. A published resource without one
    (revision 0) reads from the live catalog."""
    row = await conn.fetchrow(LOCK_ENTRY, code)
    if row is not None:
        entry = _entry(row)
    else:
        live = await conn.fetchrow(SELECT_LIVE, code)
        if live is None:
            raise NotFound(f"no catalog entry {code}", field="code")
        items = await conn.fetch(SELECT_LIVE_ITEMS, code)
        entry = Entry(code, live["node_code"], live["provider_code"], live["status"], 0, live["version"],
                      _live_document(live, items))
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
    node = _node_of(step, code)
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
    node = _node_of(step, code)
    document = shaped(body)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _require_registrar(step, node, entry.provider)
        _allowed(entry, "edit", "draft")
        return await _save(step, conn, entry, "edit", "draft", document, entry.version)


async def submit(step: Step, code: str, revision: int) -> Entry:
    node = _node_of(step, code)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _require_registrar(step, node, entry.provider)
        _allowed(entry, "submit", "draft")
        found = await _rule_violations(conn, entry)
        if found:
            raise RuleViolated(f"{code} cannot be submitted: " + "; ".join(v.message for v in found), found[0].code,
                               violations=[v.as_json() for v in found])
        return await _save(step, conn, entry, "submit", "submitted", entry.document, entry.version)


async def _rule_violations(conn: asyncpg.Connection, entry: Entry) -> list[Violation]:
    doc = entry.document
    columns: set[str] | None = None
    if doc.data_table is not None:
        columns = {r["column_name"] for r in await conn.fetch(SELECT_COLUMNS, doc.data_table)} or None
    found = violations(doc, columns)
    if doc.data_table is not None and columns is not None and (
            doc.data_table in PLATFORM_TABLES or not {"node_code", "row_id"} <= columns):
        # Only registers (rows tagged with their node, a neutral row id) hold shared data; the platform's
        # own tables (audit trail, grants, roles) never do, whatever an entry says.
        found.append(Violation("DATA_LOCATION_MISSING", f"{doc.data_table} is not a shared-data register "
                               "(a register has node_code and row_id columns; platform tables are never shared)"))
    if doc.api_name is not None:
        used = await conn.fetchval(SELECT_API_NAME_USED, doc.api_name, entry.code)
        if used is not None:
            found.append(Violation("DATA_LOCATION_MISSING", f"api name {doc.api_name} is already used by {used}"))
    return found


async def review(step: Step, code: str, revision: int, approve: bool, opinion: str | None) -> Entry:
    node = _node_of(step, code)
    text = _opinion(opinion, required=not approve)
    step.admin.authority.require(Action.CATALOG_REVIEW, node)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _allowed(entry, "review", "submitted")
        if approve:
            return await _save(step, conn, entry, "approve", "approved", entry.document, entry.version, text)
        return await _save(step, conn, entry, "return", "draft", entry.document, entry.version, text)


async def publish(step: Step, code: str, revision: int, opinion: str | None) -> Entry:
    node = _node_of(step, code)
    text = _opinion(opinion, required=False)
    step.admin.authority.require(Action.CATALOG_REVIEW, node)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _allowed(entry, "publish", "approved")
        # The rules hold at publish too: the data table may have changed since the submit.
        found = await _rule_violations(conn, entry)
        if found:
            raise RuleViolated(f"{code} cannot be published: " + "; ".join(v.message for v in found),
                               found[0].code, violations=[v.as_json() for v in found])
        level = await conn.fetchval(SELECT_DEPARTMENT, entry.provider, node)
        if level is None:
            raise BadRequest(f"the provider {entry.provider} is no longer in node {node}'s catalog")
        doc = entry.document
        await conn.execute(
            UPSERT_RESOURCE, code, node, doc.classification, doc.category, doc.names["zh"], doc.names["ug"],
            doc.names["kk"], doc.names["en"], doc.summaries["zh"] or "", doc.summaries["ug"], doc.summaries["kk"],
            doc.summaries["en"], entry.provider, level, doc.format, doc.update_cycle, doc.share_class,
            doc.share_conditions, list(doc.share_modes), doc.legal_basis, doc.open_attribute, entry.version,
            china_date(step.now), list(doc.related_codes), doc.data_table, doc.api_name)
        await conn.execute(DELETE_ITEMS, code)
        await conn.executemany(INSERT_ITEM, [
            (code, i.name, position, i.titles["zh"], i.titles["ug"], i.titles["kk"], i.titles["en"], i.data_type,
             i.share_class, i.condition, i.legal_basis, i.is_key) for position, i in enumerate(doc.items, 1)])
        await conn.execute(INSERT_VERSION, code, entry.version, step.user, None,
                           json.dumps(doc.as_json(), ensure_ascii=False))
        await conn.execute(FULFIL_DUTY_CHANGES, code, entry.version)
        return await _save(step, conn, entry, "publish", "published", doc, entry.version, text)


async def new_version(step: Step, code: str, revision: int) -> Entry:
    node = _node_of(step, code)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _require_registrar(step, node, entry.provider)
        _allowed(entry, "a new version", "published")
        if entry.revision == 0:
            # Published before this workflow: keep the live entry as the version it was.
            live = await conn.fetchrow(SELECT_LIVE, code)
            published = datetime.combine(live["published_on"], datetime.min.time()).astimezone() \
                if live is not None and live["published_on"] else None
            await conn.execute(INSERT_VERSION, code, entry.version, "catalog", published,
                               json.dumps(entry.document.as_json(), ensure_ascii=False))
        return await _save(step, conn, entry, "new_version", "draft", entry.document, entry.version + 1)


async def retire(step: Step, code: str, revision: int, opinion: str | None) -> Entry:
    node = _node_of(step, code)
    text = _opinion(opinion, required=True)
    step.admin.authority.require(Action.CATALOG_REVIEW, node)
    async with transaction(step, node) as conn:
        entry = await _locked(step, conn, code, revision)
        _allowed(entry, "retire", "published")
        await conn.execute(RETIRE_RESOURCE, code)
        return await _save(step, conn, entry, "retire", "retired", entry.document, entry.version, text)


async def record_duty_change(step: Step, code: str, revision: int, kind: str, changed_on: date,
                             reference: str) -> tuple[Entry, DutyChange]:
    node = _node_of(step, code)
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
    return saved, _duty(row)


def _duty(row: Any) -> DutyChange:
    return DutyChange(row["id"], row["code"], row["kind"], row["changed_on"], row["reference"], row["due_on"],
                      row["recorded_at"], row["recorded_by"], row["fulfilled_at"], row["fulfilled_version"])


def _may_see_drafts(step: Step, node: str, provider: str) -> bool:
    authority = step.admin.authority
    return step.department == provider or authority.allows(Action.CATALOG_REVIEW, node) \
        or authority.allows(Action.CATALOG_EDIT, node)


async def read(step: Step, code: str) -> Entry:
    """The working copy (or the live entry of a resource published before the workflow)."""
    node = _node_of(step, code)
    database = step.admin.pools.topology.node(node).database_node
    rows = await step.admin.pools.fetch(database, "workflow.entry", SELECT_ENTRY, code)
    if rows:
        entry = _entry(rows[0])
        if entry.state in ("published", "retired") or _may_see_drafts(step, node, entry.provider):
            return entry
        # A new version in the making is the provider's business; everyone else keeps reading the
        # published version (found from outside: the entry vanished while its next version was drafted).
    live = await step.admin.pools.fetch(database, "workflow.live", SELECT_LIVE, code)
    if not live:
        raise NotFound(f"no catalog entry {code}", field="code")
    items = await step.admin.pools.fetch(database, "workflow.live_items", SELECT_LIVE_ITEMS, code)
    entry = Entry(code, live[0]["node_code"], live[0]["provider_code"], live[0]["status"], 0,
                  live[0]["version"], _live_document(live[0], items))
    if entry.state not in ("published", "retired") and not _may_see_drafts(step, node, entry.provider):
        raise NotFound(f"no catalog entry {code}", field="code")
    return entry


async def history(step: Step, entry: Entry) -> list[Event]:
    database = step.admin.pools.topology.node(entry.node).database_node
    rows = await step.admin.pools.fetch(database, "workflow.history", SELECT_HISTORY, entry.code)
    return [Event(r["at"], r["actor"], r["actor_department"], r["action"], r["from_state"], r["to_state"],
                  r["revision"], r["version"], r["opinion"]) for r in rows]


async def versions(step: Step, entry: Entry) -> list[PublishedVersion]:
    database = step.admin.pools.topology.node(entry.node).database_node
    rows = await step.admin.pools.fetch(database, "workflow.versions", SELECT_VERSIONS, entry.code)
    return [PublishedVersion(r["version"], r["published_at"], r["published_by"],
                             Document.from_json(_load(r["document"]))) for r in rows]


async def duty_changes(step: Step, entry: Entry) -> list[DutyChange]:
    database = step.admin.pools.topology.node(entry.node).database_node
    rows = await step.admin.pools.fetch(database, "workflow.duty_changes", SELECT_DUTY_CHANGES, entry.code)
    return [_duty(r) for r in rows]


def _visible_nodes(step: Step, *actions: Action) -> list[str]:
    topology = step.admin.pools.topology
    nodes: set[str] = {domain_of_code(step.department)}
    for action in actions:
        for domain in step.admin.authority.domains(action):
            nodes.update(n.code for n in topology.nodes) if domain == topology.region.code else nodes.add(domain)
    return sorted(n for n in nodes if n in topology.by_code)


async def entries(step: Step, state: str | None, provider: str | None) -> list[Entry]:
    """Working copies the caller may see: its department's, and every entry of the nodes where it
    edits or reviews."""
    nodes = _visible_nodes(step, Action.CATALOG_EDIT, Action.CATALOG_REVIEW)
    topology = step.admin.pools.topology
    by_database: dict[str, list[str]] = {}
    for node in nodes:
        by_database.setdefault(topology.node(node).database_node, []).append(node)
    results = await step.admin.pools.fetch_each(list(by_database), "workflow.entries", SELECT_ENTRIES, nodes,
                                                state, provider)
    found: list[Entry] = []
    for rows in results.values():
        if isinstance(rows, Exception):
            raise rows
        found.extend(e for e in map(_entry, rows) if _may_see_drafts(step, e.node, e.provider))
    return sorted(found, key=lambda e: e.code)


async def open_duty_changes(step: Step) -> list[DutyChange]:
    """Changes of law or duties whose catalog update is still open, in the nodes the caller edits or
    reviews, earliest deadline first."""
    nodes = _visible_nodes(step, Action.CATALOG_EDIT, Action.CATALOG_REVIEW, Action.STATS_READ)
    databases = sorted({step.admin.pools.topology.node(n).database_node for n in nodes})
    results = await step.admin.pools.fetch_each(databases, "workflow.open_duties", SELECT_OPEN_DUTY_CHANGES, nodes)
    found: list[DutyChange] = []
    for rows in results.values():
        if isinstance(rows, Exception):
            raise rows
        found.extend(map(_duty, rows))
    return sorted(found, key=lambda d: (d.due_on, d.code, d.id))


async def authority_findings(step: Step, entry: Entry) -> list[Finding]:
    """What the classification authority (resolvers/specs.py) would overrule in this entry if it were
    served as it stands: looser classes than the register owner's, columns the owner does not classify,
    a refused reach or a taken api name. Publishing never loosens a class: these are applied anyway."""
    doc = entry.document
    if doc.data_table is None or doc.api_name is None or not doc.items:
        return []
    topology = step.admin.pools.topology
    catalogs, _ = await load_catalogs(step.admin.pools)
    database = topology.node(entry.node).database_node
    current = next((s for s in catalogs.get(database, []) if s.code == entry.code), None)
    spec = DataResourceSpec(
        entry.code, entry.node, doc.api_name, doc.data_table, current.scope if current else PROVIDER, entry.provider,
        dict(doc.names), doc.summaries.get("en") or doc.summaries.get("zh") or "",
        tuple(DataItemSpec(i.name, i.data_type, i.share_class, i.condition, i.legal_basis, i.is_key, dict(i.titles))
              for i in doc.items))
    catalogs[database] = [s for s in catalogs.get(database, []) if s.code != entry.code] + [spec]
    return [f for f in authorise(topology, catalogs).findings
            if f.resource == entry.code or entry.code in dict(f.classes)]
