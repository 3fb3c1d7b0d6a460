"""The catalog lane (schema/catalog_reads.py) against graphql-core on edge cases (from an independent review): each case is
answered by graphql-core (a fresh text: the document plus a unique comment, so no plan answers it) and by
the catalog lane (the exact text, planned beforehand by another department), and the two answers are
compared byte for byte, with status and statement count. Shapes the lane must leave to graphql-core are
checked to stay there (and to answer the same)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any, cast

import httpx
import pytest

from govshare.federation.pagination import Positions, encode_cursor, encode_positions
from govshare.schema.catalog_reads import CatalogRead
from govshare.schema.plans import plans_for

from ..conftest import Cluster
from ..helpers import token
from .test_catalog_reads import CASES as AUTHOR_CASES

PLANNER = "650000-ZW"
CALLER = "650100-GA"


def _plan(client: httpx.AsyncClient, query: str, operation_name: str | None = None) -> Any:
    return plans_for(client.app.state.schemas.current.schema).get(query, operation_name)  # type: ignore[attr-defined]


async def _send(client: httpx.AsyncClient, query: str | None, variables: Any = None, department: str = CALLER,
                headers: dict[str, str] | None = None, operation_name: str | None = None, method: str = "POST",
                extensions: Any = None) -> httpx.Response:
    all_headers = {"Authorization": f"Bearer {token(department)}", **(headers or {})}
    if method == "GET":
        params: dict[str, str] = {}
        if query is not None:
            params["query"] = query
        if variables is not None:
            params["variables"] = json.dumps(variables)
        if operation_name is not None:
            params["operationName"] = operation_name
        if extensions is not None:
            params["extensions"] = json.dumps(extensions)
        return await client.get("/graphql", params=params, headers=all_headers)
    body: dict[str, Any] = {"variables": variables}
    if query is not None:
        body["query"] = query
    if operation_name is not None:
        body["operationName"] = operation_name
    if extensions is not None:
        body["extensions"] = extensions
    return await client.post("/graphql", json=body, headers=all_headers)


REFERENCE_COMMENT = re.compile(r"\n# [0-9a-f]{32}$")


def _fresh(query: str) -> str:
    return query + f"\n# {uuid.uuid4().hex}"


def _stable(content: bytes) -> bytes:
    return re.sub(rb'"errorId":"[0-9a-f]+"', b'"errorId":"-"', content)


async def both(client: httpx.AsyncClient, query: str, variables: Any = None, *, department: str = CALLER,
               headers: dict[str, str] | None = None, operation_name: str | None = None, method: str = "POST",
               plan_variables: Any = None, compare: bool = True) -> tuple[httpx.Response, httpx.Response]:
    """(graphql-core's answer, the catalog lane's answer); asserts that the lane answered and, with
    ``compare``, that both answers are the same bytes, status and statement count."""
    if _plan(client, query, operation_name) is None:
        planned = await _send(client, query, plan_variables if plan_variables is not None else variables, PLANNER,
                              operation_name=operation_name)
        assert planned.status_code == 200, planned.text
    plan = _plan(client, query, operation_name)
    assert plan is not None and isinstance(plan.direct, CatalogRead), "not compiled"
    answered = plan.direct.answered
    # graphql-core's answer: a text no plan has seen, every time. (Sending one fresh text twice, as
    # tests/schema/test_catalog_reads.py does, plans it on the first request, so the second is answered
    # by a catalog lane of its own, not by graphql-core.)
    await _send(client, _fresh(query), variables, department, headers, operation_name, method)  # warm caches
    core_text = _fresh(query)
    core = await _send(client, core_text, variables, department, headers, operation_name, method)
    assert _plan(client, core_text, operation_name) is None or core.json().get("data") is None or \
        _plan(client, core_text, operation_name).direct is None or \
        _plan(client, core_text, operation_name).direct.answered == 0, "graphql-core's answer came from a lane"
    lane = await _send(client, query, variables, department, headers, operation_name, method)
    assert plan.direct.answered == answered + 1, "the catalog lane did not answer"
    if compare:
        assert lane.status_code == core.status_code, (core.text, lane.text)
        assert _stable(lane.content) == _stable(core.content), f"\ncore: {core.text}\nlane: {lane.text}"
        assert lane.headers["x-govshare-statements"] == core.headers["x-govshare-statements"]
    return core, lane


# ---------------------------------------------------------------------------------------------------------
# Finding 1: fragments whose type condition is another type (through the _Entity union) are spread anyway.


async def _planned_then_fresh(client: httpx.AsyncClient, query: str) -> tuple[httpx.Response, httpx.Response]:
    """(graphql-core's answer, the planned text's answer): the lane's where it compiles the document."""
    await _send(client, query, None, PLANNER)
    planned = await _send(client, query)
    core = await _send(client, _fresh(query))
    return core, planned


async def test_a_fragment_on_another_member_of_a_union_is_not_spread_into_a_resource(
        client: httpx.AsyncClient) -> None:
    # Resource and Department are both members of the federation's _Entity union: a fragment on _Entity may
    # be spread inside a Resource, and its `... on Department` part applies to departments only. graphql-core
    # leaves `name`, `node` and `__typename` out of the resource; the lane spreads every fragment whatever
    # its type condition.
    query = ('{ resource(code: "650000-B01-000001") { code ...E } } '
             'fragment E on _Entity { ... on Department { name node __typename } }')
    core, lane = await _planned_then_fresh(client, query)
    assert core.json() == {"data": {"resource": {"code": "650000-B01-000001"}}}
    assert lane.content == core.content, f"\ncore: {core.text}\nlane: {lane.text}"


async def test_a_fragment_on_another_member_of_a_union_is_not_spread_into_a_provider(
        client: httpx.AsyncClient) -> None:
    query = ('{ resources(first: 3, filter: {nodes: ["650100"]}) { edges { node { code provider { code ...E } } } } } '
             'fragment E on _Entity { ... on Resource { name names { zh } } }')
    core, lane = await _planned_then_fresh(client, query)
    assert all(set(e["node"]["provider"]) == {"code"} for e in core.json()["data"]["resources"]["edges"])
    assert lane.content == core.content, f"\ncore: {core.text}\nlane: {lane.text}"


# ---------------------------------------------------------------------------------------------------------
# Finding 2: a page row whose code another database owns gets that database's provider on the lane.


async def test_an_entry_claiming_another_nodes_code_does_not_borrow_that_nodes_provider(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    # 650200's catalog lists a resource under a code of 650100's (one 650100 holds, with
    # its own provider), naming a provider of its own. The page's related rows for that code were read from
    # 650100 (the owner of the code), whose row names another provider: the lane showed 650100's department
    # as the provider of 650200's entry. A node's catalog is trusted only about its own database: the entry
    # is not served at all, on either path (tests/resolvers/test_catalog.py covers every listing).
    conn = await cluster.connect("650200")
    owner = await cluster.connect("650100")
    found = await owner.fetchrow("""select code, provider_code from resources where node_code = '650100'
                                    and provider_code like '650100-%' order by code limit 1""")
    assert found is not None
    code, genuine = found["code"], found["provider_code"]
    try:
        await conn.execute(
            """insert into resources (code, node_code, classification, category, name_zh, provider_code,
               provider_level, format, update_cycle, share_class, open_attribute, status)
               values ($1, '650200', 'department', 'test', '冒名条目', '650200-Z96', 'prefecture', 'database',
                       'daily', 'UNCONDITIONAL', 'open', 'published')""", code)
        query = ('{ resources(first: 5, filter: {nodes: ["650200"], providers: ["650200-Z96"]}) '
                 '{ edges { node { code name providerCode provider { code name } dataItems { name } } } } }')
        core, lane = await both(client, query, compare=False)
    finally:
        await conn.execute("delete from resources where code = $1 and provider_code = '650200-Z96'", code)
        await conn.close()
        await owner.close()
    assert core.json() == {"data": {"resources": {"edges": []}}}, core.text
    assert genuine not in lane.text, f"650200's entry shown with 650100's provider {genuine}: {lane.text}"
    assert lane.content == core.content


# ---------------------------------------------------------------------------------------------------------
# Finding 3: tests/schema/test_catalog_reads.py's `both` compares the lane with the lane. Its cases, answered
# here by graphql-core itself (a text no plan has seen).


@pytest.mark.parametrize("number", range(len(AUTHOR_CASES)))
async def test_the_authors_cases_against_graphql_core_itself(client: httpx.AsyncClient, number: int) -> None:
    query, variables = AUTHOR_CASES[number]
    await both(client, query, variables)


async def _reference_answers_of(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, module: Any,
                                run: Any) -> list[str]:
    """The texts a harness sent other than the planned one, for whose plans the fast path answered."""
    sent: list[str] = []
    post = module._post

    async def recording(client: httpx.AsyncClient, query: str, *args: Any, **kwargs: Any) -> httpx.Response:
        sent.append(query)
        return cast("httpx.Response", await post(client, query, *args, **kwargs))

    monkeypatch.setattr(module, "_post", recording)
    await run()
    answered = []
    for text in set(sent):
        plan = _plan(client, text)
        if REFERENCE_COMMENT.search(text) and plan is not None and plan.direct is not None and plan.direct.answered:
            answered.append(text)
    return answered


async def test_the_catalog_lane_harness_takes_its_reference_answer_from_graphql_core(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # test_catalog_reads.both sends one fresh text twice and takes the second answer as graphql-core's; the
    # first plans that text, so the second is answered by a catalog lane of its own.
    from . import test_catalog_reads

    query = "{ resources(first: 2) { edges { node { code } } } }"
    answered = await _reference_answers_of(client, monkeypatch, test_catalog_reads,
                                           lambda: test_catalog_reads.both(client, query))
    assert not answered, f"'graphql-core' answers taken from a catalog lane: {answered}"


# ---------------------------------------------------------------------------------------------------------
# Properties that hold: shapes the author did not try, answered by the lane as graphql-core answers them.

R = "code name names { zh a: en __typename } providerCode"
PROBES: list[tuple[str, Any, dict[str, str]]] = [
    # aliases nested at every level, LocalizedText aliased, __typename everywhere
    ('{ page: resources(first: 4, lang: EN) { t: __typename e: edges { t: __typename c: cursor n: node { '
     't: __typename k: code ns: names { z: zh e: en t: __typename } p: provider { t: __typename k: code '
     'ns: names { u: ug } } i: dataItems { t: __typename n: name ts: titles { k: kk } } } } '
     'pi: pageInfo { t: __typename h: hasNextPage e: endCursor } u: unavailableNodes n: totalCount } }', None, {}),
    # only typenames or only cursors: the page is still read, nothing else shaped
    ('{ resources(first: 3) { __typename } }', None, {}),
    ('{ resources(first: 3) { edges { __typename } pageInfo { __typename } } }', None, {}),
    ('{ resources(first: 3) { edges { cursor } } }', None, {}),
    ('{ resource(code: "650000-B01-000001") { __typename } }', None, {}),
    # fragments: nested named ones, inline without condition, the same fragment below two parents
    ('query Q { ... { resources(first: 3, filter: {nodes: ["650100", "650200"]}) { ...C } } } '
     'fragment C on ResourceConnection { edges { node { ...R provider { ...D } } } } '
     'fragment R on Resource { code ... on Resource { name } } fragment D on Department { code name }', None, {}),
    # languages: the header, the argument over the header, items by position in each language
    ('{ resources(first: 3) { edges { node { name dataItems { title name shareClass } } } } }', None,
     {"Accept-Language": "kk"}),
    ('{ resources(first: 3, lang: UG) { edges { node { name dataItems { title name } } } } }', None,
     {"Accept-Language": "en"}),
    ('{ resources(first: 3) { edges { node { summary provider { name } dataItems { title } } } } }', None,
     {"Accept-Language": "xx, *;q=0.1"}),
    # limits and filters
    ('{ resources(first: 1000) { pageInfo { hasNextPage } edges { cursor } } }', None, {}),
    ('{ resources(first: 2, filter: {keyword: "100%_\\\\x"}) { totalCount edges { node { code } } } }', None, {}),
    ('{ resources(first: 2, filter: {keyword: "   "}) { edges { node { code } } } }', None, {}),
    ('{ sharingCatalog(first: 4, filter: {statuses: [DRAFT], shareClasses: [NOT_SHARED]}) { totalCount '
     'edges { node { code status shareClass } } } }', None, {}),
    ('{ sharingCatalog(first: 4, filter: {providers: [], nodes: []}) { totalCount edges { node { code } } } }',
     None, {}),
    ('{ resources(first: 3, filter: {nodes: ["654300", "653000"]}) { unavailableNodes totalCount '
     'edges { node { code node provider { code node } dataItems { name } } } } }', None, {}),
    # lookups by code: hosted nodes, odd codes
    ('{ resource(code: "654300-B01-000001") { code node provider { code } dataItems { name } } }', None, {}),
    ('{ resource(code: "65") { code } }', None, {}),
    ('{ resource(code: "") { code provider { code } } }', None, {}),
    ('{ resource(code: "650000-B01-000001") { dataItems { t: title titles { en } } provider { names { kk } } } }',
     None, {"Accept-Language": "ug"}),
    # variables: defaults, null language, a filter by variable
    ('query($n: Int = 2, $l: Language = null, $k: String) { resources(first: $n, lang: $l, filter: {keyword: $k}) '
     '{ edges { node { name } } } }', {}, {"Accept-Language": "en"}),
    ('query($c: String!, $l: Language) { resource(code: $c, lang: $l) { name dataItems { title } } }',
     {"c": "650100-D11-000001", "l": None}, {"Accept-Language": "ug"}),
]


@pytest.mark.parametrize("number", range(len(PROBES)))
async def test_shapes_the_author_did_not_try(client: httpx.AsyncClient, number: int) -> None:
    query, variables, headers = PROBES[number]
    await both(client, query, variables, headers=headers)


async def test_get_and_persisted_queries_are_answered_as_graphql_core_does(client: httpx.AsyncClient) -> None:
    query = '{ resources(first: 3, lang: KK) { edges { cursor node { code name dataItems { title } } } } }'
    await both(client, query, method="GET")
    # a persisted query: the hash once with its text, then the hash alone (answered by the lane)
    plan = _plan(client, query)
    answered = plan.direct.answered
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    await _send(client, query, extensions=extensions)
    persisted = await _send(client, None, extensions=extensions, method="GET")
    core = await _send(client, _fresh(query))
    assert plan.direct.answered == answered + 2
    assert persisted.content == core.content


async def test_a_named_operation_among_fragments(client: httpx.AsyncClient) -> None:
    query = 'query Page { resources(first: 2) { ...C } } fragment C on ResourceConnection { edges { node { code } } }'
    await both(client, query, operation_name="Page")


async def test_concurrent_requests_on_one_plan_keep_their_own_language_and_arguments(
        client: httpx.AsyncClient) -> None:
    import asyncio

    query = ("query($n: Int!, $f: ResourceFilter) { resources(first: $n, filter: $f) { edges { node { name "
             "dataItems { title name } provider { name } } } } }")
    requests = [({"n": 2, "f": {"nodes": ["650100"]}}, "en"), ({"n": 3, "f": {"nodes": ["650200"]}}, "ug"),
                ({"n": 1, "f": None}, "kk"), ({"n": 4, "f": {"shareClasses": ["CONDITIONAL"]}}, "zh")]
    await _send(client, query, requests[0][0], PLANNER)
    plan = _plan(client, query)
    answered = plan.direct.answered
    lanes = await asyncio.gather(*(_send(client, query, v, headers={"Accept-Language": lang}) for v, lang in requests))
    assert plan.direct.answered == answered + len(requests)
    for (variables, lang), lane in zip(requests, lanes, strict=True):
        core = await _send(client, _fresh(query), variables, headers={"Accept-Language": lang})
        assert lane.content == core.content


@pytest.mark.parametrize("query", [
    # introspection beside the field, two root fields, a mutation, directives anywhere, a field the lane does
    # not shape beside those it does, a provider's resources (arguments below the root)
    "{ __schema { queryType { name } } resources(first: 1) { edges { node { code } } } }",
    "{ __typename resources(first: 1) { edges { node { code } } } }",
    '{ a: resource(code: "650000-B01-000001") { code } b: resource(code: "650100-D11-000001") { code } }',
    "{ resources(first: 1) { edges { node { code } } } sharingCatalog(first: 1) { totalCount } }",
    "{ resources(first: 1) @include(if: true) { edges { node { code } } } }",
    "query($s: Boolean!) { resources(first: 1) { edges { node { code name @skip(if: $s) } } } }",
    "{ resources(first: 1) { edges { node { code provider { code parent { code } } } } } }",
    "{ resources(first: 1) { edges { node { code provider { resources(first: 1) { totalCount } } } } } }",
    "{ resources(first: 1) { edges { node { code provider { children { code } } } } } }",
    "{ resources(first: 1) { edges { node { a: code b: code } } } }",
    '{ ... on Query { resources(first: 1) { totalCount } } resource(code: "650000-B01-000001") { code } }',
    "{ ...Q @skip(if: false) } fragment Q on Query { resources(first: 1) { totalCount } }",
    "{ resources(first: 1) { ... @include(if: true) { totalCount } edges { node { code } } } }",
    '{ resource(code: "650000-B01-000001") { ...R @include(if: true) } } fragment R on Resource { code }',
])
async def test_shapes_the_lane_leaves_to_graphql_core(client: httpx.AsyncClient, query: str) -> None:
    variables = {"s": False} if "$s" in query else None
    first = await _send(client, query, variables, PLANNER)
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    plan = _plan(client, query)
    assert plan is not None and not isinstance(plan.direct, CatalogRead)
    again = await _send(client, query, variables)
    core = await _send(client, _fresh(query), variables)
    assert _stable(again.content) == _stable(core.content)


async def test_a_mutation_is_never_a_catalog_read(client: httpx.AsyncClient) -> None:
    # No mutation selects catalog fields (validation refuses it), but the lane checks the operation type first
    from graphql import OperationDefinitionNode, parse

    from govshare.schema.catalog_reads import compile_catalog_read

    schema = client.app.state.schemas.current.schema  # type: ignore[attr-defined]
    for text in ("mutation { resources { edges { node { code } } } }", "subscription { resources { totalCount } }",
                 "query { resources { edges { node { code } } } }"):
        document = parse(text)
        [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        assert (compile_catalog_read(schema, document, operation) is not None) is text.startswith("query")


@pytest.mark.parametrize("after", [
    encode_cursor("\x00"),  # a key PostgreSQL cannot hold as text
    encode_positions(Positions("650100-Z", {"659999": None})),  # a database the topology does not have
    encode_positions(Positions("650100-Z", {"650200": "\x00"})),
    encode_positions(Positions("", {"650000": "650000-Z", "650100": None})),
    "gs2:" + "{}",
])
async def test_forged_cursors_are_answered_as_graphql_core_does(client: httpx.AsyncClient, after: str) -> None:
    query = ("query($a: String) { resources(first: 2, after: $a) { edges { cursor node { code } } "
             "pageInfo { hasNextPage endCursor } unavailableNodes } }")
    _, lane = await both(client, query, {"a": after}, plan_variables={"a": None})
    assert b"Traceback" not in lane.content and b"select " not in lane.content.lower()


async def test_an_entry_whose_provider_is_on_a_database_that_is_down(client: httpx.AsyncClient,
                                                                     cluster: Cluster) -> None:
    # 650200's resource naming a department of 650100 as its provider, while 650100 is down: the entry is not
    # served (a node's catalog is trusted only about its own database), so nothing is asked of 650100 and
    # its outage costs this answer nothing: on a page and on a lookup, on both paths.
    code = "650200-Z95-000001"
    conn = await cluster.connect("650200")
    page = ('{ resources(first: 3, filter: {nodes: ["650200"], providers: ["650100-GA"]}) { unavailableNodes '
            'totalCount edges { node { code provider { code name } dataItems { name } } } } }')
    lookup = f'{{ resource(code: "{code}") {{ code provider {{ code name }} dataItems {{ name }} }} }}'
    try:
        await conn.execute(
            """insert into resources (code, node_code, classification, category, name_zh, provider_code,
               provider_level, format, update_cycle, share_class, open_attribute, status)
               values ($1, '650200', 'department', 'test', '跨节点提供', '650100-GA', 'prefecture', 'database',
                       'daily', 'UNCONDITIONAL', 'open', 'published')""", code)
        for document in (page, lookup):
            await _send(client, document, None, PLANNER)
            assert isinstance(_plan(client, document).direct, CatalogRead)
        cluster.stop("650100")
        try:
            answers = []
            for document in (page, lookup):
                plan = _plan(client, document)
                answered = plan.direct.answered
                lane = await _send(client, document)
                core = await _send(client, _fresh(document))
                assert plan.direct.answered == answered + 1
                answers.append((core, lane))
        finally:
            cluster.start("650100")
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
    # on 650200 only: the page and its count, then the lookup
    for (core, lane), statements in zip(answers, ("2", "1"), strict=True):
        assert _any_reason(lane.content) == _any_reason(core.content), f"\ncore: {core.text}\nlane: {lane.text}"
        assert lane.headers["x-govshare-statements"] == core.headers["x-govshare-statements"] == statements
    assert answers[0][1].json() == {"data": {"resources": {"unavailableNodes": [], "totalCount": 0, "edges": []}}}
    assert answers[1][1].json() == {"data": {"resource": None}}


def _any_reason(content: bytes) -> bytes:
    content = re.sub(rb"did not answer \([A-Za-z ]+\)", b"did not answer (-)", content)
    return re.sub(rb'"reason":"[A-Za-z ]+"', b'"reason":"-"', content)


# ---------------------------------------------------------------------------------------------------------
# Finding 4: only the root field is checked for what strawberry runs around a field; a nested field that
# gains a resolver, a permission class or a field extension would still be read straight from its column.


@pytest.mark.parametrize(("type_name", "field_name", "query"), [
    ("Resource", "legalBasis", '{ resource(code: "650000-B01-000001") { code legalBasis } }'),
    ("Resource", "shareConditions", "{ resources(first: 1) { edges { node { shareConditions } } } }"),
    ("DataItem", "condition", "{ resources(first: 1) { edges { node { dataItems { condition } } } } }"),
    ("Department", "divisionCode", "{ resources(first: 1) { edges { node { provider { divisionCode } } } } }"),
])
async def test_a_nested_field_with_an_extension_keeps_graphql_cores_path(
        client: httpx.AsyncClient, type_name: str, field_name: str, query: str) -> None:
    from graphql import OperationDefinitionNode, parse
    from strawberry.extensions.field_extension import FieldExtension
    from strawberry.schema.schema_converter import GraphQLCoreConverter

    from govshare.schema.catalog_reads import compile_catalog_read

    schema = client.app.state.schemas.current.schema  # type: ignore[attr-defined]
    field = schema._schema.type_map[type_name].fields[field_name].extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
    document = parse(query)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert compile_catalog_read(schema, document, operation) is not None  # plain today: the lane's shape
    saved = field.extensions
    field.extensions = [FieldExtension()]  # as a permission class is, in strawberry: no longer a basic field
    try:
        assert not field.is_basic_field
        assert compile_catalog_read(schema, document, operation) is None, \
            f"{type_name}.{field_name} has a field extension, and the lane would read it from its column"
    finally:
        field.extensions = saved


async def test_the_direct_read_harness_takes_its_reference_answer_from_graphql_core(
        client: httpx.AsyncClient, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/schema/test_direct_read_equivalence.py's `both` (which test_catalog_reads copied), the same way
    from . import test_direct_read_equivalence

    query = "{ legalEntities(first: 3) { nodes { uscc name } } }"
    answered = await _reference_answers_of(client, monkeypatch, test_direct_read_equivalence,
                                           lambda: test_direct_read_equivalence.both(client, cluster, query))
    assert not answered, f"'graphql-core' answers taken from a direct read: {answered}"


# ---------------------------------------------------------------------------------------------------------
# Finding 6 (both paths, before the lane): a cursor carrying a NUL byte is reported as node outages.


@pytest.mark.parametrize("after", [encode_cursor("650100-\x00"), encode_positions(Positions("650100-Z", {"650200": "\x00"}))])
async def test_a_cursor_with_a_nul_byte_is_bad_input_not_an_outage(client: httpx.AsyncClient, after: str) -> None:
    # NUL is refused in literals and variables (BAD_USER_INPUT), but inside a base64 cursor it reaches
    # PostgreSQL, whose CharacterNotInRepertoireError is counted as the node not answering.
    query = "query($a: String) { resources(first: 2, after: $a) { edges { node { code } } unavailableNodes } }"
    answer = await _send(client, query, {"a": after})
    codes = {e["extensions"]["code"] for e in answer.json()["errors"]}
    assert codes == {"BAD_USER_INPUT"}, answer.text


async def test_the_region_down_costs_the_lane_its_own_and_its_hosted_nodes_rows(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    # The region's database also serves the hosted prefectures 654300 and 653000: a page over every node, a page
    # of a hosted node, and a lookup of a hosted node's resource, while it is down; on the lane as on graphql-core.
    documents = [
        "{ resources(first: 30) { unavailableNodes totalCount edges { cursor node { code provider { code name } "
        "dataItems { name title } } } pageInfo { hasNextPage endCursor } } }",
        '{ sharingCatalog(first: 5, filter: {nodes: ["654300", "650100"]}) { unavailableNodes totalCount '
        "edges { node { code provider { code } } } pageInfo { hasNextPage } } }",
        '{ resource(code: "654300-B01-000001") { code provider { code } dataItems { name } } }',
    ]
    for document in documents:
        await _send(client, document, None, PLANNER)
        assert isinstance(_plan(client, document).direct, CatalogRead)
    answers = []
    cluster.stop("650000")
    try:
        for document in documents:
            plan = _plan(client, document)
            answered = plan.direct.answered
            lane = await _send(client, document)
            core = await _send(client, _fresh(document))
            assert plan.direct.answered == answered + 1
            answers.append((core, lane))
    finally:
        cluster.start("650000")
    for core, lane in answers:
        assert lane.status_code == core.status_code == 200
        assert _any_reason(lane.content) == _any_reason(core.content), f"\ncore: {core.text}\nlane: {lane.text}"
        assert lane.headers["x-govshare-statements"] == core.headers["x-govshare-statements"]
    page = answers[0][1].json()["data"]["resources"]
    assert page["unavailableNodes"] == ["650000", "653000", "654300"] and page["edges"]
    assert page["totalCount"] is None
    assert answers[2][1].json()["data"] == {"resource": None}
