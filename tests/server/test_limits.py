"""Bounded work per request and input the databases cannot take: refused before anything runs."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import pytest

from govshare.core.errors import ConfigurationError
from govshare.core.settings import Settings
from govshare.server.limits import MAX_LEAF_REPEATS

from ..conftest import Cluster
from ..helpers import gql, token

AUDITED = "select count(*) from audit_log where client_request_id = $1"


async def _audited(cluster: Cluster, request_id: str) -> int:
    conn = await cluster.connect("650000")
    try:
        return int(await conn.fetchval(AUDITED, request_id))
    finally:
        await conn.close()


def _code(body: dict[str, object]) -> str:
    return body["errors"][0]["extensions"]["code"]  # type: ignore[index,no-any-return]


async def test_a_body_over_the_limit_is_413_and_never_buffered_beyond_it(client: httpx.AsyncClient) -> None:
    limit = Settings().max_body_bytes
    padding = "x" * limit
    response = await client.post("/graphql", json={"query": "{ nodes { code } }", "variables": {"p": padding}})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "maxBodyBytes",
                                                         "maximum": limit}


@pytest.mark.parametrize("as_variable", [True, False], ids=["variable", "literal"])
async def test_lists_over_the_limit_are_refused(client: httpx.AsyncClient, as_variable: bool) -> None:
    values = [f"{i:018d}" for i in range(Settings().max_list_length + 1)]
    if as_variable:
        body, _ = await gql(client, "query($v: [String!]) { population(filter: {citizenId: {in: $v}}) { nodes "
                                    "{ name } } }", {"v": values})
    else:
        literal = ", ".join(f'"{v}"' for v in values)
        body, _ = await gql(client, "{ population(filter: {citizenId: {in: [" + literal + "]}}) { nodes { name } } }")
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert body["errors"][0]["extensions"]["limit"] == "maxListLength"


async def test_the_longest_list_allowed_is_answered(client: httpx.AsyncClient) -> None:
    values = [f"{i:018d}" for i in range(Settings().max_list_length)]
    body, _ = await gql(client, "query($v: [String!]) { population(filter: {name: {in: $v}}) { nodes { name } } }",
                        {"v": values})
    assert body == {"data": {"population": {"nodes": []}}}


@pytest.mark.parametrize("where", ["purpose", "keyword", "filter", "header"])
async def test_strings_over_the_limit_are_refused(client: httpx.AsyncClient, cluster: Cluster, where: str) -> None:
    long = "长" * (Settings().max_string_length + 1)
    request_id = uuid.uuid4().hex
    queries = {
        "purpose": ("query($s: String) { population(first: 1, purpose: $s) { nodes { name } } }", {"s": long}),
        "keyword": ("query($s: String) { resources(filter: {keyword: $s}) { edges { node { code } } } }", {"s": long}),
        "filter": ("query($s: String) { population(filter: {name: {eq: $s}}) { nodes { name } } }", {"s": long}),
        "header": ("{ population(first: 1) { nodes { name } } }", {}),
    }
    query, variables = queries[where]
    headers = {"X-Request-Id": request_id}
    if where == "header":
        headers["X-Govshare-Purpose"] = quote(long)
    body, _ = await gql(client, query, variables, **headers)
    assert "data" not in body
    assert body["errors"][0]["extensions"]["limit"] == "maxStringLength"
    assert await _audited(cluster, request_id) == 0  # nothing executed, nothing stored verbatim


async def test_too_many_variables_are_refused(client: httpx.AsyncClient) -> None:
    variables = {f"v{i}": i for i in range(Settings().max_variables + 1)}
    body, _ = await gql(client, "{ nodes { code } }", variables)
    assert body["errors"][0]["extensions"]["limit"] == "maxVariables"


async def test_repeated_fields_that_would_make_validation_quadratic_are_refused(client: httpx.AsyncClient) -> None:
    repeated = "{ " + " ".join("resources { edges { node { code } } }" for _ in range(300)) + " }"
    body, response = await gql(client, repeated)
    assert "data" not in body and body["errors"][0]["extensions"]["limit"] == "repeatedField"
    assert response.elapsed.total_seconds() < 1.0  # graphql-core's merge check alone took seconds
    through_fragment = "{ resources { edges { node { code } } } ...F } fragment F on Query { resources { pageInfo " \
                       "{ hasNextPage } } }"
    body, _ = await gql(client, through_fragment)
    assert body["errors"][0]["extensions"]["limit"] == "repeatedField"
    leaves = "{ nodes { " + "code " * (MAX_LEAF_REPEATS + 1) + "} }"
    assert (await gql(client, leaves))[0]["errors"][0]["extensions"]["limit"] == "repeatedField"
    fine = "{ nodes { " + "code " * MAX_LEAF_REPEATS + "} ...F ...F } fragment F on Query { sharingCatalog(first: 1) " \
           "{ pageInfo { hasNextPage } } }"
    body, _ = await gql(client, fine)
    assert "errors" not in body and body["data"]["sharingCatalog"]["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize("query", [
    '{ population(first: 2, filter: {name: {eq: "a\\u0000b"}}) { nodes { name } } }',
    '{ population(first: 2, filter: {name: {in: ["a", "b\\u0000"]}}) { nodes { name } } }',
    '{ resources(first: 2, filter: {keyword: "ab\\u0000c"}) { edges { node { code } } } }',
    '{ population(first: 2, purpose: "x\\u0000y") { nodes { name } } }',
    '{ resource(code: "650000\\u0000") { code } }',
    '{ department(code: "650000-\\u0000") { code } }',
    '{ verify(resource: "population", key: "6501\\u0000", values: [{item: "name", value: "x"}]) { found } }',
], ids=["filter-eq", "filter-in", "keyword", "purpose", "resource-code", "department-code", "verify-key"])
async def test_a_nul_character_anywhere_is_bad_user_input_before_any_sql(
        client: httpx.AsyncClient, cluster: Cluster, query: str) -> None:
    request_id = uuid.uuid4().hex
    body, _ = await gql(client, query, **{"X-Request-Id": request_id})
    assert "data" not in body and _code(body) == "BAD_USER_INPUT", body
    assert "NUL" in body["errors"][0]["message"]
    assert await _audited(cluster, request_id) == 0  # and no audit failure claimed for bad input


async def test_a_nul_in_a_variable_is_bad_user_input_not_an_audit_failure(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "query($s: String!) { population(first: 1, purpose: $s) { nodes { name } } }",
                        {"s": "x\x00y"})
    assert _code(body) == "BAD_USER_INPUT"
    body, _ = await gql(client, "query($f: PopulationFilter) { population(first: 1, filter: $f) { nodes { name } } }",
                        {"f": {"name": {"in": ["a", "\x00"]}}})
    assert _code(body) == "BAD_USER_INPUT"


async def test_a_nul_in_the_purpose_header_is_bad_user_input(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "{ population(first: 1) { nodes { name } } }", **{"X-Govshare-Purpose": "a%00b"})
    assert _code(body) == "BAD_USER_INPUT"


async def test_a_purpose_header_of_raw_utf8_is_refused_not_read_as_another_purpose(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ population(first: 1) { nodes { name } } }"},
                                 headers=[(b"authorization", f"Bearer {token('650100-GA')}".encode()),
                                          (b"x-govshare-purpose", "最低生活保障资格审核".encode())])
    body = response.json()
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "header": "X-Govshare-Purpose"}
    assert body["errors"][0]["message"] == "X-Govshare-Purpose must be percent-encoded UTF-8"


@pytest.mark.parametrize("query", [
    '{ legalEntities(first: 2, filter: {registeredCapital: {gte: "1e999999"}}) { nodes { name } } }',
    '{ legalEntities(first: 2, filter: {registeredCapital: {eq: "NaN"}}) { nodes { name } } }',
    '{ verify(resource: "legalEntities", key: "91350100M000100Y43", values: [{item: "registered_capital", value: "1e999999"}]) '
    '{ found } }',
], ids=["filter", "nan", "verify"])
async def test_decimals_beyond_the_database_range_are_bad_user_input(client: httpx.AsyncClient, query: str) -> None:
    body, _ = await gql(client, query)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert list(body["data"].values()) == [None]


async def test_first_zero_does_not_invite_an_endless_loop(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, """{ population(first: 0) { totalCount nodes { name }
        pageInfo { hasNextPage endCursor } }
        resources(first: 0) { edges { cursor } pageInfo { hasNextPage endCursor } }
        departments(first: 0) { edges { cursor } pageInfo { hasNextPage endCursor } } }""")
    assert "errors" not in body
    population = body["data"]["population"]
    assert population["nodes"] == [] and population["totalCount"] > 0
    for field in ("population", "resources", "departments"):
        assert body["data"][field]["pageInfo"] == {"hasNextPage": False, "endCursor": None}


@pytest.mark.parametrize("name", ["GOVSHARE_MAX_BODY_BYTES", "GOVSHARE_MAX_LIST_LENGTH", "GOVSHARE_MAX_STRING_LENGTH",
                                  "GOVSHARE_MAX_VARIABLES"])
def test_limits_are_configurable_and_checked(name: str) -> None:
    field = name.removeprefix("GOVSHARE_").lower()
    assert getattr(Settings.from_env({name: "7"}), field) == 7
    for bad in ("0", "-1", "many"):
        with pytest.raises(ConfigurationError, match=name):
            Settings.from_env({name: bad})
