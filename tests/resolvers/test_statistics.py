"""Supervision statistics checked against figures computed independently from the node databases,
with their statement counts, permitted and refused callers, and the audit trail query."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql

BY_NODE_AND_CLASS = """{ catalogStatistics(groupBy: [NODE, SHARE_CLASS]) {
  rows { node shareClass resources dataItems unconditionalItems conditionalItems notSharedItems shareRatio }
  unavailableNodes } }"""
TOTALS = """{ catalogStatistics(groupBy: []) { rows { resources dataItems notSharedWithoutLegalBasis
  missingUyghurNames missingKazakhNames overdueUpdates } } }"""
BY_MODE = "{ catalogStatistics(groupBy: [SHARE_MODE], nodes: [\"650100\"]) { rows { shareMode resources } } }"


async def _independent(cluster: Cluster) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str, str]]]:
    """Published resources per (node, class) and items per (node, resource class, item class), read
    straight from every database, each node's rows from its own database only."""
    resources: Counter[tuple[str, str]] = Counter()
    items: Counter[tuple[str, str, str]] = Counter()
    for db in cluster.topology.databases:
        own = list(cluster.topology.hosted_on(db.code))
        conn = await cluster.connect(db.code)
        try:
            for r in await conn.fetch("select node_code, share_class from resources "
                                      "where status = 'published' and node_code = any($1::text[])", own):
                resources[(r["node_code"], r["share_class"])] += 1
            for r in await conn.fetch(
                    "select r.node_code, r.share_class as rc, i.share_class as ic from resources r "
                    "join data_items i on i.resource_code = r.code "
                    "where r.status = 'published' and r.node_code = any($1::text[])", own):
                items[(r["node_code"], r["rc"], r["ic"])] += 1
        finally:
            await conn.close()
    return resources, items


async def test_counts_by_node_and_class_match_the_databases(client: httpx.AsyncClient, cluster: Cluster) -> None:
    resources, items = await _independent(cluster)
    body, response = await gql(client, BY_NODE_AND_CLASS, **as_user("supervisor.region"))
    assert "errors" not in body, body
    stats = body["data"]["catalogStatistics"]
    assert stats["unavailableNodes"] == []
    got = {(r["node"], r["shareClass"]): r for r in stats["rows"]}
    assert {k: r["resources"] for k, r in got.items()} == dict(resources)
    for (node, cls), row in got.items():
        assert row["unconditionalItems"] == items[(node, cls, "UNCONDITIONAL")]
        assert row["conditionalItems"] == items[(node, cls, "CONDITIONAL")]
        assert row["notSharedItems"] == items[(node, cls, "NOT_SHARED")]
        total = row["unconditionalItems"] + row["conditionalItems"] + row["notSharedItems"]
        assert row["dataItems"] == total
        shared = row["unconditionalItems"] + row["conditionalItems"]
        assert row["shareRatio"] == (round(shared / total, 4) if total else None)
    # hosted prefectures are counted under their own codes, from the region's database
    assert any(node in {n.code for n in cluster.topology.nodes if n.hosted} for node, _ in got)
    # one aggregate statement per node database, whatever the number of groups
    assert response.headers["X-Govshare-Statements"] == str(len(cluster.topology.databases))


async def test_totals_and_findings(client: httpx.AsyncClient, cluster: Cluster) -> None:
    expected = Counter[str]()
    for db in cluster.topology.databases:
        own = list(cluster.topology.hosted_on(db.code))
        conn = await cluster.connect(db.code)
        try:
            row = await conn.fetchrow(
                "select count(*) as n, count(*) filter (where coalesce(btrim(name_ug), '') = '') as ug, "
                "count(*) filter (where coalesce(btrim(name_kk), '') = '') as kk from resources "
                "where status = 'published' and node_code = any($1::text[])", own)
            expected["resources"] += row["n"]
            expected["ug"] += row["ug"]
            expected["kk"] += row["kk"]
            expected["items"] += await conn.fetchval(
                "select count(*) from data_items i join resources r on r.code = i.resource_code "
                "where r.status = 'published' and r.node_code = any($1::text[])", own)
        finally:
            await conn.close()
    body, _ = await gql(client, TOTALS, **as_user("supervisor.region"))
    [row] = body["data"]["catalogStatistics"]["rows"]
    assert (row["resources"], row["dataItems"], row["missingUyghurNames"], row["missingKazakhNames"]) == (
        expected["resources"], expected["items"], expected["ug"], expected["kk"])
    assert row["notSharedWithoutLegalBasis"] == 0  # the catalog's CHECK makes NOT_SHARED cite the law


async def test_a_resource_counts_once_per_mode_it_offers(client: httpx.AsyncClient, cluster: Cluster) -> None:
    conn = await cluster.connect("650100")
    try:
        modes = Counter[str]()
        for r in await conn.fetch("select share_modes from resources where status = 'published' "
                                  "and node_code = '650100'"):
            for mode in r["share_modes"] or ["none"]:
                modes[mode] += 1
    finally:
        await conn.close()
    body, _ = await gql(client, BY_MODE, **as_user("supervisor.region"))
    assert {r["shareMode"]: r["resources"] for r in body["data"]["catalogStatistics"]["rows"]} == dict(modes)


async def test_who_may_read_statistics(client: httpx.AsyncClient) -> None:
    # a department user without a role: refused, with the roles that would do
    body, _ = await gql(client, BY_NODE_AND_CLASS, **as_user("developer.urumqi"))
    assert body["data"] == {"catalogStatistics": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert set(error["extensions"]["requiredRoles"]) == {"supervisor", "policy_admin"}
    # a prefecture's policy admin sees its own node, and is refused another
    body, _ = await gql(client, BY_NODE_AND_CLASS, **as_user("admin.urumqi"))
    assert {r["node"] for r in body["data"]["catalogStatistics"]["rows"]} == {"650100"}
    body, _ = await gql(client, '{ catalogStatistics(groupBy: [NODE], nodes: ["650200"]) { rows { node } } }',
                        **as_user("admin.urumqi"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_arguments_are_clear(client: httpx.AsyncClient) -> None:
    cases: list[tuple[str, str]] = [
        ('{ catalogStatistics(groupBy: [NODE, NODE]) { rows { node } } }', "BAD_USER_INPUT"),
        ('{ catalogStatistics(groupBy: [NODE], statuses: ["gone"]) { rows { node } } }', "BAD_USER_INPUT"),
        ('{ catalogStatistics(groupBy: [NODE], nodes: ["659999"]) { rows { node } } }', "BAD_USER_INPUT"),
    ]
    for query, code in cases:
        body, _ = await gql(client, query, **as_user("supervisor.region"))
        assert body["errors"][0]["extensions"]["code"] == code, (query, body)


async def _data_query(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, '{ legalEntities(first: 3) { edges { node { name } } } }',
                        **as_user("developer.urumqi"))
    assert "errors" not in body, body


async def test_usage_counts_what_the_audit_trail_holds(client: httpx.AsyncClient, cluster: Cluster) -> None:
    await _data_query(client)
    body, _ = await gql(client, '{ usageStatistics(departments: ["650100-MZ"]) { rows { department resource '
                                'provider action requests rows } unavailableNodes } }',
                        **as_user("supervisor.region"))
    assert "errors" not in body, body
    rows = body["data"]["usageStatistics"]["rows"]
    conn = await cluster.connect("650000")
    try:
        expected = {(r["resource"], r["action"]): (r["n"], r["rows"]) for r in await conn.fetch(
            "select resource, action, count(*) as n, sum(row_count) as rows from audit_log "
            "where department = '650100-MZ' and action in ('read', 'verify') "
            "and at >= now() - interval '30 days' group by 1, 2")}
    finally:
        await conn.close()
    assert {(r["resource"], r["action"]): (r["requests"], r["rows"]) for r in rows} == expected
    assert all(r["department"] == "650100-MZ" for r in rows)
    # the provider comes from the resource's own node (null only for a resource no longer in the catalog)
    conn = await cluster.connect("650000")
    try:
        entities = await conn.fetchrow("select code, provider_code from resources where api_name = 'legalEntities'")
    finally:
        await conn.close()
    assert {r["provider"] for r in rows if r["resource"] == entities["code"]} == {entities["provider_code"]}


async def test_audit_records_paged_scoped_and_audited(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await _data_query(client)
    query = """query($before: BigInt) { auditRecords(first: 2, before: $before) {
      records { seq department action outcome } hasNextPage nextBefore } }"""
    # a department sees only its own records
    body, _ = await gql(client, query, **as_user("developer.urumqi"))
    page = body["data"]["auditRecords"]
    assert page["hasNextPage"] and len(page["records"]) == 2
    assert page["records"] and {r["department"] for r in page["records"]} == {"650100-MZ"}
    # keyset pages: the next page is strictly older
    body2, _ = await gql(client, query, {"before": page["nextBefore"]}, **as_user("developer.urumqi"))
    assert isinstance(page["nextBefore"], str)  # BigInt: a string of digits, as seq
    assert max(int(r["seq"]) for r in body2["data"]["auditRecords"]["records"]) < int(page["nextBefore"])
    # reading was itself audited
    body3, _ = await gql(client, query, **as_user("developer.urumqi"))
    assert body3["data"]["auditRecords"]["records"][0]["action"] == "audit.read"
    # asking for another department's records needs audit.read in the region
    refused: dict[str, Any]
    refused, _ = await gql(client, '{ auditRecords(departments: ["650000-GA"]) { records { seq } } }',
                           **as_user("developer.urumqi"))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await gql(client, '{ legalEntities(first: 1) { edges { node { name } } } }', **as_user("supervisor.region"))
    body4, _ = await gql(client, '{ auditRecords(first: 50) { records { department } } }',
                         **as_user("supervisor.region"))
    assert {"650100-MZ", "650000-ZW"} <= {r["department"] for r in body4["data"]["auditRecords"]["records"]}


async def test_audit_records_name_their_record_as_the_chain_does(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """seq is an index outside the HMAC (migration 0028): each record also carries its lane, lane_seq and HMAC,
    which an auditor matches against the chain and `govshare audit verify`."""
    await _data_query(client)
    body, _ = await gql(client, "{ auditRecords(first: 5) { records { seq lane laneSeq hash } } }",
                        **as_user("supervisor.region"))
    records = body["data"]["auditRecords"]["records"]
    assert len(records) == 5
    conn = await cluster.connect("650000")
    try:
        rows = {r["seq"]: (r["lane"], r["lane_seq"], r["hash"]) for r in await conn.fetch(
            "select seq, lane, lane_seq, hash from audit_log where seq = any($1::bigint[])", [int(r["seq"]) for r in records])}
    finally:
        await conn.close()
    assert {int(r["seq"]): (r["lane"], int(r["laneSeq"]), r["hash"]) for r in records} == rows  # BigInts: strings
    assert all(len(r["hash"]) == 64 for r in records)
    # one lane, for a reader that follows the trail: within a lane seq grows with laneSeq (commit order)
    lane = records[0]["lane"]
    body, _ = await gql(client, "query($lane: Int) { auditRecords(first: 20, lane: $lane) { records { seq lane laneSeq } } }",
                        {"lane": lane}, **as_user("supervisor.region"))
    own = body["data"]["auditRecords"]["records"]
    assert own and {r["lane"] for r in own} == {lane}
    assert [int(r["laneSeq"]) for r in own] == sorted((int(r["laneSeq"]) for r in own), reverse=True)


FRESHNESS = """query($n: [String!], $s: [String!]) { catalogStatistics(groupBy: [NODE], nodes: $n, statuses: $s) {
  rows { node resources staleResources freshnessUnknown } } }"""
CYCLES = {"realtime": timedelta(days=1), "daily": timedelta(days=1), "weekly": timedelta(days=7),
          "monthly": timedelta(days=31), "quarterly": timedelta(days=92), "half_yearly": timedelta(days=183),
          "yearly": timedelta(days=366)}


async def test_published_data_freshness_matches_the_registers(client: httpx.AsyncClient, cluster: Cluster) -> None:
    now = datetime.now(UTC)
    expected = Counter[tuple[str, str]]()
    for db in cluster.topology.databases:
        own = list(cluster.topology.hosted_on(db.code))
        conn = await cluster.connect(db.code)
        try:
            for r in await conn.fetch(
                    "select r.code, r.node_code, r.data_table, r.data_scope, r.update_cycle, c.change_column "
                    "from resources r left join register_change_columns c on c.data_table = r.data_table "
                    "where r.status = 'published' and r.data_table is not null and r.node_code = any($1::text[])",
                    own):
                latest = None
                if r["change_column"] is not None:
                    where = "" if r["data_scope"] == "all_nodes" else " where node_code = $1"
                    args = [] if r["data_scope"] == "all_nodes" else [r["node_code"]]
                    latest = await conn.fetchval(f'select max("{r["change_column"]}") from "{r["data_table"]}"'
                                                 + where, *args)
                if latest is None:
                    expected[(r["node_code"], "unknown")] += 1
                elif latest < now - CYCLES[r["update_cycle"]]:
                    expected[(r["node_code"], "stale")] += 1
        finally:
            await conn.close()
    body, response = await gql(client, FRESHNESS, {"n": None, "s": None}, **as_user("supervisor.region"))
    assert "errors" not in body, body
    assert response.headers["X-Govshare-Statements"] == str(len(cluster.topology.databases))
    for row in body["data"]["catalogStatistics"]["rows"]:
        assert row["staleResources"] == expected[(row["node"], "stale")], row
        assert row["freshnessUnknown"] == expected[(row["node"], "unknown")], row


async def test_stale_and_unknown_data_are_told_apart(client: httpx.AsyncClient, cluster: Cluster) -> None:
    conn = await cluster.connect("650200")
    entry = """insert into resources (code, node_code, classification, category, name_zh, provider_code, provider_level,
        format, update_cycle, share_class, open_attribute, status, data_table)
        values ($1, '650200', 'department', 'test', '新鲜度', '650200-GA', 'prefecture', 'database', $2,
                'UNCONDITIONAL', 'open', 'draft', $3)"""
    codes = {"650200-D98-000001": ("daily", "stats_register"), "650200-D98-000002": ("monthly", "stats_register"),
             "650200-D98-000003": ("daily", "stats_undeclared")}
    try:
        await conn.execute("create table stats_register (id int, node_code text, changed_at timestamptz)")
        await conn.execute("insert into stats_register values (1, '650200', now() - interval '3 days'), "
                           "(2, '650100', now())")  # another node's newer row does not count
        await conn.execute("insert into register_change_columns values ('stats_register', 'changed_at')")
        for code, (cycle, table) in codes.items():
            await conn.execute(entry, code, cycle, table)
        body, _ = await gql(client, FRESHNESS, {"n": ["650200"], "s": ["draft"]}, **as_user("supervisor.region"))
        [row] = body["data"]["catalogStatistics"]["rows"]
        # daily data changed 3 days ago: stale; monthly: fresh; an undeclared register: unknown
        assert (row["staleResources"], row["freshnessUnknown"]) == (1, 1)
    finally:
        await conn.execute("delete from resources where code = any($1::text[])", list(codes))
        await conn.execute("delete from register_change_columns where data_table = 'stats_register'")
        await conn.execute("drop table if exists stats_register")
        await conn.close()
