"""Operation plans: a repeated document skips strawberry's per-request document work, answers exactly
as the first time, and nothing that depends on the catalog, the policy or the grants is kept in it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from govshare.schema.plans import Plans, execute_planned, plans_for

from ..conftest import Cluster
from ..helpers import gql, token

DOCUMENTS: list[tuple[str, dict[str, Any] | None]] = [
    ("{ resources(first: 3) { edges { cursor node { code name provider { name } dataItems { name shareClass } } }"
     " pageInfo { hasNextPage endCursor } } }", None),
    # denied fields, aliases, fragments: nulls and one FIELD_FORBIDDEN error each, with paths
    ("""{ p: population(first: 2) { rows: nodes { a: birthDate name ...F } pageInfo { endCursor } } }
        fragment F on PopulationRecord { sex citizenId }""", None),
    ("""query($n: [String!], $skip: Boolean!) { population(first: 3, filter: {nodes: $n}) {
        totalCount edges { cursor node { name sex @skip(if: $skip) } } } }""", {"n": ["650100"], "skip": True}),
    ("""query One($c: String!) { resource(code: $c) { code name } }
        query Two { nodes { code } }""", {"c": "650000-B01-000001"}),
    # an expected error beside data: a cursor of another ordering
    ('{ population(first: 1, after: "bm90LWEtY3Vyc29y") { nodes { name } } }', None),
]


def current_plans(client: httpx.AsyncClient) -> Plans:
    return plans_for(client.app.state.schemas.current.schema)  # type: ignore[attr-defined]


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
               operation: str | None = None, **headers: str) -> bytes:
    body: dict[str, Any] = {"query": query, "variables": variables}
    if operation is not None:
        body["operationName"] = operation
    response = await client.post("/graphql", json=body, headers=headers)
    return response.content


@pytest.mark.parametrize("number", range(len(DOCUMENTS)))
async def test_a_planned_document_answers_byte_for_byte_as_the_first_time(client: httpx.AsyncClient,
                                                                          number: int) -> None:
    query, variables = DOCUMENTS[number]
    operation = "One" if "query One" in query else None
    plans = current_plans(client)
    first = await post(client, query, variables, operation)
    hits = plans.hits
    again = await post(client, query, variables, operation)
    assert plans.hits == hits + 1, "the second request did not use the plan"
    assert again == first
    assert b'"data"' in first


async def test_variables_are_coerced_per_request(client: httpx.AsyncClient) -> None:
    query = "query($f: Int) { population(first: $f) { nodes { name } } }"
    plans = current_plans(client)
    unplanned_error = await post(client, query, {"f": "many"})
    assert b'"errors"' in unplanned_error and b'"data"' not in unplanned_error
    ok = await post(client, query, {"f": 2})
    hits = plans.hits
    assert await post(client, query, {"f": "many"}) == unplanned_error  # the plan keeps no variable
    assert plans.hits == hits + 1
    assert await post(client, query, {"f": 2}) == ok


async def test_a_revoked_grant_and_a_policy_change_apply_to_the_next_planned_request(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    department, purpose = "650100-GA", "plan-cache-test"
    query = f'{{ population(first: 2, purpose: "{purpose}") {{ nodes {{ name birthDate }} }} }}'
    headers = {"Authorization": f"Bearer {token(department)}"}
    conn = await cluster.connect("650000")
    try:
        grant = await conn.fetchval("""insert into grants (grantee_department, resource_code, items, purpose,
            valid_from, valid_until, created_by) values ($1, '650000-B01-000001', '{birth_date}', $2,
            now() - interval '1 day', now() + interval '1 day', 'test') returning id""", department, purpose)
        body, _ = await gql(client, query, **headers)
        assert "errors" not in body and all(r["birthDate"] for r in body["data"]["population"]["nodes"])
        await gql(client, query, **headers)
        plans = current_plans(client)
        hits = plans.hits
        await conn.execute("update grants set status = 'revoked' where id = $1", grant)
        body, _ = await gql(client, query, **headers)  # planned, and the grant is read again
        assert plans.hits == hits + 1
        assert [e["extensions"]["reason"] for e in body["errors"]] == ["GRANT_REVOKED"]
        assert all(r["birthDate"] is None for r in body["data"]["population"]["nodes"])

        await conn.execute("""insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6)
            values ('p', $1, '650000-B01-000001', 'name', '*', 'read', '*', 'deny')""", department)

        async def name_denied() -> bool:
            body, _ = await gql(client, query, **headers)
            return "POLICY_DENIED" in [e["extensions"].get("reason") for e in body.get("errors", [])]

        await eventually(name_denied)
        assert plans.hits > hits + 1
    finally:
        await conn.execute("delete from policy_rules where v0 = $1 and v2 = 'name'", department)
        await conn.execute("delete from grants where purpose = $1", purpose)
        await conn.close()


async def test_a_schema_swap_starts_without_plans(client: httpx.AsyncClient, cluster: Cluster) -> None:
    code = "650100-B09-990077"
    query = "{ planTestLicences(first: 2) { nodes { licenceNo } } }"
    holder = client.app.state.schemas  # type: ignore[attr-defined]
    conn = await cluster.connect("650100")
    try:
        async with conn.transaction():
            await conn.execute("""insert into resources (code, node_code, classification, category, name_zh,
                provider_code, provider_level, format, update_cycle, share_class, open_attribute, status,
                data_table, data_scope, api_name) values ($1, '650100', 'basic', 'e_licence', '计划缓存测试',
                '650100-SJ', 'prefecture', 'database', 'daily', 'UNCONDITIONAL', 'open', 'published',
                'business_licences', 'provider', 'planTestLicences')""", code)
            await conn.execute("""insert into data_items (resource_code, name, position, title_zh, data_type,
                share_class, is_key) values ($1, 'licence_no', 0, '证照编号', 'string', 'UNCONDITIONAL', true)""", code)

        async def published() -> bool:
            body, _ = await gql(client, query)
            return "errors" not in body

        await eventually(published)
        await gql(client, query)
        planned_on = holder.current.schema
        assert len(plans_for(planned_on)) > 0
        await conn.execute("delete from resources where code = $1", code)

        async def retired() -> bool:
            body, _ = await gql(client, query)
            return [e["extensions"]["code"] for e in body.get("errors", [])] == ["GRAPHQL_VALIDATION_FAILED"]

        await eventually(retired)  # the old schema's plan did not answer for the new schema
        assert holder.current.schema is not planned_on
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the change did not reach the service in time")


# --- without a database: operation types and extensions --------------------------------------------

@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    def bump(self) -> int:
        return 1


class Timing(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        yield


async def run(schema: strawberry.Schema, query: str, allowed: set[OperationType]) -> Any:
    return await execute_planned(schema, query, variable_values=None, context_value=None, operation_name=None,
                                 allowed_operation_types=allowed, operation_extensions=None)


async def test_a_planned_mutation_is_still_refused_where_only_queries_are_allowed() -> None:
    schema = strawberry.Schema(query=Query, mutation=Mutation)
    both = {OperationType.QUERY, OperationType.MUTATION}
    assert (await run(schema, "mutation { bump }", both)).data == {"bump": 1}
    assert (await run(schema, "mutation { bump }", both)).data == {"bump": 1}
    assert plans_for(schema).hits == 1
    with pytest.raises(InvalidOperationTypeError):
        await run(schema, "mutation { bump }", {OperationType.QUERY})


async def test_schemas_with_other_extensions_get_no_plans() -> None:
    schema = strawberry.Schema(query=Query, extensions=[Timing])
    for _ in range(2):
        assert (await run(schema, "{ ok }", {OperationType.QUERY})).data == {"ok": True}
    assert len(plans_for(schema)) == 0


async def test_invalid_documents_get_no_plan() -> None:
    schema = strawberry.Schema(query=Query)
    for _ in range(2):
        result = await run(schema, "{ nope }", {OperationType.QUERY})
        assert result.data is None and result.errors
    assert len(plans_for(schema)) == 0


async def test_a_lane_that_fails_to_build_costs_the_plan_its_lane_not_the_answer(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from govshare.schema import plans as plans_module

    def broken(*_args: Any) -> None:
        raise RuntimeError("a compiler bug")

    monkeypatch.setattr(plans_module, "compile_catalog_read", broken)
    query = '{ resource(code: "650000-B01-000001") { code name } }  # lane build fails'
    first = await post(client, query)
    assert b'"data":{"resource":{"code":"650000-B01-000001"' in first
    plan = current_plans(client).get(query, None)
    assert plan is not None and plan.direct is None  # planned, without a lane
    assert await post(client, query) == first
    assert any("no fast lane" in r.getMessage() for r in caplog.records)
