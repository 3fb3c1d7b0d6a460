"""Direct reads against graphql-core (from an independent review): every case is answered by graphql-core (a fresh text: the document plus a
unique comment) and by the direct read (the exact text, planned beforehand by ANOTHER department), and the
two answers are compared byte for byte, with status, statement count and the audit record."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from govshare.schema.plans import plans_for

from ..conftest import Cluster
from ..helpers import token

POPULATION = "650000-B01-000001"
GRANTED = "650200-SW"  # a grant of birth_date, citizen_id for P-review
SCOPED = "650200-ZR"  # a grant of address, birth_date for P-review-scope, rows of 650100 only
PLANNER = "650000-ZW"  # the department whose request plans each document
AUDIT = """select department, action, purpose, grant_ids, resource, items_returned, items_denied, row_count, nodes,
    outcome, detail from audit_log where client_request_id = $1 order by seq"""


@pytest.fixture(scope="module")
async def review_grants(client: httpx.AsyncClient, cluster: Cluster) -> Any:
    now = datetime.now(UTC)
    day = timedelta(days=1)
    conn = await cluster.connect("650000")
    try:
        await conn.execute("""insert into grants (grantee_department, resource_code, items, purpose, valid_from,
            valid_until, created_by) values ($1, $2, '{birth_date,citizen_id}', 'P-review', $3, $4, 'test')""",
                           GRANTED, POPULATION, now - day, now + day)
        await conn.execute("""insert into grants (grantee_department, resource_code, items, purpose, valid_from,
            valid_until, row_scope, created_by) values ($1, $2, '{address,birth_date}', 'P-review-scope', $3, $4,
            '{"division_codes": ["650100"]}'::jsonb, 'test')""", SCOPED, POPULATION, now - day, now + day)
        yield
    finally:
        await conn.execute("delete from grants where purpose in ('P-review', 'P-review-scope')")
        await conn.close()
        # Wait until the service has read the change, so that later tests' statement counts do not see it.
        for _ in range(200):
            answer = await _post(client, '{ population(first: 1, purpose: "P-review") { nodes { birthDate } } }',
                                 None, GRANTED, {})
            if answer.json().get("errors"):
                break
            await asyncio.sleep(0.05)


async def _post(client: httpx.AsyncClient, query: str, variables: Any, department: str, headers: dict[str, str],
                operation_name: str | None = None, method: str = "POST") -> httpx.Response:
    all_headers = {"Authorization": f"Bearer {token(department)}", **headers}
    if method == "GET":
        params = {"query": query}
        if variables is not None:
            params["variables"] = json.dumps(variables)
        if operation_name is not None:
            params["operationName"] = operation_name
        return await client.get("/graphql", params=params, headers=all_headers)
    body: dict[str, Any] = {"query": query, "variables": variables}
    if operation_name is not None:
        body["operationName"] = operation_name
    return await client.post("/graphql", json=body, headers=all_headers)


def _stable(content: bytes) -> bytes:
    """The answer with the per-request errorId of masked errors blanked."""
    return re.sub(rb'"errorId":"[0-9a-f]+"', b'"errorId":"-"', content)


def _plan(client: httpx.AsyncClient, query: str, operation_name: str | None = None) -> Any:
    return plans_for(client.app.state.schemas.current.schema).get(query, operation_name)  # type: ignore[attr-defined]


async def _audit(cluster: Cluster, mine: str) -> list[dict[str, Any]]:
    conn = await cluster.connect("650000")
    try:
        return [dict(r) for r in await conn.fetch(AUDIT, mine)]
    finally:
        await conn.close()


async def both(client: httpx.AsyncClient, cluster: Cluster, query: str, variables: Any = None,
               department: str = "650100-GA", headers: dict[str, str] | None = None,
               plan_variables: Any = None, operation_name: str | None = None, method: str = "POST",
               expect_direct: bool = True) -> tuple[httpx.Response, httpx.Response]:
    """(graphql-core's answer, the direct read's answer) to the same request."""
    headers = headers or {}
    if _plan(client, query, operation_name) is None:  # planned by another department, other variables
        await _post(client, query, plan_variables if plan_variables is not None else variables, PLANNER, {},
                    operation_name)
    plan = _plan(client, query, operation_name)
    if expect_direct:
        assert plan is not None and plan.direct is not None, "not compiled"
    answered = plan.direct.answered if plan is not None and plan.direct is not None else 0
    # graphql-core twice (warm caches), the direct read, each with its own X-Request-Id for the audit records
    ids = [uuid.uuid4().hex for _ in range(3)]
    # each graphql-core text one no plan has seen (a text sent twice is planned by its first request, and its
    # second answered by a direct read of its own)
    await _post(client, query + f"\n# {uuid.uuid4().hex}", variables, department,
                {**headers, "X-Request-Id": ids[0]}, operation_name, method)
    core = await _post(client, query + f"\n# {uuid.uuid4().hex}", variables, department,
                       {**headers, "X-Request-Id": ids[1]}, operation_name,
                       method)
    direct = await _post(client, query, variables, department, {**headers, "X-Request-Id": ids[2]}, operation_name,
                         method)
    if expect_direct:
        assert plan.direct.answered == answered + 1, "the direct read did not answer"
    elif plan is not None and plan.direct is not None:
        print("direct answered:", plan.direct.answered == answered + 1, query, variables)
    assert direct.status_code == core.status_code, (core.text, direct.text)
    assert _stable(direct.content) == _stable(core.content), f"\ncore:   {core.text}\ndirect: {direct.text}"
    assert direct.headers.get("x-govshare-statements") == core.headers.get("x-govshare-statements")
    core_audit, direct_audit = await _audit(cluster, ids[1]), await _audit(cluster, ids[2])
    assert direct_audit == core_audit
    if b"INTERNAL" in core.content:
        print("\nINTERNAL in graphql-core's answer:", query, variables, core.text)
    return core, direct


CASES: list[tuple[str, Any, str, dict[str, str]]] = [
    # items of other types, other resources
    ('{ legalEntities(first: 3) { nodes { uscc name registeredCapital establishedOn taxCreditRating } } }',
     None, "650100-GA", {}),
    ('{ businessLicences(first: 3, orderBy: {field: ISSUED_ON, direction: DESC}) { edges { cursor node { '
     'licenceNo issuedOn validUntil status } } pageInfo { hasNextPage endCursor } totalCount } }',
     None, "650100-GA", {}),
    ('{ legalEntities(first: 2, filter: {registeredCapital: {gte: "100.5"}}) { nodes { name registeredCapital } '
     'totalCount } }', None, "650000-SJ", {}),
    ('{ legalEntities(first: 2, filter: {establishedOn: {gte: "2010-01-01"}}) { nodes { name establishedOn } } }',
     None, "650100-GA", {}),
    # aliases that are other fields' names
    ('{ population(first: 2) { nodes { name: birthDate birthDate: name sex: citizenId } } }', None, "650100-GA", {}),
    ('{ population(first: 2) { edges: nodes { name: phone } nodes: edges { node { phone: name cursor: phone } '
     'cursor } } }', None, "650100-GA", {}),
    ('{ population(first: 2) { nodes { __typename: name name: __typename } } }', None, "650100-GA", {}),
    ('{ population(first: 2) { totalCount: unavailableNodes unavailableNodes: totalCount '
     'pageInfo { endCursor: hasNextPage hasNextPage: endCursor } } }', None, "650100-GA", {}),
    ('{ __typename: population(first: 1) { nodes { name } } }', None, "650100-GA", {}),
    # grants: conditional items under the purpose, by argument and by header, the wrong purpose
    ('{ population(first: 2, purpose: "P-review") { nodes { citizenId birthDate phone } } }', None, GRANTED, {}),
    ('{ population(first: 2) { nodes { citizenId birthDate phone } } }', None, GRANTED,
     {"X-Govshare-Purpose": "P-review"}),
    ('{ population(first: 2, purpose: "P-other") { nodes { citizenId birthDate } } }', None, GRANTED, {}),
    # a row-scoped grant, inside and outside its scope
    ('{ population(first: 3, purpose: "P-review-scope") { rowScope nodes { address divisionCode } } }', None,
     SCOPED, {}),
    ('{ population(first: 3, purpose: "P-review-scope", filter: {nodes: ["650200"]}) { rowScope totalCount '
     'nodes { address divisionCode } } }', None, SCOPED, {}),
    # denied items in orderBy and filter, beside others
    ('{ population(first: 2, orderBy: {field: PHONE}) { nodes { name } } }', None, "650100-GA", {}),
    ('{ population(first: 2, orderBy: {field: BIOMETRIC_TEMPLATE_ID}, filter: {phone: {isNull: false}}) '
     '{ nodes { name } totalCount } }', None, "650100-GA", {}),
    # cursors: a bad one, one of another order
    ('{ population(first: 2, after: "garbage") { nodes { name } } }', None, "650100-GA", {}),
    # no rows at all, with denied items
    ('{ population(first: 2, filter: {name: {eq: "no such person"}}) { nodes { phone } edges { node { phone } } '
     'pageInfo { hasNextPage endCursor } totalCount } }', None, "650100-GA", {}),
    # nodes that do not exist
    ('{ population(first: 2, filter: {nodes: ["999999"]}) { nodes { name } } }', None, "650100-GA", {}),
    ('{ population(first: 2, filter: {nodes: []}) { nodes { name } unavailableNodes } }', None, "650100-GA", {}),
    # bad literal values caught by the resolver
    ('{ legalEntities(first: 2, filter: {registeredCapital: {gte: "1e999999"}}) { nodes { name } } }', None,
     "650100-GA", {}),
    # only __typename below the field (no items: an audit record of nothing?)
    ('{ population { __typename } }', None, "650100-GA", {}),
    ('{ population(first: 1) { edges { cursor } } }', None, "650100-GA", {}),
    # a huge first (clamped)
    ('{ population(first: 5000) { totalCount pageInfo { hasNextPage } } }', None, "650100-GA", {}),
    # purpose header malformed only matters with no argument
    ('{ population(first: 1, purpose: "x") { nodes { name } } }', None, "650100-GA", {"X-Govshare-Purpose": "%zz"}),
    # the same department as the planner
    ('{ population(first: 2) { nodes { name citizenId } } }', None, PLANNER, {}),
    # odd literals the scalars accept
    ('{ legalEntities(first: 1, filter: {registeredCapital: {gte: 1.5e2}}) { nodes { name registeredCapital } } }',
     None, "650100-GA", {}),
    ('{ population(first: 1, filter: {sex: {in: "女"}}) { nodes { sex } } }', None, "650100-GA", {}),
    ('{ population(first: 1, filter: {sex: {in: ["女"]}, name: {isNull: false}, nodes: "650200"}) '
     '{ nodes { sex } } }', None, "650100-GA", {}),
    # a county department
    ('{ population(first: 2) { nodes { name citizenId } } }', None, "650100-CA-GA", {}),
]


@pytest.mark.parametrize("number", range(len(CASES)))
async def test_case(client: httpx.AsyncClient, cluster: Cluster, review_grants: Any, number: int) -> None:
    query, variables, department, headers = CASES[number]
    await both(client, cluster, query, variables, department, headers)


VARIABLE_CASES: list[tuple[str, Any, Any]] = [
    # (document, the planner's variables, this request's variables)
    ('query($n: Int) { population(first: $n) { nodes { name } } }', {"n": 1}, {}),
    ('query($n: Int) { population(first: $n) { nodes { name } } }', {"n": 1}, {"n": None}),
    ('query($n: Int = 2) { population(first: $n) { nodes { name } } }', {"n": 1}, {}),
    ('query($n: Int = 2) { population(first: $n) { nodes { name } } }', {"n": 1}, {"n": None}),
    ('query($n: Int!) { population(first: $n) { nodes { name } } }', {"n": 1}, {"n": 3.0}),
    ('query($f: PopulationFilter) { population(first: 2, filter: $f) { nodes { name } } }', {"f": None},
     {"f": {"phone": {"eq": "1"}}}),
    ('query($f: PopulationFilter) { population(first: 2, filter: $f) { nodes { name } } }', {"f": None},
     {"f": {"name": {"in": []}}}),
    ('query($f: PopulationFilter) { population(first: 2, filter: $f) { nodes { name } } }', {"f": None},
     {"f": {"nodes": None, "name": None}}),
    ('query($o: PopulationOrder) { population(first: 2, orderBy: $o) { nodes { name } } }', {"o": None},
     {"o": {"field": "PHONE"}}),
    ('query($o: PopulationOrder) { population(first: 2, orderBy: $o) { nodes { name } } }', {"o": None},
     {"o": {"field": "NAME", "direction": "DESC"}}),
    ('query($p: String) { population(first: 2, purpose: $p) { nodes { birthDate } } }', {"p": None},
     {"p": "P-review"}),
    ('query($s: String) { population(first: 2, filter: {sex: {eq: $s}}) { nodes { sex } } }', {"s": "男"},
     {"s": None}),
    ('query($s: String!) { population(first: 2, filter: {sex: {in: [$s, "女"]}}) { nodes { sex } } }', {"s": "男"},
     {}),
    ('query($s: String!) { population(first: 2, filter: {sex: {in: [$s, "女"]}}) { nodes { sex } } }', {"s": "男"},
     {"s": None}),
    ('query($a: String) { population(first: 2, after: $a) { nodes { name } } }', {"a": None}, {"a": "x"}),
    ('query($d: Date) { population(first: 2, filter: {birthDate: {gte: $d}}) { nodes { name } } }',
     {"d": None}, {"d": "2000-01-01"}),
    ('query($d: Decimal) { legalEntities(first: 2, filter: {registeredCapital: {gte: $d}}) { nodes { name } } }',
     {"d": None}, {"d": "NaN"}),
    ('query($d: Decimal) { legalEntities(first: 2, filter: {registeredCapital: {gte: $d}}) { nodes { name } } }',
     {"d": None}, {"d": "12.5"}),
    # variables of other types (fall back to graphql-core, which reports them)
    ('query($f: PopulationFilter) { population(first: 2, filter: $f) { nodes { name } } }', {"f": None},
     {"f": {"sex": {"eq": 1}}}),
    ('query($f: PopulationFilter) { population(first: 2, filter: $f) { nodes { name } } }', {"f": None},
     {"f": {"sex": {"in": [None]}}}),
    ('query($f: PopulationFilter) { population(first: 2, filter: $f) { nodes { name } } }', {"f": None},
     {"f": {"nope": 1}}),
    ('query($n: Int) { population(first: $n) { nodes { name } } }', {"n": 1}, {"n": 2147483648}),
    ('query($o: PopulationOrder) { population(first: 2, orderBy: $o) { nodes { name } } }', {"o": None},
     {"o": {"field": "NOPE"}}),
    ('query($d: Date) { population(first: 2, filter: {birthDate: {gte: $d}}) { nodes { name } } }',
     {"d": None}, {"d": "2000-13-01"}),
    ('query($u: Int!, $v: Int) { population(first: $u) { nodes { name } } }', {"u": 1, "v": 2}, {"u": 2}),
]


@pytest.mark.parametrize("number", range(len(VARIABLE_CASES)))
async def test_variable_case(client: httpx.AsyncClient, cluster: Cluster, review_grants: Any, number: int) -> None:
    query, planned, variables = VARIABLE_CASES[number]
    await both(client, cluster, query, variables, GRANTED, {}, plan_variables=planned, expect_direct=False)


async def test_get_and_operation_name(client: httpx.AsyncClient, cluster: Cluster, review_grants: Any) -> None:
    query = "query Q { population(first: 2) { nodes { name citizenId } } }"
    await both(client, cluster, query, None, GRANTED, {}, method="GET")
    await both(client, cluster, query, None, GRANTED, {}, operation_name="Q")
    await both(client, cluster, query, None, GRANTED, {}, operation_name="Q", method="GET")


async def test_a_long_page_with_denied_items_and_a_grant(client: httpx.AsyncClient, cluster: Cluster,
                                                         review_grants: Any) -> None:
    await both(client, cluster, '{ population(first: 600, purpose: "P-review") { e: edges { cursor node { '
               'citizenId phone name } } nodes { birthDate biometricTemplateId } pageInfo { endCursor } } }',
               None, GRANTED)


async def test_a_revoked_grant_is_seen_by_a_planned_document(client: httpx.AsyncClient, cluster: Cluster) -> None:
    now = datetime.now(UTC)
    query = '{ population(first: 2, purpose: "P-revoke") { nodes { birthDate } } }'
    conn = await cluster.connect("650000")
    try:
        await conn.execute("""insert into grants (grantee_department, resource_code, items, purpose, valid_from,
            valid_until, created_by) values ($1, $2, '{birth_date}', 'P-revoke', $3, $4, 'test')""",
                           "650200-JY", POPULATION, now - timedelta(days=1), now + timedelta(days=1))
        for _ in range(100):  # until the service saw the grant
            r = await _post(client, query + " ", None, "650200-JY", {})
            if "errors" not in r.json():
                break
            await asyncio.sleep(0.05)
        _core, direct = await both(client, cluster, query, None, "650200-JY")
        assert "errors" not in direct.json()
        await conn.execute("update grants set status = 'revoked', revoked_at = now() where purpose = 'P-revoke'")
        for _ in range(100):
            r = await _post(client, query + "  ", None, "650200-JY", {})
            if "errors" in r.json():
                break
            await asyncio.sleep(0.05)
        _core, direct = await both(client, cluster, query, None, "650200-JY")
        assert direct.json()["data"]["population"]["nodes"][0]["birthDate"] is None
    finally:
        await conn.execute("delete from grants where purpose = 'P-revoke'")
        await conn.close()


async def test_the_audit_append_failing(client: httpx.AsyncClient, cluster: Cluster,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from govshare.core.errors import AuditUnavailable
    from govshare.resolvers import audit

    query = "{ population(first: 2) { nodes { name } } }"
    await _post(client, query, None, PLANNER, {})
    assert _plan(client, query).direct is not None

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise AuditUnavailable("the audit trail is unavailable")

    monkeypatch.setattr(audit, "append", failing)
    core = await _post(client, query + "\n#x", None, "650100-GA", {})
    direct = await _post(client, query, None, "650100-GA", {})
    print("\nAUDIT FAIL core:", core.text, "\nAUDIT FAIL direct:", direct.text)
    assert core.content == direct.content and core.status_code == direct.status_code
    assert "AUDIT_UNAVAILABLE" in direct.text and '"nodes"' not in direct.text


async def test_an_unexpected_error_after_the_nodes_answered(client: httpx.AsyncClient, cluster: Cluster,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from govshare.resolvers import shared_data

    query = "{ population(first: 2) { nodes { name } } }"
    await _post(client, query, None, PLANNER, {})

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(shared_data, "merge_resumable", broken)
    await both(client, cluster, query, None, "650100-GA")


async def test_concurrent_departments_on_one_plan(client: httpx.AsyncClient, cluster: Cluster,
                                                  review_grants: Any) -> None:
    query = '{ population(first: 3, purpose: "P-review") { nodes { name citizenId birthDate phone } } }'
    departments = [GRANTED, "650100-GA", "650000-SJ", GRANTED, "650200-JY", GRANTED]
    expected = {}
    for department in set(departments):
        r = await _post(client, query + "\n#" + uuid.uuid4().hex, None, department, {})
        expected[department] = _stable(r.content)
    await _post(client, query, None, PLANNER, {})
    answers = await asyncio.gather(*(_post(client, query, None, d, {}) for d in departments * 3))
    for department, answer in zip(departments * 3, answers, strict=True):
        assert _stable(answer.content) == expected[department], department


async def test_a_cell_that_does_not_serialize(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """A node's column whose values do not serialize as the catalog's type (here: bytes in a String item)."""
    # rows of both prefectures (by name): only 650200's column is broken
    query = ('{ population(first: 8, orderBy: {field: REGISTERED_ON}, filter: {nodes: ["650100", "650200"], '
             'sex: {in: ["男", "女"]}}) { nodes { divisionCode householdType } } }')
    conn = await cluster.connect("650200")
    try:
        await conn.execute("alter table population alter column household_type type bytea "
                           "using convert_to(household_type, 'UTF8')")
        await _post(client, query, None, PLANNER, {})
        assert _plan(client, query).direct is not None
        core = await _post(client, query + "\n#" + uuid.uuid4().hex, None, "650100-GA", {})
        direct = await _post(client, query, None, "650100-GA", {})
        print("\nSERIALIZE core:  ", core.text, "\nSERIALIZE direct:", direct.text)
        assert _stable(direct.content) == _stable(core.content)
    finally:
        await conn.execute("alter table population alter column household_type type text "
                           "using convert_from(household_type, 'UTF8')")
        await conn.close()


async def test_a_node_down_with_cursors(client: httpx.AsyncClient, cluster: Cluster) -> None:
    query = ("query($a: String) { population(first: 3, after: $a, orderBy: {field: NAME}) { unavailableNodes "
             "totalCount edges { cursor node { name divisionCode } } pageInfo { hasNextPage endCursor } } }")
    await _post(client, query, {"a": None}, PLANNER, {})
    cluster.stop("650200")
    try:
        _core, direct = await both(client, cluster, query, {"a": None}, "650100-GA")
        end = direct.json()["data"]["population"]["pageInfo"]["endCursor"]
        await both(client, cluster, query, {"a": end}, "650100-GA")
    finally:
        cluster.start("650200")
    await both(client, cluster, query, {"a": end}, "650100-GA")


async def test_an_aliased_edge_node_and_a_denied_item(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """Both paths agree, and the error's path names the answer's key of the edge's node."""
    _core, direct = await both(client, cluster, "{ population(first: 1) { edges { n: node { phone } } } }", None,
                              "650100-GA")
    print("\nALIASED NODE:", direct.text)
    assert direct.json()["errors"][0]["path"] == ["population", "edges", 0, "n", "phone"]


async def test_a_persisted_query_is_answered_by_the_direct_read(client: httpx.AsyncClient, cluster: Cluster,
                                                                review_grants: Any) -> None:
    import hashlib

    query = '{ population(first: 2, purpose: "P-review") { nodes { name birthDate phone } } }'
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    headers = {"Authorization": f"Bearer {token(PLANNER)}"}
    await client.post("/graphql", json={"query": query, "extensions": extensions}, headers=headers)
    plan = _plan(client, query)
    answered = plan.direct.answered
    headers = {"Authorization": f"Bearer {token(GRANTED)}"}
    by_hash = await client.get("/graphql", params={"extensions": json.dumps(extensions)}, headers=headers)
    assert plan.direct.answered == answered + 1
    core = await _post(client, query + "\n#" + uuid.uuid4().hex, None, GRANTED, {})
    assert by_hash.content == core.content


async def test_a_null_first_is_the_callers_fault(client: httpx.AsyncClient, cluster: Cluster) -> None:
    query = "query($n: Int) { population(first: $n) { nodes { name } } }"
    r = await _post(client, query + "\n#" + uuid.uuid4().hex, {"n": None}, "650100-GA", {})
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", r.text
    assert r.json()["errors"][0]["message"] == "'first' must be a number of rows, not null"
