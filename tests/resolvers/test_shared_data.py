"""Shared-data queries: side channels refused before SQL, minimisation, scopes, decisions, merge."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from govshare.core.errors import NodeUnavailable
from govshare.resolvers import shared_data

from ..conftest import Cluster
from ..helpers import gql, token
from ..hostile_servers import filters_passing_everything
from .conftest import NO_GRANT_DEPT, POPULATION, SCOPED_DEPT, Spy

NOGRANT = {"Authorization": f"Bearer {token(NO_GRANT_DEPT)}"}
RS = {"Authorization": f"Bearer {token('650000-RS')}"}
RS_PURPOSE = "社会保险参保资格核验"

SIDE_CHANNELS = [
    ("filter on conditional", '{ population(filter: {birthDate: {gte: "1990-01-01"}}) { nodes { name } } }',
     "birth_date", "filter", "NO_GRANT"),
    ("filter on not shared", '{ population(filter: {biometricTemplateId: {isNull: false}}) { totalCount } }',
     "biometric_template_id", "filter", "NOT_SHARED"),
    ("filter in list", '{ population(filter: {citizenId: {in: ["650100199001011234"]}}) { nodes { name } } }',
     "citizen_id", "filter", "NO_GRANT"),
    ("sort on conditional", "{ population(orderBy: {field: BIRTH_DATE}) { nodes { name } } }",
     "birth_date", "orderBy", "NO_GRANT"),
    ("sort on not shared", "{ population(orderBy: {field: BIOMETRIC_TEMPLATE_ID, direction: DESC}) { totalCount } }",
     "biometric_template_id", "orderBy", "NOT_SHARED"),
    ("count with denied filter", '{ population(first: 0, filter: {phone: {eq: "13800000000"}}) { totalCount } }',
     "phone", "filter", "NO_GRANT"),
    ("aliased and fragment", """{ x: population(filter: {address: {isNull: true}}) { ...F } }
       fragment F on PopulationConnection { nodes { n: name } }""", "address", "filter", "NO_GRANT"),
]


@pytest.mark.parametrize(("name", "query", "item", "usage", "reason"), SIDE_CHANNELS, ids=[s[0] for s in SIDE_CHANNELS])
async def test_side_channels_are_refused_before_any_data_sql(client: httpx.AsyncClient, spy: Spy, name: str,
                                                             query: str, item: str, usage: str, reason: str) -> None:
    body, response = await gql(client, query, **NOGRANT)
    assert response.status_code == 200
    root = next(iter(body["data"]))
    assert body["data"][root] is None
    assert [(e["extensions"]["code"], e["extensions"]["item"], e["extensions"]["usage"], e["extensions"]["reason"])
            for e in body["errors"]] == [("FIELD_FORBIDDEN", item, usage, reason)]
    assert body["errors"][0]["path"] == [root]
    assert not [n for n in spy.names() if n.startswith("data.")], "data SQL ran for a refused query"
    assert "audit.append" in spy.names(), "refusals are audited too"


async def test_denied_columns_are_never_selected(client: httpx.AsyncClient, spy: Spy) -> None:
    body, _ = await gql(client, """{ population(first: 5) { totalCount edges { cursor node { name sex birthDate
        citizenId address phone biometricTemplateId ethnicity divisionCode } } } }""", **NOGRANT)
    assert len(body["data"]["population"]["edges"]) == 5
    data_sql = "\n".join(sql for name, sql in spy.calls if name.startswith("data."))
    assert '"name"' in data_sql and '"sex"' in data_sql
    for denied in ("birth_date", "citizen_id", "address", "phone", "biometric_template_id", "ethnicity"):
        assert denied not in data_sql
    denied_errors = sorted(e["extensions"]["item"] for e in body["errors"])
    assert denied_errors == ["address", "biometric_template_id", "birth_date", "citizen_id", "ethnicity", "phone"]
    # cursors carry no field value when the order is the neutral one
    cursor = body["data"]["population"]["edges"][0]["cursor"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert set(decoded) == {"o", "d", "n", "r"} and decoded["o"] is None


async def test_aliases_and_fragments_of_denied_fields_are_null_with_one_error(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, """{ p: population(first: 2) { rows: nodes { a: birthDate b: birthDate name
        ... on PopulationRecord { c: birthDate } ...G } } } fragment G on PopulationRecord { birthDate }""", **NOGRANT)
    rows = body["data"]["p"]["rows"]
    assert all(r["a"] is None and r["b"] is None and r["c"] is None and r["birthDate"] is None for r in rows)
    assert [(e["extensions"]["item"], e["path"]) for e in body["errors"]] == [("birth_date", ["p", "rows", 0, "a"])]


async def test_decisions_are_per_field_not_per_row(client: httpx.AsyncClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    department = "650100-RS"  # a department no other test uses: its decisions are not cached yet
    before = engine.enforce_calls
    body, _ = await gql(client, """{ population(first: 1000) { nodes { name sex birthDate address divisionCode
        householdType registeredOn citizenId phone ethnicity biometricTemplateId } } }""",
                        Authorization=f"Bearer {token(department)}")
    assert len(body["data"]["population"]["nodes"]) == 1000
    assert engine.enforce_calls - before == 11  # one per item, not 11,000
    again = engine.enforce_calls
    await gql(client, "{ population(first: 1000) { nodes { name sex } } }", Authorization=f"Bearer {token(department)}")
    assert engine.enforce_calls == again  # decisions of unchanged rules are cached


async def test_pages_over_nodes_match_a_single_database_reference(client: httpx.AsyncClient, cluster: Cluster) -> None:
    reference: list[tuple[str, str]] = []
    for db in cluster.topology.databases:
        conn = await cluster.connect(db.code)
        reference += [(r["citizen_id"], r["birth_date"].isoformat()) for r in
                      await conn.fetch("select citizen_id, birth_date from population")]
        await conn.close()
    for order, expected in (
        (None, None),
        ({"field": "BIRTH_DATE", "direction": "DESC"}, sorted(reference, key=lambda r: r[1], reverse=True)),
        ({"field": "CITIZEN_ID"}, sorted(reference)),
    ):
        seen: list[tuple[str, str]] = []
        after = None
        while True:
            body, _ = await gql(client, """query($a: String, $o: PopulationOrder, $p: String) {
                population(first: 700, after: $a, orderBy: $o, purpose: $p) {
                  edges { cursor node { citizenId birthDate } } pageInfo { hasNextPage endCursor } } }""",
                                {"a": after, "o": order, "p": RS_PURPOSE}, **RS)
            assert "errors" not in body, body.get("errors")
            page = body["data"]["population"]
            seen += [(e["node"]["citizenId"], e["node"]["birthDate"]) for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) == len(reference)
        if expected is not None:
            assert [d for _, d in seen] == [d for _, d in expected]  # birth dates tie: compare the order key
        else:
            assert sorted(seen) == sorted(reference)


async def test_cursor_for_another_ordering_is_refused(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "{ population(first: 1) { pageInfo { endCursor } } }", **RS)
    cursor = body["data"]["population"]["pageInfo"]["endCursor"]
    body, _ = await gql(client, """query($a: String) { population(first: 1, after: $a, orderBy: {field: NAME}) {
        nodes { name } } }""", {"a": cursor}, **RS)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    forged = base64.urlsafe_b64encode(json.dumps({"o": None, "d": False, "n": "650100", "r": "1; drop"}).encode())
    body, _ = await gql(client, "query($a: String) { population(after: $a) { nodes { name } } }",
                        {"a": forged.decode()}, **RS)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_row_scope_restricts_rows_and_out_of_scope_requests_are_denied(client: httpx.AsyncClient,
                                                                            grants: dict[str, int],
                                                                            cluster: Cluster) -> None:
    conn = await cluster.connect("650100")
    in_scope = await conn.fetchval("select count(*) from population where division_code = '650100'")
    await conn.close()
    headers = {"Authorization": f"Bearer {token(SCOPED_DEPT)}"}
    query = """query($f: PopulationFilter) { population(first: 1000, purpose: "P-scope", filter: $f) {
        rowScope totalCount nodes { divisionCode address } } }"""
    body, _ = await gql(client, query, {"f": None}, **headers)
    page = body["data"]["population"]
    assert page["rowScope"] == ["650100"]
    assert page["nodes"] and all(r["divisionCode"] == "650100" and r["address"] for r in page["nodes"])
    assert page["totalCount"] == in_scope and len(page["nodes"]) == min(in_scope, 1000)
    body, _ = await gql(client, query, {"f": {"nodes": ["650200"]}}, **headers)
    page = body["data"]["population"]
    assert page["rowScope"] is None
    assert page["nodes"] and all(r["divisionCode"] == "650200" and r["address"] is None for r in page["nodes"])
    assert [(e["extensions"]["item"], e["extensions"]["reason"]) for e in body["errors"]] == [("address", "OUT_OF_SCOPE")]
    body, _ = await gql(client, query, {"f": {"divisionCode": {"eq": "650100"}}}, **headers)
    assert "errors" not in body and body["data"]["population"]["rowScope"] == ["650100"]


async def test_hosted_prefecture_rows_answer_like_any_node(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, """{ population(first: 5, filter: {nodes: ["654300"]}) { totalCount
        nodes { divisionCode } unavailableNodes } }""", **RS)
    page = body["data"]["population"]
    assert page["totalCount"] > 0 and {r["divisionCode"] for r in page["nodes"]} == {"654300"}


async def test_verification_answers_without_disclosing(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, """{ population(first: 1, purpose: "社会保险参保资格核验") { nodes { citizenId name
        birthDate } } }""", **RS)
    person = body["data"]["population"]["nodes"][0]
    query = """query($k: String!, $v: [VerifyValue!]!) { verify(resource: "650000-B01-000001", key: $k, values: $v) {
        resource found items { item outcome reason } } }"""
    values = [{"item": "name", "value": person["name"]}, {"item": "birth_date", "value": "1900-01-01"}]
    body, _ = await gql(client, query, {"k": person["citizenId"], "v": values}, **NOGRANT)
    assert body["data"]["verify"] == {"resource": "650000-B01-000001", "found": True, "items": [
        {"item": "name", "outcome": "MATCH", "reason": None},
        {"item": "birth_date", "outcome": "MISMATCH", "reason": None}]}
    assert person["birthDate"] not in json.dumps(body)
    body, _ = await gql(client, query, {"k": "650100190001010005", "v": values}, **NOGRANT)
    assert body["data"]["verify"]["found"] is False
    assert {i["outcome"] for i in body["data"]["verify"]["items"]} == {"NOT_FOUND"}
    body, _ = await gql(client, query, {"k": person["citizenId"], "v": [{"item": "birth_date", "value": "May 1"}]},
                        **NOGRANT)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # a department named by an explicit rule may verify a NOT_SHARED item
    body, _ = await gql(client, query, {"k": person["citizenId"], "v": [{"item": "biometric_template_id",
                                                                        "value": "BT0"}]},
                        Authorization=f"Bearer {token('650000-GA')}")
    assert body["data"]["verify"]["items"] == [{"item": "biometric_template_id", "outcome": "MISMATCH", "reason": None}]


async def test_verification_is_rate_limited_per_department(client: httpx.AsyncClient) -> None:
    limiter = client.app.state.limiter  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token('650200-CA-MZ')}"}
    query = """{ verify(resource: "population", key: "650100190001010005", values: [{item: "name", value: "x"}]) {
        found } }"""
    outcomes: list[Any] = []
    for _ in range(int(limiter.capacity) + 1):
        body, _ = await gql(client, query, **headers)
        # verify is nullable (issue 7 section 5): a refused call is null with its error
        outcomes.append(body["data"]["verify"] or body["errors"][0]["extensions"])
    assert outcomes[:-1] == [{"found": False}] * int(limiter.capacity)
    assert outcomes[-1]["code"] == "RATE_LIMITED" and outcomes[-1]["retryAfterSeconds"] > 0
    body, _ = await gql(client, query, **NOGRANT)  # another department is not affected
    assert body["data"]["verify"] == {"found": False}


async def test_a_data_query_costs_one_statement_per_node_plus_grants_and_audit(client: httpx.AsyncClient,
                                                                             spy: Spy, cluster: Cluster) -> None:
    databases = len(cluster.topology.databases)
    client.app.state.grant_cache.clear()  # type: ignore[attr-defined]
    body, response = await gql(client, "{ population(first: 500) { nodes { name birthDate } } }", **RS)
    assert len(body["data"]["population"]["nodes"]) == 500
    assert sorted(spy.names()) == sorted(["data.page"] * databases + ["grants.by_department", "audit.append"])
    assert response.headers["x-govshare-statements"] == str(databases + 2)
    spy.calls.clear()
    # Again: the grants come from the process's cache (the audit append checks that they are still current).
    body, response = await gql(client, "{ population(first: 500) { nodes { name birthDate } } }", **RS)
    assert len(body["data"]["population"]["nodes"]) == 500
    assert sorted(spy.names()) == sorted(["data.page"] * databases + ["audit.append"])
    assert response.headers["x-govshare-statements"] == str(databases + 1)
    spy.calls.clear()
    await gql(client, "{ population(first: 1000) { totalCount nodes { name sex } } }", **RS)
    # no CONDITIONAL item: no grant lookup; the count runs beside the page on each node
    assert sorted(spy.names()) == sorted(["data.page"] * databases + ["data.count"] * databases + ["audit.append"])


async def test_a_request_carries_at_most_five_data_queries(client: httpx.AsyncClient) -> None:
    fields = " ".join(f"q{i}: population(first: 1) {{ nodes {{ name }} }}" for i in range(6))
    body, _ = await gql(client, "{ " + fields + " }")
    answered = [k for k, v in body["data"].items() if v is not None]
    refused = [e for e in body["errors"] if e["extensions"]["code"] == "LIMIT_EXCEEDED"]
    assert len(answered) == 5 and len(refused) == 1 and len(body["errors"]) == 1
    assert refused[0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "dataQueries", "maximum": 5}


# In 650200's database, tagged as Urumqi's (650100); the name sorts before every seeded name.
PLANTED = ("650200", "650100199901019999", "A冒名顶替")


@pytest.mark.parametrize("hostile", [False, True], ids=["honest server", "server passing every text filter"])
async def test_a_node_database_serves_only_its_own_nodes_rows(client: httpx.AsyncClient, cluster: Cluster,
                                                              hostile: bool) -> None:
    database, citizen, name = PLANTED
    query = (f'{{ population(first: 100, orderBy: {{field: NAME}}, filter: {{name: {{eq: "{name}"}}}}) '
             "{ totalCount unavailableNodes nodes { name } } }")
    conn = await cluster.connect(database)
    try:
        await conn.execute(
            """insert into population (citizen_id, node_code, name, sex, birth_date, ethnicity, address,
               division_code, household_type, registered_on)
               values ($1, '650100', $2, '男', '1999-01-01', '汉族', '乌鲁木齐市', '650102', '城镇', '2000-01-01')""",
            citizen, name)
        if not hostile:
            body, _ = await gql(client, query)
            assert "errors" not in body, body["errors"]
            # Not served as Urumqi's, nor counted: 650200's database is asked for 650200's rows only.
            assert body["data"]["population"] == {"totalCount": 0, "unavailableNodes": [], "nodes": []}
            return
        # Its owner also drops the indexes on node_code, whose scans compare honestly: the filter then decides.
        indexes = await conn.fetch("select indexname, indexdef from pg_indexes where tablename = 'population' "
                                   "and indexdef like '%(node_code%'")
        for index in indexes:
            await conn.execute(f'drop index "{index["indexname"]}"')
        try:
            async with filters_passing_everything(cluster, database, equality=True):
                body, _ = await gql(client, query)
        finally:
            for index in indexes:
                await conn.execute(index["indexdef"])
        # The server's answer held a row of another node: none of it is served, and it says so.
        page = body["data"]["population"]
        assert page["nodes"] == [] and page["totalCount"] is None
        assert page["unavailableNodes"] == [database]
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NODE_UNAVAILABLE"]
    finally:
        await conn.execute("delete from population where citizen_id = $1", citizen)
        await conn.close()


class _Row(tuple[str, str]):
    """A page row as asyncpg gives it: row_id, node_code, then the items."""


@pytest.mark.parametrize(("nodes", "tags", "served"), [
    (["650200"], ["650200", "650200"], True),  # its own rows
    (["650200"], [], True),  # nothing
    (["650200"], ["650200", "650100"], False),  # a row of a node it was not asked for: the answer is refused
    (["650100", "650101"], ["650101", "650100"], True),  # a database hosting two nodes
    (["650100"], ["650101"], False),  # asked for one of them, answered with the other
    (None, ["650000", "650100", "650101"], True),  # the region's own database: everything it holds
])
def test_a_database_answer_is_served_only_if_every_row_is_of_a_node_it_was_asked_for(
        nodes: list[str] | None, tags: list[str], served: bool) -> None:
    rows: list[Any] = [_Row((f"r{i}", tag)) for i, tag in enumerate(tags)]
    if served:
        assert shared_data._own_rows("650200", nodes, rows) is rows
    else:
        with pytest.raises(NodeUnavailable, match="not asked for"):
            shared_data._own_rows("650200", nodes, rows)


SCOPED_QUERY = """query($n: String!, $p: String = "P-scope") { population(first: 1000, purpose: $p,
    filter: {name: {eq: $n}}) { rowScope unavailableNodes nodes { name divisionCode address } } }"""
SPANNING = "P-spanning-read"
PLANT_IN_DIVISION = """insert into population (citizen_id, node_code, name, sex, birth_date, ethnicity, address,
    division_code, household_type, registered_on)
    values ($1, '650200', $2, '男', '1999-01-01', '汉族', $3, $4, '城镇', '2000-01-01')"""


async def _drop_indexes(conn: Any, table: str, column: str) -> list[str]:
    """The owner drops the indexes on ``column`` (their scans compare honestly): the lying filter decides."""
    indexes = await conn.fetch("select indexname, indexdef from pg_indexes where tablename = $1 and indexdef like $2",
                               table, f"%({column}%")
    for index in indexes:
        await conn.execute(f'drop index "{index["indexname"]}"')
    return [index["indexdef"] for index in indexes]


@pytest.fixture
async def spanning(cluster: Cluster) -> AsyncIterator[int]:
    """SCOPED_DEPT's grant scoped to Urumqi (650100) and a Karamay district (650201): both prefectures'
    databases are asked."""
    now = datetime.now(UTC)
    conn = await cluster.connect("650000")
    grant = await conn.fetchval(
        """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
           row_scope, status, created_by) values ($1, $2, $3, $4, $5, $6, $7::jsonb, 'active', 'test') returning id""",
        SCOPED_DEPT, POPULATION, ["address", "birth_date"], SPANNING, now - timedelta(days=1),
        now + timedelta(days=1), json.dumps({"division_codes": ["650100", "650201"]}))
    try:
        yield int(grant)
    finally:
        await conn.execute("delete from grants where id = $1", grant)
        await conn.close()


async def test_a_scope_of_one_prefecture_is_not_sent_to_another(
        client: httpx.AsyncClient, grants: dict[str, int], cluster: Cluster) -> None:
    """A grant scoped to Urumqi's division (650100): 650200's database can hold no row of it (its rows are
    of its own divisions), so it is not asked: it neither learns the scope nor can cost the page anything
    with its own row saying division 650100 (review-s6 finding 7, as for exports)."""
    citizen, address = "650200199901017777", "克拉玛依冒充乌鲁木齐"
    pools = client.app.state.pools  # type: ignore[attr-defined]
    original, asked = pools.fetch, []

    async def fetch(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(database)
        return await original(database, name, sql, *args, **kwargs)

    conn = await cluster.connect("650200")
    try:
        await conn.execute(PLANT_IN_DIVISION, citizen, "A冒名", address, "650100")
        pools.fetch = fetch
        body, _ = await gql(client, SCOPED_QUERY, {"n": "A冒名"}, Authorization=f"Bearer {token(SCOPED_DEPT)}")
    finally:
        pools.fetch = original
        await conn.execute("delete from population where citizen_id = $1", citizen)
        await conn.close()
    page = body["data"]["population"]
    assert page == {"rowScope": ["650100"], "unavailableNodes": [], "nodes": []}, page
    assert "650200" not in asked and "650100" in asked


async def test_a_prefecture_row_in_another_prefectures_division_is_not_served_in_its_scope(
        client: httpx.AsyncClient, spanning: int, cluster: Cluster) -> None:
    """A grant scoped to Urumqi's division (650100) and a Karamay one: 650200's own row saying division
    650100 is no Urumqi row (review-trust3 finding 4). An honest server returns it, the service refuses
    that answer."""
    citizen, address = "650200199901017777", "克拉玛依冒充乌鲁木齐"
    conn = await cluster.connect("650200")
    try:
        await conn.execute(PLANT_IN_DIVISION, citizen, "A冒名", address, "650100")
        body, _ = await gql(client, SCOPED_QUERY, {"n": "A冒名", "p": SPANNING},
                            Authorization=f"Bearer {token(SCOPED_DEPT)}")
    finally:
        await conn.execute("delete from population where citizen_id = $1", citizen)
        await conn.close()
    page = body["data"]["population"]
    assert page["rowScope"] == ["650100", "650201"]
    assert [r for r in page["nodes"] if r["address"] == address] == []
    assert page["unavailableNodes"] == ["650200"]


async def test_the_row_scope_is_checked_again_in_the_service(client: httpx.AsyncClient, spanning: int,
                                                             cluster: Cluster) -> None:
    """The scope filter runs on 650200's server: lying `=` (indexes dropped), it returns its rows of its own
    division 650200 to a department whose grant covers 650100 and 650201 only; none is served."""
    conn = await cluster.connect("650200")
    restore = [*await _drop_indexes(conn, "population", "division_code"),
               *await _drop_indexes(conn, "population", "node_code"), *await _drop_indexes(conn, "population", "name")]
    try:
        async with filters_passing_everything(cluster, "650200", equality=True):
            body, _ = await gql(client, SCOPED_QUERY, {"n": "不存在的名字", "p": SPANNING},
                                Authorization=f"Bearer {token(SCOPED_DEPT)}")
    finally:
        for indexdef in restore:
            await conn.execute(indexdef)
        await conn.close()
    page = body["data"]["population"]
    assert page["rowScope"] == ["650100", "650201"]
    assert [r for r in page["nodes"] if r["divisionCode"] not in page["rowScope"]] == []
    assert page["unavailableNodes"] == ["650200"]


async def test_an_order_value_of_another_type_costs_only_that_nodes_rows(client: httpx.AsyncClient,
                                                                       cluster: Cluster) -> None:
    """650200's owner puts a view in front of its table whose `name` is bytea: ordered by name, its answer
    is refused (that node unavailable), the other nodes' rows are served (before: INTERNAL, every row lost)."""
    conn = await cluster.connect("650200")
    columns = [r["attname"] for r in await conn.fetch(
        "select attname from pg_attribute where attrelid = 'population'::regclass and attnum > 0 "
        "and not attisdropped order by attnum")]
    select = ", ".join("convert_to(name, 'UTF8') as name" if c == "name" else f'"{c}"' for c in columns)
    try:
        async with conn.transaction():
            await conn.execute("alter table population rename to population_honest")
            await conn.execute(f"create view population as select {select} from population_honest")
            await conn.execute("grant select on population to govshare_service")
        body, _ = await gql(client, "{ population(first: 20, orderBy: {field: NAME}) { unavailableNodes "
                                    "nodes { name divisionCode } } }")
    finally:
        async with conn.transaction():
            await conn.execute("drop view if exists population")
            await conn.execute("alter table population_honest rename to population")
        await conn.close()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NODE_UNAVAILABLE"]
    page = body["data"]["population"]
    assert page["unavailableNodes"] == ["650200"]
    assert len(page["nodes"]) == 20 and "650200" not in {r["divisionCode"] for r in page["nodes"]}
