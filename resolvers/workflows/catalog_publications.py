"""What going live means for a catalog entry: the checks that must hold against the node's database
(at submit and again at publish, since the data table may change in between), and the writes to the
live catalog (resources, data items, the published version) that publish, new version and retire make.

The live catalog is what the GraphQL schema is built from (a NOTIFY swaps the schema): these writes run
inside the transition's transaction, so the live catalog and the working copy's state commit together.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time

import asyncpg

from govshare.policies.workdays import CST

from ..specs import PLATFORM_TABLES
from .catalog_records import SELECT_LIVE, Entry
from .documents import Document, Violation, violations

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
INSERT_VERSION = """insert into catalog_versions (code, version, published_by, published_at, document)
    values ($1, $2, $3, coalesce($4, clock_timestamp()), $5::jsonb) on conflict (code, version) do nothing"""
RETIRE_RESOURCE = "update resources set status = 'retired', updated_at = now() where code = $1"
FULFIL_DUTY_CHANGES = """update catalog_duty_changes set fulfilled_at = clock_timestamp(), fulfilled_version = $2
    where code = $1 and fulfilled_at is null"""


async def rule_violations(conn: asyncpg.Connection, entry: Entry) -> list[Violation]:
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


async def write_live(conn: asyncpg.Connection, entry: Entry, level: str, today: date, user: str) -> None:
    """The entry becomes the live resource (its items replaced), its version is kept, and the changes of
    law or duties it was waiting for are fulfilled."""
    code, doc = entry.code, entry.document
    await conn.execute(
        UPSERT_RESOURCE, code, entry.node, doc.classification, doc.category, doc.names["zh"], doc.names["ug"],
        doc.names["kk"], doc.names["en"], doc.summaries["zh"] or "", doc.summaries["ug"], doc.summaries["kk"],
        doc.summaries["en"], entry.provider, level, doc.format, doc.update_cycle, doc.share_class,
        doc.share_conditions, list(doc.share_modes), doc.legal_basis, doc.open_attribute, entry.version,
        today, list(doc.related_codes), doc.data_table, doc.api_name)
    await conn.execute(DELETE_ITEMS, code)
    await conn.executemany(INSERT_ITEM, [
        (code, i.name, position, i.titles["zh"], i.titles["ug"], i.titles["kk"], i.titles["en"], i.data_type,
         i.share_class, i.condition, i.legal_basis, i.is_key) for position, i in enumerate(doc.items, 1)])
    await conn.execute(INSERT_VERSION, code, entry.version, user, None, json.dumps(doc.as_json(), ensure_ascii=False))
    await conn.execute(FULFIL_DUTY_CHANGES, code, entry.version)


def kept_version(code: str, version: int, published_on: date | None, document: Document) -> tuple[object, ...]:
    """INSERT_VERSION's parameters keeping a live entry published outside this workflow (the demo seed's)
    as the version it is: published by "catalog" on its day."""
    # published_on is a day of China Standard Time (the workflow writes china_date of the publication): its
    # start there, not in the server's local zone (a UTC server put it eight hours late).
    published = datetime.combine(published_on, time(0), CST) if published_on else None
    return code, version, "catalog", published, json.dumps(document.as_json(), ensure_ascii=False)


async def keep_versions(conn: asyncpg.Connection, kept: list[tuple[object, ...]]) -> None:
    """Store ``kept_version`` rows (one that is already stored stays as it is)."""
    await conn.executemany(INSERT_VERSION, kept)


async def keep_seeded_version(conn: asyncpg.Connection, entry: Entry, hosted: list[str]) -> None:
    """A resource published before this workflow (or seeded before the seed kept versions) has no stored
    version: keep the live entry as the version it was, before its next version is drafted (``hosted``: the
    nodes of the entry's database)."""
    live = await conn.fetchrow(SELECT_LIVE, entry.code, hosted)
    await keep_versions(conn, [kept_version(entry.code, entry.version, live["published_on"] if live else None,
                                            entry.document)])


async def retire_live(conn: asyncpg.Connection, code: str) -> None:
    await conn.execute(RETIRE_RESOURCE, code)
