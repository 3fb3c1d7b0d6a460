"""Write the demo data set into every node database with COPY, one transaction per database."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass

import asyncpg

from govshare.federation.answers import LimitedConnection
from govshare.federation.nodes import NodePools
from govshare.federation.topology import Node, Topology
from govshare.resolvers.workflows import catalog_publications as publications

from . import catalog, registers
from .grants import seed_grants
from .roles import seed_roles

CHUNK = 20_000
SEED_KEY = "seed"
SELECT_SEED = "select value from govshare_meta where key = $1"
UPSERT_META = """insert into govshare_meta (key, value) values ($1, $2::jsonb)
                 on conflict (key) do update set value = excluded.value, updated_at = now()"""
TRUNCATE = """truncate departments, resources, data_items, catalog_versions, population, legal_entities,
              business_licences, grants restart identity cascade"""
DELETE_SEED = "delete from govshare_meta where key = $1"


@dataclass(frozen=True)
class SeedOptions:
    seed: int = 20261126
    persons: int = 100_000
    entities: int = 20_000
    resources: int = 5_000  # generated catalog entries, besides the three data resources


@dataclass
class SeedReport:
    database: str
    skipped: bool
    rows: dict[str, int]
    seconds: float


def _chunks(rows: Iterable[tuple[object, ...]], size: int = CHUNK) -> Iterator[list[tuple[object, ...]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _ignore(table: str, rows: int) -> None:
    pass


# Told (table, rows) after every chunk written, for progress output; called from the event loop.
Progress = Callable[[str, int], None]


async def _copy(conn: asyncpg.Connection, table: str, columns: tuple[str, ...],
                rows: Iterable[tuple[object, ...]], progress: Progress = _ignore) -> int:
    total = 0
    for chunk in _chunks(rows):
        await conn.copy_records_to_table(table, records=chunk, columns=columns)
        total += len(chunk)
        progress(table, len(chunk))
        await asyncio.sleep(0)  # let other databases' COPYs progress between chunks
    return total


# Secondary indexes (not backing a constraint) of a table, with their definitions from the catalog,
# so deferring them never drifts from what the migrations created.
SELECT_SECONDARY_INDEXES = """
select i.indexname, i.indexdef from pg_indexes i
where i.schemaname = current_schema() and i.tablename = $1
  and not exists (select 1 from pg_constraint c where c.conname = i.indexname)"""
BULK_THRESHOLD = 50_000


@contextlib.asynccontextmanager
async def deferred_indexes(conn: asyncpg.Connection, tables: list[str]) -> AsyncIterator[None]:
    """Drop secondary indexes during a bulk load and build them once at the end (same transaction).

    Building a trigram GIN index once is about twice as fast as maintaining it row by row.
    """
    saved: list[tuple[str, str]] = []
    for table in tables:
        saved.extend((r["indexname"], r["indexdef"]) for r in await conn.fetch(SELECT_SECONDARY_INDEXES, table))
    for name, _ in saved:
        await conn.execute(f'drop index "{name}"')  # names come from pg_indexes, not from input
    yield
    await conn.execute("set local maintenance_work_mem = '512MB'")
    for _, definition in saved:
        await conn.execute(definition)


async def _copy_catalog(conn: asyncpg.Connection, topology: Topology, database: str, nodes: list[Node],
                        options: SeedOptions, progress: Progress) -> dict[str, int]:
    """The data resources (on the region) and the generated catalog entries of ``nodes``."""
    counts = {"resources": 0, "data_items": 0, "catalog_versions": 0}
    # Each entry's stored version costs ~0.5 ms of CPU (the workflow's document, as JSON): 2-3 s for the demo's
    # 5,000 entries, minutes for a bulk catalog (the keyword-plan test's million), where the workflow keeps an
    # entry's version when its next one is drafted instead (catalog_publications.keep_seeded_version).
    with_versions = options.resources < BULK_THRESHOLD

    async def flush(batch: list[tuple[tuple[object, ...], list[tuple[object, ...]]]]) -> None:
        counts["resources"] += await _copy(conn, "resources", catalog.RESOURCE_COLUMNS, (r for r, _ in batch),
                                           progress)
        counts["data_items"] += await _copy(conn, "data_items", catalog.ITEM_COLUMNS,
                                            (item for _, items in batch for item in items), progress)
        if with_versions:
            kept = catalog.published_versions(batch)
            await publications.keep_versions(conn, kept)
            counts["catalog_versions"] += len(kept)

    if database == topology.region.code:
        await flush(list(catalog.data_resource_rows(topology, random.Random(f"{options.seed}:catalog:{database}"))))
    per_node = registers.allocate(options.resources, {n.code: 1 for n in topology.nodes})
    for node in nodes:
        rng = random.Random(f"{options.seed}:catalog:{node.code}")
        for batch in _chunks(catalog.catalog_rows(topology, node, per_node[node.code], rng), 5_000):
            await flush(batch)  # type: ignore[arg-type]
    return counts


async def seed_database(conn: asyncpg.Connection, topology: Topology, database: str, options: SeedOptions,
                        *, force: bool = False, progress: Progress = _ignore) -> SeedReport:
    started = time.perf_counter()
    existing = await conn.fetchval(SELECT_SEED, SEED_KEY)
    if existing is not None and not force:
        return SeedReport(database, True, {}, 0.0)
    nodes = [topology.node(code) for code in topology.hosted_on(database)]
    node_codes = {n.code for n in nodes}
    rows: dict[str, int] = {}
    async with conn.transaction():
        if existing is not None:
            await conn.execute(TRUNCATE)
            await conn.execute(DELETE_SEED, SEED_KEY)
        rows["departments"] = await _copy(conn, "departments", catalog.DEPARTMENT_COLUMNS,
                                          (r for r in catalog.department_rows(topology) if r[1] in node_codes), progress)
        rows["departments"] += await _copy(conn, "departments", (*catalog.DEPARTMENT_COLUMNS, "sector"),
                                           (r for r in catalog.institution_rows(topology) if r[1] in node_codes),
                                           progress)
        bulk = deferred_indexes(conn, ["resources", "data_items"]) if options.resources >= BULK_THRESHOLD \
            else contextlib.nullcontext()
        async with bulk:
            rows.update(await _copy_catalog(conn, topology, database, nodes, options, progress))

        weights = {c: w for c, w in registers.POPULATION_WEIGHTS.items() if c in topology.by_code}
        person_share = registers.allocate(options.persons, weights)
        entity_share = registers.allocate(options.entities, weights)
        rows["population"] = rows["legal_entities"] = rows["business_licences"] = 0
        for node in nodes:
            place = node.names["zh"]
            rng = random.Random(f"{options.seed}:population:{node.code}")
            rows["population"] += await _copy(conn, "population", registers.PERSON_COLUMNS,
                                              registers.persons(node.code, place, person_share.get(node.code, 0),
                                                                rng), progress)
            rng = random.Random(f"{options.seed}:entities:{node.code}")
            pairs = list(registers.entities(node.code, place, entity_share.get(node.code, 0), rng))
            rows["legal_entities"] += await _copy(conn, "legal_entities", registers.ENTITY_COLUMNS,
                                                  (e for e, _ in pairs), progress)
            rows["business_licences"] += await _copy(conn, "business_licences", registers.LICENCE_COLUMNS,
                                                     (lic for _, lic in pairs), progress)
        if database == topology.region.code:  # the demo grants: seed_all, once every database is seeded
            rows["role_assignments"] = await seed_roles(conn, set(topology.by_code))
        await conn.execute(UPSERT_META, SEED_KEY, json.dumps({**asdict(options), "rows": rows}))
    await conn.execute("analyze")
    return SeedReport(database, False, rows, time.perf_counter() - started)


async def seed_all(dsns: Mapping[str, str], topology: Topology, options: SeedOptions, *, force: bool = False,
                   progress: Progress = _ignore) -> list[SeedReport]:
    async def one(database: str, dsn: str) -> SeedReport:
        conn = await asyncpg.connect(dsn, connection_class=LimitedConnection)  # a node's answers, size-limited
        try:
            return await seed_database(conn, topology, database, options, force=force, progress=progress)
        finally:
            await conn.close()

    reports = list(await asyncio.gather(*(one(db, dsn) for db, dsn in dsns.items())))
    region = topology.region.code
    if region in dsns:
        # Through the grant validation, which reads the grantees' departments from their own databases.
        pools = NodePools(topology.with_dsns(dsns), max_size=2)
        try:
            await pools.open()
            written = await seed_grants(pools)
        finally:
            await pools.close()
        if written:
            next(r for r in reports if r.database == region).rows["grants"] = written
    return reports
