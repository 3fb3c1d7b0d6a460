"""Catalog entries as records: working copies, their history, published versions and changes of law
or duties, and who may read which.

The transitions (catalog.py) write these rows. A working copy in draft, submitted or approved state is
the provider's and its node's business (registrars, reviewers): anyone else reads the published
version, as if no new version were being drafted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from govshare.core.errors import BadRequest, NotFound
from govshare.federation.topology import Topology
from govshare.policies.authority import Action, domain_of_code

from .. import catalog, hosting
from .documents import CODE, Document, Item, Violation, warnings
from .steps import Step

# A node's catalog is trusted only about its own database (catalog.HOSTED_LOOKUP, HOSTED_PREFIXES): a working
# copy, live entry or duty change is read only where its code's node lives, and only when the node and
# provider it names are hosted there too; listings send each database its own nodes and their prefixes.
# The filters run on that database's server, so every row read is checked again in the service (``own_row``,
# hosting.own_rows) before it is used.
SELECT_ENTRY = f"""select code, node_code, provider_code, state, revision, version, document, created_at,
    created_by, updated_at, updated_by from catalog_entries where code = $1 and {catalog.HOSTED_LOOKUP.format(2)}"""
SELECT_HISTORY = """select at, actor, actor_department, action, from_state, to_state, revision, version, opinion
    from catalog_history where code = $1 order by id"""
SELECT_VERSIONS = """select version, published_at, published_by, document from catalog_versions
    where code = $1 order by version"""
SELECT_LIVE = f"""select code, node_code, classification, category, name_zh, name_ug, name_kk, name_en, summary_zh,
    summary_ug, summary_kk, summary_en, provider_code, format, update_cycle, share_modes, open_attribute, status,
    version, published_on, related_codes, data_table, api_name, updated_at from resources
    where code = $1 and {catalog.HOSTED_LOOKUP.format(2)}"""
SELECT_LIVE_ITEMS = """select name, title_zh, title_ug, title_kk, title_en, data_type, share_class, share_condition,
    legal_basis, is_key from data_items where resource_code = $1 order by position"""
SELECT_DUTY_CHANGES = """select id, code, kind, changed_on, reference, due_on, recorded_at, recorded_by,
    fulfilled_at, fulfilled_version from catalog_duty_changes where code = $1 order by id"""
SELECT_OPEN_DUTY_CHANGES = """select id, code, kind, changed_on, reference, due_on, recorded_at, recorded_by,
    fulfilled_at, fulfilled_version from catalog_duty_changes
    where fulfilled_at is null and code ^@ any($1::text[]) order by due_on, id"""
SELECT_ENTRIES = """select code, node_code, provider_code, state, revision, version, document, created_at,
    created_by, updated_at, updated_by from catalog_entries
    where node_code = any($1::text[]) and code ^@ any($4::text[]) and provider_code ^@ any($4::text[])
      and ($2::text is null or state = $2) and ($3::text is null or provider_code = $3) order by code limit 500"""


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


def entry_from_row(row: Any) -> Entry:
    return Entry(row["code"], row["node_code"], row["provider_code"], row["state"], row["revision"], row["version"],
                 Document.from_json(_load(row["document"])), row["updated_at"], row["updated_by"])


def live_document(row: Any, items: list[Any]) -> Document:
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


def duty_from_row(row: Any) -> DutyChange:
    return DutyChange(row["id"], row["code"], row["kind"], row["changed_on"], row["reference"], row["due_on"],
                      row["recorded_at"], row["recorded_by"], row["fulfilled_at"], row["fulfilled_version"])


def node_of(step: Step, code: str) -> str:
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise BadRequest("a resource code looks like 650100-D10-000010", field="code")
    node = domain_of_code(code)
    if node not in step.admin.pools.topology.by_code:
        raise NotFound(f"no node {node} serves resource {code}", field="code")
    return node


def _may_see_drafts(step: Step, node: str, provider: str) -> bool:
    authority = step.admin.authority
    return step.department == provider or authority.allows(Action.CATALOG_REVIEW, node) \
        or authority.allows(Action.CATALOG_EDIT, node)


async def read(step: Step, code: str) -> Entry:
    """The working copy (or the live entry of a resource published before the workflow)."""
    node = node_of(step, code)
    database = step.admin.pools.topology.node(node).database_node
    topology = step.admin.pools.topology
    hosted = list(topology.hosted_on(database))
    row = own_row(topology, database, code, await step.admin.pools.fetch(database, "workflow.entry", SELECT_ENTRY,
                                                                          code, hosted), "working copy")
    if row is not None:
        entry = entry_from_row(row)
        if entry.state in ("published", "retired") or _may_see_drafts(step, node, entry.provider):
            return entry
        # A new version in the making is the provider's business; everyone else keeps reading the
        # published version (found from outside: the entry vanished while its next version was drafted).
    live = own_row(topology, database, code, await step.admin.pools.fetch(database, "workflow.live", SELECT_LIVE,
                                                                           code, hosted), "resource")
    if live is None:
        raise NotFound(f"no catalog entry {code}", field="code")
    items = await step.admin.pools.fetch(database, "workflow.live_items", SELECT_LIVE_ITEMS, code)
    entry = Entry(code, live["node_code"], live["provider_code"], live["status"], 0,
                  live["version"], live_document(live, items))
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
    return [duty_from_row(r) for r in rows]


def _visible_nodes(step: Step, *actions: Action) -> list[str]:
    topology = step.admin.pools.topology
    nodes: set[str] = {domain_of_code(step.department)}
    for action in actions:
        for domain in step.admin.authority.domains(action):
            nodes.update(n.code for n in topology.nodes) if domain == topology.region.code else nodes.add(domain)
    return sorted(n for n in nodes if n in topology.by_code)


def _prefixes(step: Step, database: str) -> list[str]:
    """The code prefixes of every node ``database`` hosts."""
    return [node + "-" for node in step.admin.pools.topology.hosted_on(database)]


def own_row(topology: Topology, database: str, code: str, rows: Sequence[asyncpg.Record], what: str
            ) -> asyncpg.Record | None:
    """The row of ``code`` among ``rows`` (a working copy or live entry read by code from ``database``) when
    that database owns it (hosting.owns: its node, code and provider hosted there); rows of other codes,
    which no honest server returns for ``code = $1``, are ignored."""
    for row in rows:
        if row["code"] != code:
            continue
        if hosting.owns(topology, database, row["node_code"], code, row["provider_code"], with_provider=True):
            return row
        hosting.dropped(database, what, code, row["node_code"], row["provider_code"])
    return None


async def entries(step: Step, state: str | None, provider: str | None) -> list[Entry]:
    """Working copies the caller may see: its department's, and every entry of the nodes where it
    edits or reviews."""
    nodes = _visible_nodes(step, Action.CATALOG_EDIT, Action.CATALOG_REVIEW)
    topology = step.admin.pools.topology
    by_database: dict[str, list[str]] = {}
    for node in nodes:
        by_database.setdefault(topology.node(node).database_node, []).append(node)
    results = await catalog.fetch_each_own(step.admin.pools, list(by_database), "workflow.entries", lambda db: (
        SELECT_ENTRIES, [by_database[db], state, provider, _prefixes(step, db)]))
    found: list[Entry] = []
    for db, rows in results.items():
        if isinstance(rows, Exception):
            raise rows
        own = hosting.own_rows(topology, db, rows, "working copy", provider="provider_code")
        found.extend(e for e in map(entry_from_row, own)
                     if e.node in by_database[db] and _may_see_drafts(step, e.node, e.provider))
    return sorted(found, key=lambda e: e.code)


async def open_duty_changes(step: Step) -> list[DutyChange]:
    """Changes of law or duties whose catalog update is still open, in the nodes the caller edits or
    reviews, earliest deadline first."""
    nodes = _visible_nodes(step, Action.CATALOG_EDIT, Action.CATALOG_REVIEW, Action.STATS_READ)
    by_database: dict[str, list[str]] = {}
    for node in nodes:
        by_database.setdefault(step.admin.pools.topology.node(node).database_node, []).append(node)
    # A duty change names only its code: each database is asked for (and trusted about) the codes of the
    # visible nodes it hosts, by prefix.
    results = await catalog.fetch_each_own(step.admin.pools, sorted(by_database), "workflow.open_duties", lambda db: (
        SELECT_OPEN_DUTY_CHANGES, [[node + "-" for node in by_database[db]]]))
    found: list[DutyChange] = []
    for db, rows in results.items():
        if isinstance(rows, Exception):
            raise rows
        for row in rows:
            if hosting.belongs(row["code"], by_database[db]):
                found.append(duty_from_row(row))
            else:
                hosting.dropped(db, "duty change", row["code"], None)
    return sorted(found, key=lambda d: (d.due_on, d.code, d.id))
