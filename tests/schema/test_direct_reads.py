"""Direct reads: a planned data query answered without graphql-core's walk gives exactly the answer
graphql-core gave the first time (data, nulls, errors and their paths), runs the same statements, and
documents of any other shape keep graphql-core's path."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse

from govshare.schema.direct_reads import CHUNK, compile_read
from govshare.schema.plans import plans_for

from ..conftest import Cluster
from ..helpers import gql, token

PURPOSE = "direct-read-test"
DEPARTMENT = "650100-GA"  # given a grant of birth_date only for PURPOSE (the fixture below)

# (document, variables, headers): each is answered by graphql-core first, then by its direct read
CASES: list[tuple[str, dict[str, Any] | None, dict[str, str]]] = [
    ('{ population(first: 3) { nodes { name sex divisionCode registeredOn } } }', None, {}),
    # aliases everywhere, every connection field, __typename at each level, edges beside nodes
    (f'{{ p: population(first: 2, purpose: "{PURPOSE}") {{ __typename total: totalCount scope: rowScope '
     'down: unavailableNodes info: pageInfo { more: hasNextPage end: endCursor __typename } '
     'e: edges { c: cursor __typename n: node { who: name born: birthDate __typename } } '
     'rows: nodes { name citizenId } } }', None, {}),
    # denied items (no purpose, NOT_SHARED, not granted): nulls and one error each, at the first cell
    ('{ population(first: 2) { nodes { citizenId name birthDate phone } edges { node { phone } } } }', None, {}),
    # a filter on a denied item: refused before any data SQL
    ('{ population(first: 2, filter: {phone: {eq: "1"}}) { nodes { name } } }', None, {}),
    # bad input inside the resolver: a located error, null data
    ('{ population(first: -1) { nodes { name } } }', None, {}),
    ('{ population(first: 2, filter: {name: {in: []}}) { nodes { name } } }', None, {}),
    # a permitted filter and an order
    ('{ population(first: 3, filter: {sex: {eq: "女"}}, orderBy: {field: NAME, direction: DESC}) '
     '{ nodes { name sex } pageInfo { hasNextPage endCursor } } }', None, {}),
    # the purpose from the header (percent-encoded), a malformed header
    ('{ population(first: 2) { nodes { name birthDate } } }', None,
     {"X-Govshare-Purpose": "direct-read-test"}),
    ('{ population(first: 2) { nodes { name } } }', None, {"X-Govshare-Purpose": "%zz"}),
    # variables, coerced per request
    ('query($n: Int, $f: PopulationFilter) { population(first: $n, filter: $f) { nodes { name sex } } }',
     {"n": 2, "f": {"sex": {"eq": "男"}}}, {}),
    # an empty page
    ('{ population(first: 0) { nodes { name } pageInfo { hasNextPage endCursor } totalCount } }', None, {}),
    # a long page, shaped in chunks
    (f'{{ population(first: {CHUNK * 2 + 7}) {{ nodes {{ name sex registeredOn }} edges {{ cursor }} }} }}', None, {}),
]


@pytest.fixture(scope="module")
async def granted(client: httpx.AsyncClient, cluster: Cluster) -> Any:
    conn = await cluster.connect("650000")
    try:
        await conn.execute("""insert into grants (grantee_department, resource_code, items, purpose, valid_from,
            valid_until, created_by) values ($1, '650000-B01-000001', '{birth_date}', $2, now() - interval '1 day',
            now() + interval '1 day', 'test')""", DEPARTMENT, PURPOSE)
        yield
    finally:
        await conn.execute("delete from grants where purpose = $1", PURPOSE)
        await conn.close()
        # Wait until the service has read the change, so that later tests' statement counts do not see it.
        query = f'{{ population(first: 1, purpose: "{PURPOSE}") {{ nodes {{ birthDate }} }} }}'
        for _ in range(200):
            body, _ = await gql(client, query, Authorization=f"Bearer {token(DEPARTMENT)}")
            if body.get("errors"):
                break
            await asyncio.sleep(0.05)


def _plan(client: httpx.AsyncClient, query: str) -> Any:
    plans = plans_for(client.app.state.schemas.current.schema)  # type: ignore[attr-defined]
    return plans.get(query, None)


@pytest.mark.parametrize("number", range(len(CASES)))
async def test_a_direct_read_answers_as_graphql_core_did(client: httpx.AsyncClient, granted: Any,
                                                         number: int) -> None:
    query, variables, headers = CASES[number]
    headers = {"Authorization": f"Bearer {token(DEPARTMENT)}", **headers}
    # The same operation in other text first: the caches of grants and decisions are warm for both below.
    await client.post("/graphql", json={"query": query + " ", "variables": variables}, headers=headers)
    first = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    plan = _plan(client, query)
    assert plan is not None and plan.direct is not None, "the document was not compiled to a direct read"
    answered = plan.direct.answered
    again = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert plan.direct.answered == answered + 1
    assert again.content == first.content
    assert again.status_code == first.status_code
    assert again.headers["x-govshare-statements"] == first.headers["x-govshare-statements"]


async def test_a_one_row_direct_read_runs_the_page_and_the_audit_append_only(client: httpx.AsyncClient) -> None:
    query = '{ population(first: 1, filter: {nodes: ["650100"], sex: {eq: "女"}}) { nodes { name } } }'
    for _ in range(2):
        body, response = await gql(client, query)
        assert "errors" not in body and len(body["data"]["population"]["nodes"]) == 1
        assert response.headers["x-govshare-statements"] == "2"
    assert _plan(client, query).direct.answered >= 1


async def test_variables_that_do_not_coerce_get_graphql_cores_errors(client: httpx.AsyncClient) -> None:
    query = "query($n: Int) { population(first: $n) { nodes { name } } }"
    ok, _ = await gql(client, query, {"n": 1})
    ok_again, _ = await gql(client, query, {"n": 1})
    assert ok == ok_again and "errors" not in ok
    plan = _plan(client, query)
    answered = plan.direct.answered
    bad, response = await gql(client, query, {"n": "many"})
    assert plan.direct.answered == answered  # fell back before anything ran
    assert "data" not in bad and response.status_code in (200, 400)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def _operation(schema: Any, query: str) -> Any:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return compile_read(schema, document, operation)


@pytest.mark.parametrize(("query", "compiled"), [
    ("{ population { nodes { name } } }", True),
    ("{ population { nodes { ...F } } } fragment F on PopulationRecord { name }", False),
    ("{ population { nodes { ... on PopulationRecord { name } } } }", False),
    ("query($s: Boolean!) { population { nodes { name @skip(if: $s) } } }", False),
    ("{ population { nodes { name } nodes { sex } } }", False),  # a repeated field is merged by graphql-core
    ("{ population { nodes { name } } resources(first: 1) { edges { cursor } } }", False),
    ("{ resources(first: 1) { edges { cursor } } }", False),
    ("{ population { nodes { name } } } query Other { nodes { code } }", False),
])
async def test_only_flat_data_queries_are_compiled(client: httpx.AsyncClient, query: str, compiled: bool) -> None:
    schema = client.app.state.schemas.current.schema  # type: ignore[attr-defined]
    assert (_operation(schema, query) is not None) is compiled


async def test_a_node_down_costs_a_direct_read_only_that_nodes_rows(client: httpx.AsyncClient,
                                                                    cluster: Cluster) -> None:
    query = "{ population(first: 40) { unavailableNodes totalCount nodes { divisionCode name } } }"
    await gql(client, query)
    plan = _plan(client, query)
    answered = plan.direct.answered
    cluster.stop("650200")
    try:
        direct, _ = await gql(client, query)
        # graphql-core's answer to the same operation, while the node is still down
        walked, _ = await gql(client, query.replace("{ population", "{ __typename population"))
    finally:
        cluster.start("650200")
    assert plan.direct.answered == answered + 1
    page = direct["data"]["population"]
    assert page["unavailableNodes"] == ["650200"] and page["totalCount"] is None and page["nodes"]
    assert [(e["extensions"]["code"], e["extensions"]["node"]) for e in direct["errors"]] == [
        ("NODE_UNAVAILABLE", "650200")]
    assert walked["data"]["population"] == page and walked["errors"] == direct["errors"]
