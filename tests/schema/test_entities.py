"""Federation v2 subgraph: ``_service { sdl }`` and ``_entities`` under the same rules as root fields."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from govshare.federation.nodes import statement_log
from govshare.resolvers.entities import MAX_REPRESENTATIONS

from ..conftest import Cluster
from ..helpers import gql, token

ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { __typename
  ... on Resource { code name provider { code name } dataItems { name shareClass } }
  ... on Department { code name level parent { code } } } }"""
PERSONS = """query($r: [_Any!]!) { _entities(representations: $r) {
  ... on PopulationRecord { citizenId name birthDate address divisionCode } } }"""
DIRECT_PERSONS = """query($keys: [String!]!) { population(first: 1000, filter: {citizenId: {in: $keys}}) {
  nodes { citizenId name birthDate address divisionCode } } }"""
MSZ = "650100-MZ"        # seeded grant on population, purpose 最低生活保障资格审核, rows of division 650100 only
MSZ_PURPOSE = "最低生活保障资格审核"
RS = "650000-RS"         # seeded grant on population, purpose 社会保险参保资格核验, every row
RS_PURPOSE = "社会保险参保资格核验"
NO_GRANT = "650200-JY"


def bearer(department: str, purpose: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token(department)}"}
    if purpose is not None:
        headers["X-Govshare-Purpose"] = quote(purpose)
    return headers


class Statements:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def count(self, name: str) -> int:
        return sum(1 for _, n in self.calls if n == name)

    def per_database(self, name: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for database, n in self.calls:
            if n == name:
                counts[database] = counts.get(database, 0) + 1
        return counts


@pytest.fixture
def statements(client: httpx.AsyncClient) -> Iterator[Statements]:
    """Every statement the app sends for a request, with the database it went to. Background work that other
    tests' changes set off meanwhile (a schema rebuild or a policy reload on their NOTIFY) is not the request's
    cost: only statements sent in a request's context (where the request's statement log is set) count, and
    the audit trail's, whose flusher task writes the requests' records on their behalf."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    original = pools.fetch
    recorder = Statements()

    async def fetch(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        if statement_log.get() is not None or name.startswith("audit."):
            recorder.calls.append((database, name))
        return await original(database, name, sql, *args, **kwargs)

    pools.fetch = fetch
    try:
        yield recorder
    finally:
        pools.fetch = original


async def _citizens(cluster: Cluster, database: str, node: str, count: int) -> list[str]:
    conn = await cluster.connect(database)
    try:
        rows = await conn.fetch("select citizen_id from population where node_code = $1 order by row_id limit $2",
                                node, count)
        return [r["citizen_id"] for r in rows]
    finally:
        await conn.close()


async def _audit(cluster: Cluster, request_id: str) -> list[dict[str, Any]]:
    conn = await cluster.connect("650000")
    try:
        return [dict(r) for r in await conn.fetch(
            """select department, purpose, resource, items_returned, items_denied, row_count, outcome
               from audit_log where client_request_id = $1 order by seq""", request_id)]
    finally:
        await conn.close()


async def test_service_sdl_declares_federation_2_and_the_keys(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "{ _service { sdl } }")
    sdl = body["data"]["_service"]["sdl"]
    assert '@link(url: "https://specs.apollo.dev/federation/v2.' in sdl and '"@key"' in sdl
    for declaration in ('type Resource @key(fields: "code"', 'type Department @key(fields: "code"',
                        'type PopulationRecord @key(fields: "citizenId"', 'type LegalEntitiesRecord @key(fields: "uscc"',
                        'type BusinessLicencesRecord @key(fields: "licenceNo"'):
        assert declaration in sdl
    assert "union _Entity = Resource | Department | PopulationRecord | LegalEntitiesRecord | " \
           "BusinessLicencesRecord" in sdl
    assert "_entities(representations: [_Any!]!): [_Entity]!" in sdl


async def _codes(client: httpx.AsyncClient, node: str, count: int) -> list[str]:
    page, _ = await gql(client, f'{{ resources(first: {count}, filter: {{nodes: ["{node}"]}}) '
                                '{ edges { node { code } } } }')
    return [e["node"]["code"] for e in page["data"]["resources"]["edges"]]


async def test_resource_entities_cost_one_statement_per_node_per_level(
        client: httpx.AsyncClient, statements: Statements) -> None:
    codes = [*await _codes(client, "650000", 12), *await _codes(client, "650100", 12)]
    statements.calls.clear()
    body, response = await gql(client, ENTITIES, {"r": [{"__typename": "Resource", "code": c} for c in codes]})
    assert "errors" not in body, body
    assert [e["code"] for e in body["data"]["_entities"]] == codes
    assert {e["__typename"] for e in body["data"]["_entities"]} == {"Resource"}
    # Each level (resources, their items, their providers) is one statement per database, for 24 entities.
    assert statements.per_database("resources.by_code") == {"650000": 1, "650100": 1}
    assert statements.per_database("items.by_resource") == {"650000": 1, "650100": 1}
    assert statements.per_database("departments.by_code") == {"650000": 1, "650100": 1}
    assert len(statements.calls) == 6 == int(response.headers["x-govshare-statements"])


async def test_department_entities_cost_one_statement_per_node_per_level(
        client: httpx.AsyncClient, statements: Statements) -> None:
    departments = ["650200-GA", "650200-CA-GA", "650200-CB-MZ", "654300-MZ", "650100-RS"]  # 654300: hosted
    body, _ = await gql(client, ENTITIES, {"r": [{"__typename": "Department", "code": d} for d in departments]})
    assert "errors" not in body, body
    assert [e["code"] for e in body["data"]["_entities"]] == departments
    # Level 1, the entities: one statement per database (654300 lives in the region's). Level 2, their
    # parents (650000-GA, -MZ, -RS and 650200-MZ; 650200-GA is already loaded): one per database again.
    assert statements.per_database("departments.by_code") == {"650000": 2, "650100": 1, "650200": 2}
    assert len(statements.calls) == 5


async def test_catalog_entities_equal_the_root_fields(client: httpx.AsyncClient) -> None:
    codes = [*await _codes(client, "650000", 2), *await _codes(client, "650200", 2)]
    departments = ["650200-GA", "650200-CA-GA", "654300-MZ"]
    body, _ = await gql(client, ENTITIES, {"r": [*({"__typename": "Resource", "code": c} for c in codes),
                                                 *({"__typename": "Department", "code": d} for d in departments)]})
    assert "errors" not in body, body
    got = body["data"]["_entities"]
    assert [e["__typename"] for e in got] == ["Resource"] * 4 + ["Department"] * 3
    for entity in got:
        field, selection = ("resource", "{ code name provider { code name } dataItems { name shareClass } }") \
            if entity["__typename"] == "Resource" else ("department", "{ code name level parent { code } }")
        direct, _ = await gql(client, f'{{ {field}(code: "{entity["code"]}") {selection} }}')
        assert {k: v for k, v in entity.items() if k != "__typename"} == direct["data"][field]


async def test_unknown_codes_are_null_entities(client: httpx.AsyncClient, statements: Statements) -> None:
    body, _ = await gql(client, ENTITIES, {"r": [{"__typename": "Resource", "code": "650000-X99-999999"},
                                                 {"__typename": "Department", "code": "999999-GA"}]})
    assert body["data"]["_entities"] == [None, None] and "errors" not in body
    assert statements.per_database("resources.by_code") == {"650000": 1}
    assert statements.count("departments.by_code") == 0  # no node 999999: nothing to ask


async def test_malformed_representations_get_one_clear_error_each(client: httpx.AsyncClient) -> None:
    representations = [
        7, {"code": "650000-GA"}, {"__typename": "Nope", "code": "x"}, {"__typename": "Resource"},
        {"__typename": "Department", "code": 42}, {"__typename": "Department", "code": "650000-" + "9" * 200},
        {"__typename": "PopulationRecord", "citizenId": ""}, {"__typename": "Department", "code": "650000-GA"},
    ]
    body, response = await gql(client, "query($r: [_Any!]!) { _entities(representations: $r) "
                                        "{ ... on Department { code } } }", {"r": representations})
    assert response.status_code == 200
    assert body["data"]["_entities"] == [None] * 7 + [{"code": "650000-GA"}]
    errors = sorted(body["errors"], key=lambda e: e["path"])
    assert [(e["path"], e["extensions"]["code"], e["extensions"]["reason"]) for e in errors] == [
        (["_entities", 0], "BAD_USER_INPUT", "MALFORMED_REPRESENTATION"),
        (["_entities", 1], "BAD_USER_INPUT", "MALFORMED_REPRESENTATION"),
        (["_entities", 2], "BAD_USER_INPUT", "UNKNOWN_TYPENAME"),
        (["_entities", 3], "BAD_USER_INPUT", "MISSING_KEY"),
        (["_entities", 4], "BAD_USER_INPUT", "MALFORMED_REPRESENTATION"),
        (["_entities", 5], "BAD_USER_INPUT", "MALFORMED_REPRESENTATION"),
        (["_entities", 6], "BAD_USER_INPUT", "MALFORMED_REPRESENTATION"),
    ]
    assert all(e["extensions"]["representation"] == e["path"][1] for e in errors)
    assert "'Nope' is not an entity type" in errors[2]["message"]
    assert not any("KeyError" in e["message"] or "Unexpected" in e["message"] for e in errors)


async def test_a_nul_in_a_key_never_reaches_sql(client: httpx.AsyncClient, statements: Statements) -> None:
    for query, variables in (
        ("query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
         {"r": [{"__typename": "Department", "code": "650000-GA\u0000"}]}),
        ('{ _entities(representations: [{__typename: "Department", code: "650000-GA\\u0000"}]) { __typename } }',
         None),
    ):
        body, _ = await gql(client, query, variables)
        assert body.get("data") in (None, {"_entities": [None]})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
        assert "NUL" in body["errors"][0]["message"] or "non-empty string" in body["errors"][0]["message"]
    assert statements.calls == []


async def test_representations_are_bounded(client: httpx.AsyncClient, statements: Statements) -> None:
    representations = [{"__typename": "Department", "code": "650000-GA"}] * (MAX_REPRESENTATIONS + 1)
    body, _ = await gql(client, "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
                        {"r": representations})
    assert body["data"] is None
    assert [(e["extensions"]["code"], e["extensions"]["limit"], e["extensions"]["maximum"]) for e in body["errors"]] \
        == [("LIMIT_EXCEEDED", "maxRepresentations", MAX_REPRESENTATIONS)]
    assert statements.calls == []


def _errors(body: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return sorted((e["extensions"]["code"], e["extensions"].get("item"), e["extensions"].get("reason"))
                  for e in body.get("errors", []))


@pytest.mark.parametrize(("department", "purpose"), [
    (RS, RS_PURPOSE),      # grant on every row
    (RS, None),            # no purpose: conditional items denied, the key among them
    (RS, "另一用途"),       # purpose mismatch
    (MSZ, MSZ_PURPOSE),    # grant scoped to division 650100
    (NO_GRANT, None),      # no grant at all
])
async def test_record_entities_yield_exactly_what_a_direct_query_yields(
        client: httpx.AsyncClient, cluster: Cluster, department: str, purpose: str | None) -> None:
    keys = [*await _citizens(cluster, "650100", "650100", 3), *await _citizens(cluster, "650200", "650200", 2),
            "650100190001010000"]  # not on the register
    headers = bearer(department, purpose)
    direct, _ = await gql(client, DIRECT_PERSONS, {"keys": keys}, **headers)
    body, _ = await gql(client, PERSONS, {"r": [{"__typename": "PopulationRecord", "citizenId": k} for k in keys]},
                        **headers)
    entities = body["data"]["_entities"]
    assert len(entities) == len(keys)
    if direct["data"]["population"] is None:  # refused: the key filter is not allowed
        assert entities == [None] * len(keys)
        assert {(e["extensions"]["code"], e["extensions"]["item"], e["extensions"]["usage"]) for e in body["errors"]} \
            == {("FIELD_FORBIDDEN", "citizen_id", "filter")}
        assert {e["extensions"]["reason"] for e in body["errors"]} == \
            {e["extensions"]["reason"] for e in direct["errors"]}
        return
    by_key = {r["citizenId"]: r for r in direct["data"]["population"]["nodes"]}
    assert [e and e["citizenId"] for e in entities] == [k if k in by_key else None for k in keys]
    assert [e for e in entities if e] == [by_key[k] for k in keys if k in by_key]
    assert _errors(body) == _errors(direct)
    if department == MSZ:
        assert [e is not None for e in entities] == [True] * 3 + [False] * 3  # row scope: 650100 only
        assert _errors(body) == []
    if department == RS:
        assert len(by_key) == 5


async def test_denied_fields_of_entities_are_null_with_one_error_each(client: httpx.AsyncClient,
                                                                      cluster: Cluster) -> None:
    conn = await cluster.connect("650000")
    try:
        usccs = [r["uscc"] for r in await conn.fetch("select uscc from legal_entities order by row_id limit 3")]
    finally:
        await conn.close()
    body, _ = await gql(client, """query($r: [_Any!]!) { _entities(representations: $r) {
        ... on LegalEntitiesRecord { uscc n: name rating: taxCreditRating legalRepCitizenId } } }""",
                        {"r": [{"__typename": "LegalEntitiesRecord", "uscc": u} for u in usccs]},
                        **bearer(NO_GRANT))
    entities = body["data"]["_entities"]
    assert [e["uscc"] for e in entities] == usccs
    assert all(e["n"] and e["rating"] is None and e["legalRepCitizenId"] is None for e in entities)
    assert sorted((e["extensions"]["item"], e["extensions"]["reason"], tuple(e["path"])) for e in body["errors"]) == [
        ("legal_rep_citizen_id", "NO_GRANT", ("_entities", 0, "legalRepCitizenId")),
        ("tax_credit_rating", "NOT_SHARED", ("_entities", 0, "rating")),
    ]


async def test_entity_lookups_are_audited_with_purpose_and_cost_one_data_query_per_type(
        client: httpx.AsyncClient, cluster: Cluster, statements: Statements) -> None:
    keys = await _citizens(cluster, "650100", "650100", 4)
    request_id = uuid.uuid4().hex
    client.app.state.grant_cache.clear()  # type: ignore[attr-defined]  # grants read once, not from earlier tests
    body, response = await gql(
        client, PERSONS, {"r": [{"__typename": "PopulationRecord", "citizenId": k} for k in keys]},
        **bearer(RS, RS_PURPOSE), **{"X-Request-Id": request_id})
    assert "errors" not in body and [e["citizenId"] for e in body["data"]["_entities"]] == keys
    assert all(e["birthDate"] and e["address"] for e in body["data"]["_entities"])
    # grants once, the data page on each database holding population rows, one audit append
    databases = {n.code for n in cluster.topology.databases}
    assert statements.per_database("data.page") == dict.fromkeys(databases, 1)
    assert statements.count("grants.by_department") == 1 and statements.count("audit.append") == 1
    assert int(response.headers["x-govshare-statements"]) == len(statements.calls)
    [record] = await _audit(cluster, request_id)
    assert record["department"] == RS and record["purpose"] == RS_PURPOSE
    assert record["resource"] == "650000-B01-000001" and record["outcome"] == "ok" and record["row_count"] == 4
    assert sorted(record["items_returned"]) == ["address", "birth_date", "citizen_id", "division_code", "name"]

    refused_id = uuid.uuid4().hex
    body, _ = await gql(client, PERSONS, {"r": [{"__typename": "PopulationRecord", "citizenId": keys[0]}]},
                        **bearer(NO_GRANT), **{"X-Request-Id": refused_id})
    assert body["data"]["_entities"] == [None]
    [refusal] = await _audit(cluster, refused_id)
    assert refusal["outcome"] == "refused" and refusal["items_denied"] == ["citizen_id"]


async def test_entities_count_towards_the_data_query_limit(client: httpx.AsyncClient) -> None:
    five = " ".join(f"p{i}: population(first: 1) {{ nodes {{ name }} }}" for i in range(5))
    body, _ = await gql(client, f"""query($r: [_Any!]!) {{ {five}
        _entities(representations: $r) {{ ... on LegalEntitiesRecord {{ name }} }} }}""",
                        {"r": [{"__typename": "LegalEntitiesRecord", "uscc": "91650100MA00000000"}]})
    assert body["data"]["_entities"] == [None]
    [error] = [e for e in body["errors"] if e["path"] == ["_entities", 0]]
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED" and "at most 5 data queries" in error["message"]
