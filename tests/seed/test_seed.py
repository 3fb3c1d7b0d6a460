"""The demo data as written to the test nodes: valid identifiers, cited law, counts per node."""

from __future__ import annotations

import random

import httpx

from govshare.seed import ids, registers
from govshare.seed.catalog import catalog_rows, department_rows

from ..conftest import SCALE, Cluster
from ..helpers import gql


async def _all(cluster: Cluster, sql: str) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for db in cluster.topology.databases:
        conn = await cluster.connect(db.code)
        try:
            rows.extend((db.code, r) for r in await conn.fetch(sql))
        finally:
            await conn.close()
    return rows


async def test_every_citizen_id_has_a_valid_check_digit(cluster: Cluster) -> None:
    rows = await _all(cluster, "select citizen_id from population union all "
                               "select legal_rep_citizen_id from legal_entities")
    assert len(rows) == SCALE.persons + SCALE.entities
    bad = [r["citizen_id"] for _, r in rows if not ids.is_valid_citizen_id(r["citizen_id"])]  # type: ignore[index]
    assert bad == []


async def test_every_credit_code_is_valid(cluster: Cluster) -> None:
    rows = await _all(cluster, "select uscc from legal_entities union all select uscc from business_licences")
    assert len(rows) == 2 * SCALE.entities
    assert [r["uscc"] for _, r in rows if not ids.is_valid_uscc(r["uscc"])] == []  # type: ignore[index]


async def test_every_not_shared_item_and_resource_cites_a_law(cluster: Cluster) -> None:
    items = await _all(cluster, "select share_class, legal_basis from data_items")
    not_shared = [r for _, r in items if r["share_class"] == "NOT_SHARED"]  # type: ignore[index]
    assert not_shared, "the demo catalog must contain NOT_SHARED items"
    assert all(r["legal_basis"] and "《" in r["legal_basis"] for r in not_shared)  # type: ignore[index]
    classes = {r["share_class"] for _, r in items}  # type: ignore[index]
    assert classes == {"UNCONDITIONAL", "CONDITIONAL", "NOT_SHARED"}
    resources = await _all(cluster, "select legal_basis from resources where share_class = 'NOT_SHARED'")
    assert resources and all(r["legal_basis"] for _, r in resources)  # type: ignore[index]


async def test_counts_per_node_match_the_requested_scale(cluster: Cluster) -> None:
    topology = cluster.topology
    weights = {c: w for c, w in registers.POPULATION_WEIGHTS.items() if c in topology.by_code}
    want_persons = registers.allocate(SCALE.persons, weights)
    want_entities = registers.allocate(SCALE.entities, weights)
    want_resources = registers.allocate(SCALE.resources, {n.code: 1 for n in topology.nodes})
    persons = dict(await _all_grouped(cluster, "population"))
    entities = dict(await _all_grouped(cluster, "legal_entities"))
    resources = dict(await _all_grouped(cluster, "resources"))
    assert persons == {k: v for k, v in want_persons.items() if v}
    assert entities == {k: v for k, v in want_entities.items() if v}
    want_resources[topology.region.code] += 3  # the three data resources
    assert resources == want_resources
    # Hosted prefectures' rows live in the region database, tagged with their own node code.
    conn = await cluster.connect("650000")
    try:
        hosted = await conn.fetchval("select count(*) from population where node_code = '654300'")
        assert hosted == want_persons["654300"] > 0
    finally:
        await conn.close()


async def _all_grouped(cluster: Cluster, table: str) -> list[tuple[str, int]]:
    rows = await _all(cluster, f"select node_code, count(*) as n from {table} group by node_code")
    return [(r["node_code"], r["n"]) for _, r in rows]  # type: ignore[index]


def test_generation_is_deterministic() -> None:
    first = list(registers.persons("650100", "乌鲁木齐市", 50, random.Random("1:p")))
    again = list(registers.persons("650100", "乌鲁木齐市", 50, random.Random("1:p")))
    other = list(registers.persons("650100", "乌鲁木齐市", 50, random.Random("2:p")))
    assert first == again
    assert first != other


def test_departments_cover_three_levels_and_known_codes(cluster: Cluster) -> None:
    rows = list(department_rows(cluster.topology))
    assert {r[2] for r in rows} == {"region", "prefecture", "county"}
    codes = {n.code for n in cluster.topology.nodes}
    assert {r[4] for r in rows} <= codes  # division codes only from shared/data
    by_code = {r[0] for r in rows}
    assert all(r[3] is None or r[3] in by_code for r in rows)  # every parent exists


def test_catalog_covers_every_classification() -> None:
    from govshare.federation.topology import Topology

    from ..conftest import TOPOLOGY
    topology = Topology.load(TOPOLOGY)
    rows = [r for r, _ in catalog_rows(topology, topology.node("650100"), 200, random.Random(3))]
    assert {r[2] for r in rows} == {"theme", "department"}
    assert {r[16] for r in rows} == {"UNCONDITIONAL", "CONDITIONAL", "NOT_SHARED"}


async def test_every_published_seeded_entry_has_its_version_stored(cluster: Cluster) -> None:
    # Workflow tests publish entries of their own (-WFnn-) and versions of their own: the seed's are "catalog"'s.
    live = await _all(cluster, "select code, version from resources where status in ('published', 'retired') "
                               "and code !~ '-WF[0-9]{2}-'")
    kept = await _all(cluster, "select code, version from catalog_versions where published_by = 'catalog'")
    assert len(live) > 100
    assert {(db, r["code"], r["version"]) for db, r in live} <= {  # type: ignore[index]
        (db, r["code"], r["version"]) for db, r in kept}  # type: ignore[index]
    unpublished = await _all(cluster, "select code from resources where status in ('draft', 'submitted') and "
                                      "code in (select code from catalog_versions)")
    assert unpublished == []


ENTRY = """query($code: String!) { catalogEntry(code: $code) { state revision version
  document { names { zh } summaries { en } shareModes dataTable apiName items { name shareClass isKey } }
  versions { version publishedBy publishedAt
    document { names { zh } summaries { en } shareModes dataTable apiName items { name shareClass isKey } } } } }"""


async def test_a_seeded_entry_shows_its_first_version_as_the_workflow_keeps_it(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, ENTRY, {"code": "650000-B02-000001"})
    entry = body["data"]["catalogEntry"]
    assert (entry["state"], entry["revision"], entry["version"]) == ("PUBLISHED", 0, 1)
    assert [(v["version"], v["publishedBy"]) for v in entry["versions"]] == [(1, "catalog")]
    assert entry["versions"][0]["document"] == entry["document"]
    assert entry["document"]["dataTable"] == "legal_entities" and entry["document"]["items"]
    assert entry["versions"][0]["publishedAt"].startswith("2024-01-1")  # its published_on, 2024-01-15
