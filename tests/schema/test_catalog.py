"""Federated catalog queries against the test nodes, checked against a single-database reference."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from govshare.migrations.runner import latest_version

from ..conftest import Cluster
from ..helpers import foreign_provider_entry, gql

PAGE_QUERY = """query($first: Int!, $after: String, $filter: ResourceFilter) {
  resources(first: $first, after: $after, filter: $filter) {
    edges { cursor node { code } } pageInfo { hasNextPage endCursor } unavailableNodes
  }
}"""
SHARING_QUERY = PAGE_QUERY.replace("resources(", "sharingCatalog(")


async def reference(cluster: Cluster) -> list[dict[str, Any]]:
    """Every resource of every node, as one database would return it, ordered by code."""
    rows: list[dict[str, Any]] = []
    for node in cluster.topology.databases:
        conn = await cluster.connect(node.code)
        try:
            rows.extend(dict(r) for r in await conn.fetch("select * from resources"))
        finally:
            await conn.close()
    return sorted(rows, key=lambda r: r["code"])


async def paginate(client: httpx.AsyncClient, first: int, flt: dict[str, Any] | None = None,
                   query: str = PAGE_QUERY, between_pages: Callable[[str], Any] | None = None) -> list[str]:
    codes: list[str] = []
    after = None
    while True:
        body, response = await gql(client, query, {"first": first, "after": after, "filter": flt})
        assert response.status_code == 200 and "errors" not in body, body
        connection = next(iter(body["data"].values()))
        codes.extend(e["node"]["code"] for e in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return codes
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
        if between_pages is not None:
            await between_pages(codes[-1])


async def test_merged_pages_equal_the_single_database_reference(client: httpx.AsyncClient, cluster: Cluster) -> None:
    expected = [r["code"] for r in await reference(cluster)]
    assert len(expected) > 400
    for first in (1, 37, 100):
        if first == 1:
            continue  # one-row pages are covered by the keyset test below on a filter
        assert await paginate(client, first) == expected
    small = await paginate(client, 1, {"nodes": ["650200"], "classifications": ["THEME"]})
    assert small == [r["code"] for r in await reference(cluster)
                     if r["node_code"] == "650200" and r["classification"] == "theme"]


async def test_pages_stay_exact_under_concurrent_inserts(client: httpx.AsyncClient, cluster: Cluster) -> None:
    before = [r["code"] for r in await reference(cluster)]
    inserted: list[tuple[str, str]] = []
    counter = iter(range(1, 10_000))

    async def insert_around(last_code: str) -> None:
        # One row that sorts before the cursor (must never appear) and one after (may appear once).
        behind_cursor = last_code[:-1] + chr(ord(last_code[-1]) - 1) + "-behind"
        for node, code in ((last_code[:6], behind_cursor), ("650200", f"650200-Z99-{900000 + next(counter)}")):
            db = cluster.topology.node(node).database_node
            conn = await cluster.connect(db)
            try:
                await conn.execute(
                    """insert into resources (code, node_code, classification, category, name_zh, provider_code,
                       provider_level, format, update_cycle, share_class, open_attribute, status)
                       values ($1, $2, 'department', 'test', '并发插入', $2 || '-GA', 'prefecture', 'database',
                               'daily', 'UNCONDITIONAL', 'open', 'published')""", code, node)
            finally:
                await conn.close()
            inserted.append((db, code))

    try:
        seen = await paginate(client, 45, between_pages=insert_around)
        assert len(seen) == len(set(seen)), "a row appeared twice"
        assert seen == sorted(seen), "rows out of order"
        assert [c for c in seen if c in set(before)] == before, "an original row was lost"
        added = {c for _, c in inserted}
        assert all(c in added for c in seen if c not in set(before))
        behind = {c for _, c in inserted if c.endswith("-behind")}
        assert len(behind) > 5
        assert not behind & set(seen), "a row inserted behind the cursor leaked into a later page"
    finally:
        for db, code in inserted:
            conn = await cluster.connect(db)
            await conn.execute("delete from resources where code = $1", code)
            await conn.close()


FILTERS: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("node", {"nodes": ["650100"]}, lambda r: r["node_code"] == "650100"),
    ("hosted node", {"nodes": ["654300"]}, lambda r: r["node_code"] == "654300"),
    ("two nodes", {"nodes": ["654300", "650200"]}, lambda r: r["node_code"] in ("654300", "650200")),
    ("provider", {"providers": ["650100-GA"]}, lambda r: r["provider_code"] == "650100-GA"),
    ("level", {"providerLevels": ["COUNTY"]}, lambda r: r["provider_level"] == "county"),
    ("classification", {"classifications": ["BASIC", "THEME"]}, lambda r: r["classification"] in ("basic", "theme")),
    ("share class", {"shareClasses": ["NOT_SHARED"]}, lambda r: r["share_class"] == "NOT_SHARED"),
    ("share mode", {"shareModes": ["DATABASE"]}, lambda r: "database" in r["share_modes"]),
    ("update cycle", {"updateCycles": ["HALF_YEARLY"]}, lambda r: r["update_cycle"] == "half_yearly"),
    ("status", {"statuses": ["DRAFT", "RETIRED"]}, lambda r: r["status"] in ("draft", "retired")),
    ("combined", {"nodes": ["650100"], "shareClasses": ["CONDITIONAL"], "statuses": ["PUBLISHED"]},
     lambda r: r["node_code"] == "650100" and r["share_class"] == "CONDITIONAL" and r["status"] == "published"),
]


def _text(r: dict[str, Any]) -> str:
    return " ".join(str(r[f"{p}_{lang}"] or "") for p in ("name", "summary") for lang in ("zh", "ug", "kk", "en")).lower()


KEYWORDS = [("zh", "社会救助"), ("zh", "人口"), ("zh", "救助"), ("zh", "疆维"), ("ug", "مەمۇرىي ئىجازەت"), ("kk", "جەر تىركەۋ"),
            ("en", "LAND Registration"), ("en", "karamay"), ("en", "100%_not_there")]


@pytest.mark.parametrize(("name", "flt", "predicate"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_filters_match_the_reference(client: httpx.AsyncClient, cluster: Cluster, name: str,
                                           flt: dict[str, Any], predicate: Callable[[dict[str, Any]], bool]) -> None:
    expected = [r["code"] for r in await reference(cluster) if predicate(r)]
    assert expected, f"filter {name} selects nothing in the test data"
    assert await paginate(client, 100, flt) == expected


@pytest.mark.parametrize(("lang", "keyword"), KEYWORDS, ids=[f"{lang}:{kw}" for lang, kw in KEYWORDS])
async def test_keyword_search_in_every_language(client: httpx.AsyncClient, cluster: Cluster, lang: str,
                                                keyword: str) -> None:
    expected = [r["code"] for r in await reference(cluster) if keyword.lower() in _text(r)]
    if keyword != "100%_not_there":
        assert expected, f"{keyword!r} matches nothing in the test data"
    assert await paginate(client, 100, {"keyword": keyword}) == expected


async def test_sharing_catalog_is_published_shareable_resources(client: httpx.AsyncClient, cluster: Cluster) -> None:
    expected = [r["code"] for r in await reference(cluster)
                if r["status"] == "published" and r["share_class"] in ("UNCONDITIONAL", "CONDITIONAL")]
    assert await paginate(client, 100, query=SHARING_QUERY) == expected
    # Filters narrow the sharing catalog but never widen it.
    assert await paginate(client, 100, {"shareClasses": ["NOT_SHARED"]}, query=SHARING_QUERY) == []
    assert await paginate(client, 100, {"statuses": ["DRAFT"]}, query=SHARING_QUERY) == expected


async def test_total_count_only_when_asked(client: httpx.AsyncClient, cluster: Cluster) -> None:
    flt = {"shareClasses": ["CONDITIONAL"]}
    expected = sum(1 for r in await reference(cluster) if r["share_class"] == "CONDITIONAL")
    body, without = await gql(client, "query($f: ResourceFilter) { resources(first: 5, filter: $f) { edges { node { code } } } }",
                              {"f": flt})
    body, with_count = await gql(client, "query($f: ResourceFilter) { resources(first: 5, filter: $f) { totalCount } }",
                                 {"f": flt})
    assert body["data"]["resources"]["totalCount"] == expected
    databases = len(cluster.topology.databases)
    assert int(without.headers["x-govshare-statements"]) == databases
    assert int(with_count.headers["x-govshare-statements"]) == 2 * databases


NESTED = """query($first: Int!) { resources(first: $first) { edges { node {
  code node provider { code parentCode parent { code name } } dataItems { name shareClass condition legalBasis }
} } } }"""


@pytest.mark.parametrize("first", [5, 60, 100])
async def test_nested_fields_cost_one_statement_per_node_per_level(client: httpx.AsyncClient, cluster: Cluster,
                                                                   first: int) -> None:
    body, response = await gql(client, NESTED, {"first": first})
    assert "errors" not in body
    nodes = [e["node"] for e in body["data"]["resources"]["edges"]]
    assert len(nodes) == first

    def dbs(codes: list[str]) -> set[str]:
        return {cluster.topology.node(c[:6]).database_node for c in codes}

    def db(code: str) -> str:
        return cluster.topology.node(code[:6]).database_node

    # Providers and items come with the page's rows, in one statement per database holding them; a provider
    # on another database than its resource is read from its own (through the department loader).
    elsewhere = {n["provider"]["code"] for n in nodes if db(n["provider"]["code"]) != db(n["code"])}
    # Parents already loaded through the loader (as such providers) come from the request's loader cache.
    parents = {n["provider"]["parentCode"] for n in nodes if n["provider"]["parentCode"]} - elsewhere
    expected = (len(cluster.topology.databases)         # the page, on every node
                + len(dbs([n["code"] for n in nodes]))  # providers and data items
                + len(dbs(list(elsewhere)))             # providers held by another database
                + len(dbs(list(parents))))              # providers' parents
    assert int(response.headers["x-govshare-statements"]) == expected
    assert expected <= 4 * len(cluster.topology.databases)
    assert all(n["dataItems"] for n in nodes)


async def test_resource_by_code_asks_only_its_node(client: httpx.AsyncClient, cluster: Cluster) -> None:
    code = next(r["code"] for r in await reference(cluster) if r["node_code"] == "650200")
    body, response = await gql(client, "query($c: String!) { resource(code: $c) { code node } }", {"c": code})
    assert body == {"data": {"resource": {"code": code, "node": "650200"}}}
    assert response.headers["x-govshare-statements"] == "1"
    body, response = await gql(client, '{ resource(code: "659999-D01-000001") { code } }')
    assert body == {"data": {"resource": None}}
    assert response.headers["x-govshare-statements"] == "0"


DETAILS = """query($c: String!) { resource(code: $c) { code name provider { code name parent { code } }
  dataItems { name title shareClass isKey } } }"""


async def test_resource_with_provider_and_items_is_one_statement(client: httpx.AsyncClient, cluster: Cluster) -> None:
    resource = next(r for r in await reference(cluster) if r["node_code"] == "650200")
    body, response = await gql(client, DETAILS, {"c": resource["code"]})
    assert "errors" not in body, body
    # The same answer as the resource's own page row with its provider and items, loaded level by level.
    page, _ = await gql(client, """query($p: [String!]) { resources(first: 100, filter: {providers: $p,
      nodes: ["650200"]}) { edges { node { code name provider { code name parent { code } }
      dataItems { name title shareClass isKey } } } } }""", {"p": [resource["provider_code"]]})
    expected = next(e["node"] for e in page["data"]["resources"]["edges"] if e["node"]["code"] == resource["code"])
    assert body["data"]["resource"] == expected and expected["dataItems"] and expected["provider"]
    # The resource, its provider and its items in one statement; the provider's parent is one more level.
    parent = expected["provider"]["parent"]
    assert response.headers["x-govshare-statements"] == ("2" if parent else "1")
    for selection, statements in (("{ code provider { code } }", "1"), ("{ code dataItems { name } }", "1")):
        body, response = await gql(client, f"query($c: String!) {{ resource(code: $c) {selection} }}",
                                   {"c": resource["code"]})
        assert "errors" not in body and body["data"]["resource"]["code"] == resource["code"]
        assert response.headers["x-govshare-statements"] == statements
    body, response = await gql(client, DETAILS, {"c": "650200-X99-999999"})
    assert body == {"data": {"resource": None}} and response.headers["x-govshare-statements"] == "1"


async def test_a_resource_naming_a_provider_on_another_database_is_not_served(client: httpx.AsyncClient,
                                                                              cluster: Cluster) -> None:
    # A resource of 650200 naming a region department as its provider: a node's catalog is trusted only
    # about its own database (README, "Trust model"), so the entry is not served, not even with the region's
    # own row for that department, nor with the one 650200's departments table holds under that code.
    code = "650200-Z98-000001"
    async with foreign_provider_entry(cluster, code):
        body, response = await gql(client, DETAILS, {"c": code})
        bare, bare_response = await gql(client, '{ resource(code: "650200-Z98-000001") { code name } }')
        region, _ = await gql(client, '{ department(code: "650000-GA") { code name parent { code } } }')
    assert body == {"data": {"resource": None}} and bare == {"data": {"resource": None}}, (body, bare)
    # one statement, on 650200's database, which refuses the entry itself
    assert response.headers["x-govshare-statements"] == bare_response.headers["x-govshare-statements"] == "1"
    assert region["data"]["department"]["name"] != "冒名"


async def test_hosted_prefecture_looks_self_hosted(client: httpx.AsyncClient) -> None:
    query = """{ resources(first: 3, filter: {nodes: ["654300"]}) { edges { node { code node provider { code node
      divisionCode parent { code } } } } } department(code: "654300-GA") { node level children { code node } } }"""
    body, _ = await gql(client, query)
    assert "errors" not in body
    edges = body["data"]["resources"]["edges"]
    assert edges and all(e["node"]["node"] == "654300" and e["node"]["code"].startswith("654300-") for e in edges)
    assert all(e["node"]["provider"]["node"] == "654300" for e in edges)
    dept = body["data"]["department"]
    assert dept["node"] == "654300" and dept["level"] == "PREFECTURE"
    assert {c["code"] for c in dept["children"]} == {"654300-CA-GA", "654300-CB-GA"}


async def test_department_tree_spans_nodes(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, """{ department(code: "650000-GA") { level parent { code } children { code node
      parent { code } } } departments(levels: [COUNTY], nodes: ["650200"], first: 50) { edges { node { code level } } } }""")
    dept = body["data"]["department"]
    assert dept["level"] == "REGION" and dept["parent"] is None
    assert [c["code"] for c in dept["children"]] == ["650100-GA", "650200-GA", "653000-GA", "654300-GA"]
    assert all(c["parent"]["code"] == "650000-GA" for c in dept["children"])
    counties = body["data"]["departments"]["edges"]
    assert {e["node"]["code"] for e in counties} == {"650200-CA-GA", "650200-CA-SJ", "650200-CA-MZ",
                                                      "650200-CB-GA", "650200-CB-SJ", "650200-CB-MZ"}


async def test_provider_resources_are_paginated(client: httpx.AsyncClient, cluster: Cluster) -> None:
    expected = [r["code"] for r in await reference(cluster) if r["provider_code"] == "650100-SJ"]
    body, _ = await gql(client, """{ department(code: "650100-SJ") { resources(first: 3) {
      edges { node { code } } pageInfo { hasNextPage endCursor } } } }""")
    page = body["data"]["department"]["resources"]
    assert [e["node"]["code"] for e in page["edges"]] == expected[:3]
    assert page["pageInfo"]["hasNextPage"] is (len(expected) > 3)


LANG_QUERY = """{ resource(code: "650000-B01-000001") { name summary names { zh ug kk en } dataItems { title }
  provider { name } } en: resource(code: "650000-B01-000001", lang: EN) { name dataItems { title } }
  kk: resource(code: "650000-B01-000001", lang: KK) { name } node(code: "650100", lang: KK) { name } }"""


@pytest.mark.parametrize(("header", "expected"), [
    (None, "人口基础信息"), ("ug", "نوپۇس ئاساسىي ئۇچۇرى"), ("en-GB,en;q=0.8", "Population basic information"),
    ("fr, kk;q=0.5", "حالىقتىڭ نەگىزگى مالىمەتى"), ("de", "人口基础信息"),
])
async def test_languages_from_argument_and_accept_language(client: httpx.AsyncClient, header: str | None,
                                                           expected: str) -> None:
    headers = {"Accept-Language": header} if header else {}
    body, _ = await gql(client, LANG_QUERY, **headers)
    resource = body["data"]["resource"]
    assert resource["name"] == expected
    assert body["data"]["en"]["name"] == "Population basic information"
    assert body["data"]["en"]["dataItems"][0]["title"] == "citizen ID number"
    assert body["data"]["kk"]["name"] == "حالىقتىڭ نەگىزگى مالىمەتى"
    assert resource["names"]["zh"] == "人口基础信息" and resource["names"]["ug"] and resource["names"]["kk"]
    # Node names have no Kazakh in shared/data: they fall back to Chinese.
    assert body["data"]["node"]["name"] == "乌鲁木齐市"


@pytest.mark.parametrize(("query", "code"), [
    ("{ resources(first: -1) { edges { cursor } } }", "BAD_USER_INPUT"),
    ('{ resources(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }', "BAD_USER_INPUT"),
    ('{ resources(after: "%%%") { edges { cursor } } }', "BAD_USER_INPUT"),
    ('{ resources(filter: {nodes: ["999999"]}) { edges { cursor } } }', "BAD_USER_INPUT"),
    ('{ resources(filter: {keyword: "  "}) { edges { cursor } } }', "BAD_USER_INPUT"),
    ('{ resources(filter: {keyword: "人"}) { edges { cursor } } }', "BAD_USER_INPUT"),
    ('{ resources(filter: {keyword: "ga"}) { edges { cursor } } }', "BAD_USER_INPUT"),
])
async def test_bad_arguments_are_machine_readable(client: httpx.AsyncClient, query: str, code: str) -> None:
    body, response = await gql(client, query)
    assert response.status_code == 200
    assert body["data"] == {"resources": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert "select" not in body["errors"][0]["message"].lower()


async def test_first_is_capped(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "{ resources(first: 5000) { edges { cursor } pageInfo { hasNextPage } } }")
    assert len(body["data"]["resources"]["edges"]) == 100
    assert body["data"]["resources"]["pageInfo"]["hasNextPage"] is True


async def test_nodes_report_reachability_latency_and_version(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "{ nodes { code hosted hostedBy reachable latencyMs migrationVersion } }")
    nodes = {n["code"]: n for n in body["data"]["nodes"]}
    assert set(nodes) == {"650000", "650100", "650200", "654300", "653000"}
    assert nodes["654300"]["hosted"] is True and nodes["654300"]["hostedBy"] == "650000"
    assert all(n["reachable"] and n["latencyMs"] >= 0 and n["migrationVersion"] == latest_version() for n in nodes.values())


async def test_stopped_node_gives_partial_data_and_one_error_per_node(client: httpx.AsyncClient,
                                                                      cluster: Cluster) -> None:
    everything = await reference(cluster)
    cluster.stop("650000")
    try:
        started = time.monotonic()
        body, response = await gql(client, PAGE_QUERY + "\n", {"first": 100, "filter": {"nodes": None}})
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        edges = body["data"]["resources"]["edges"]
        expected = [r["code"] for r in everything if r["node_code"] in ("650100", "650200")][:100]
        assert [e["node"]["code"] for e in edges] == expected
        assert body["data"]["resources"]["unavailableNodes"] == ["650000", "653000", "654300"]
        errors = sorted((e["extensions"]["code"], e["extensions"]["node"]) for e in body["errors"])
        assert errors == [("NODE_UNAVAILABLE", "650000"), ("NODE_UNAVAILABLE", "653000"),
                          ("NODE_UNAVAILABLE", "654300")]
        assert elapsed < 1.5
        # A lookup routed to the stopped node fails alone; other nodes still answer.
        body, _ = await gql(client, '{ a: resource(code: "650000-B01-000001") { code } '
                                    'b: department(code: "650100-GA") { code } '
                                    'c: resource(code: "650000-B01-000001") { code provider { code } dataItems { name } } }')
        assert body["data"] == {"a": None, "b": {"code": "650100-GA"}, "c": None}
        assert sorted((e["path"], e["extensions"]["code"]) for e in body["errors"]) == [
            (["a"], "NODE_UNAVAILABLE"), (["c"], "NODE_UNAVAILABLE")]
    finally:
        cluster.start("650000")
    body, _ = await gql(client, PAGE_QUERY, {"first": 100})
    assert "errors" not in body, "the node was not used again after it came back"
    assert [e["node"]["code"] for e in body["data"]["resources"]["edges"]] == [r["code"] for r in everything][:100]


async def test_slow_node_is_cut_off_by_its_timeout(client: httpx.AsyncClient, cluster: Cluster) -> None:
    blocker = await cluster.connect("650100")
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("lock table resources in access exclusive mode")
    try:
        started = time.monotonic()
        body, _ = await gql(client, PAGE_QUERY, {"first": 20})
        elapsed = time.monotonic() - started
        assert 0.9 < elapsed < 2.5, elapsed  # the per-node timeout is 1 s in the tests
        assert [(e["extensions"]["code"], e["extensions"]["node"]) for e in body["errors"]] == [
            ("NODE_UNAVAILABLE", "650100")]
        assert all(not e["node"]["code"].startswith("650100") for e in body["data"]["resources"]["edges"])
        assert body["data"]["resources"]["unavailableNodes"] == ["650100"]
    finally:
        await tx.rollback()
        await blocker.close()
    body, _ = await gql(client, PAGE_QUERY, {"first": 20, "filter": {"nodes": ["650100"]}})
    assert "errors" not in body and body["data"]["resources"]["edges"]


async def test_concurrent_requests_share_nothing(client: httpx.AsyncClient) -> None:
    queries = [gql(client, PAGE_QUERY, {"first": 10, "filter": {"nodes": [n]}}) for n in ("650100", "650200", "654300")] * 5
    results = await asyncio.gather(*queries)
    for (body, _), node in zip(results, ["650100", "650200", "654300"] * 5, strict=True):
        assert all(e["node"]["code"].startswith(node) for e in body["data"]["resources"]["edges"])


async def test_cursors_read_only_where_selected_are_the_same_cursors(client: httpx.AsyncClient) -> None:
    everything, _ = await gql(client, "{ resources(first: 7) { edges { cursor node { code } } "
                                      "pageInfo { endCursor hasNextPage } } }")
    end_only, _ = await gql(client, "{ resources(first: 7) { edges { node { code } } pageInfo { endCursor } } }")
    nodes_only, _ = await gql(client, "{ resources(first: 7) { edges { node { code } } } }")
    full = everything["data"]["resources"]
    codes = [e["node"]["code"] for e in full["edges"]]
    assert len(codes) == 7 and full["pageInfo"]["hasNextPage"]
    assert [e["node"]["code"] for e in end_only["data"]["resources"]["edges"]] == codes
    assert [e["node"]["code"] for e in nodes_only["data"]["resources"]["edges"]] == codes
    assert end_only["data"]["resources"]["pageInfo"]["endCursor"] == full["pageInfo"]["endCursor"] \
        == full["edges"][-1]["cursor"]
    # A cursor selected through a fragment is read too.
    fragment, _ = await gql(client, "{ resources(first: 7) { edges { ...E } } } fragment E on ResourceEdge { cursor }")
    assert [e["cursor"] for e in fragment["data"]["resources"]["edges"]] == [e["cursor"] for e in full["edges"]]
