"""Rows read outside a page are checked as a page's are (resolvers/row_values.py): a resource or department
looked up by code (``resource(code:)``, ``department(code:)``, ``_entities``), items read without a page,
a provider read beside a page, a provider's resources and a department's children. A row holding a value the
catalog cannot serve (a NULL in a non-null column, a value outside its enum, a value of another type once its
column was altered, a day out of range) costs only itself: it is left out, its node reported
(NODE_UNAVAILABLE, reason InvalidRows), and every other row, node and field is answered; never INTERNAL, a
stack trace or SQL."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.core.dates import EARLIEST, LATEST
from govshare.resolvers import row_values

from ..conftest import Cluster
from .test_row_values import LEFT_OUT, NODE, _both_lanes

REGION_RESOURCE = "650000-B01-000001"


@asynccontextmanager
async def _loosened(cluster: Cluster, table: str, column: str, *, retype: str | None = None
                    ) -> AsyncIterator[asyncpg.Connection]:
    """650200's ``table.column`` without its NOT NULL and CHECKs (and, with ``retype``, of that type), as a
    node's owner may make it; restored on exit (the rows changed inside must be restored by the caller)."""
    conn = await cluster.connect(NODE)
    kind = await conn.fetchval("select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
                               "$1::regclass and attname = $2", table, column)
    not_null = await conn.fetchval("select attnotnull from pg_attribute where attrelid = $1::regclass "
                                   "and attname = $2", table, column)
    checks = await conn.fetch("select conname, pg_get_constraintdef(oid) as def from pg_constraint "
                              "where conrelid = $1::regclass and contype = 'c' "
                              "and pg_get_constraintdef(oid) like '%' || $2 || '%'", table, column)
    default = await conn.fetchval("select pg_get_expr(adbin, adrelid) from pg_attrdef d join pg_attribute a "
                                  "on a.attrelid = d.adrelid and a.attnum = d.adnum "
                                  "where adrelid = $1::regclass and attname = $2", table, column)
    try:
        for check in checks:
            await conn.execute(f'alter table {table} drop constraint "{check["conname"]}"')
        await conn.execute(f"alter table {table} alter column {column} drop not null")
        if retype is not None:
            await conn.execute(f"alter table {table} alter column {column} drop default")
            await conn.execute(f"alter table {table} alter column {column} type {retype}")
        yield conn
    finally:
        if retype is not None:
            await conn.execute(f"alter table {table} alter column {column} type {kind} using {column}::{kind}")
            if default is not None:
                await conn.execute(f"alter table {table} alter column {column} set default {default}")
        for check in checks:
            await conn.execute(f'alter table {table} add constraint "{check["conname"]}" {check["def"]}')
        if not_null:
            await conn.execute(f"alter table {table} alter column {column} set not null")
        await conn.close()


def _clean(body: dict[str, Any]) -> None:
    """No error but the node's InvalidRows, and nothing of the server's insides."""
    assert [e["extensions"] for e in body.get("errors", [])] == [LEFT_OUT], body
    text = json.dumps(body, ensure_ascii=False).lower()
    assert "traceback" not in text and "select " not in text and "internal" not in text, body


async def _send(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    answer = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    body: dict[str, Any] = answer.json()
    return body


async def _a_resource(cluster: Cluster) -> tuple[str, str]:
    """A 650200 resource with items, and its provider (on 650200)."""
    conn = await cluster.connect(NODE)
    try:
        row = await conn.fetchrow("select r.code, r.provider_code from resources r where r.node_code = $1 "
                                  "and r.provider_code like '650200-%' and exists (select 1 from data_items i "
                                  "where i.resource_code = r.code) order by r.code limit 1", NODE)
    finally:
        await conn.close()
    assert row is not None
    return row["code"], row["provider_code"]


async def test_a_resource_looked_up_by_code_with_a_value_outside_its_enum_is_left_out(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    code, _ = await _a_resource(cluster)
    query = (f'{{ a: resource(code: "{code}") {{ code updateCycle }} '
             f'b: resource(code: "{REGION_RESOURCE}") {{ code updateCycle }} }}')
    alone = f'{{ resource(code: "{code}") {{ code updateCycle provider {{ code }} dataItems {{ name }} }} }}'
    before = await _send(client, query)
    assert before["data"]["a"]["code"] == code and "errors" not in before, before
    async with _loosened(cluster, "resources", "update_cycle") as conn:
        was = await conn.fetchval("select update_cycle from resources where code = $1", code)
        try:
            await conn.execute("update resources set update_cycle = 'hourly' where code = $1", code)
            body = await _send(client, query)
            answers = await _both_lanes(client, alone)
        finally:
            await conn.execute("update resources set update_cycle = $2 where code = $1", code, was)
    assert body["data"] == {"a": None, "b": before["data"]["b"]}, body
    _clean(body)
    for answer in answers:
        assert answer["data"] == {"resource": None}, answer
        _clean(answer)
    assert await _send(client, query) == before


async def test_a_department_looked_up_by_code_with_a_null_name_is_left_out(client: httpx.AsyncClient,
                                                                           cluster: Cluster) -> None:
    _, provider = await _a_resource(cluster)
    query = f'{{ a: department(code: "{provider}") {{ code name }} b: department(code: "650000-ZW") {{ code }} }}'
    before = await _send(client, query)
    assert before["data"]["a"] is not None and before["data"]["b"] is not None, before
    async with _loosened(cluster, "departments", "name_zh") as conn:
        was = await conn.fetchval("select name_zh from departments where code = $1", provider)
        try:
            await conn.execute("update departments set name_zh = null where code = $1", provider)
            body = await _send(client, query)
        finally:
            await conn.execute("update departments set name_zh = $2 where code = $1", provider, was)
    assert body["data"] == {"a": None, "b": before["data"]["b"]}, body
    _clean(body)


async def test_a_provider_read_beside_a_lookup_or_as_a_child_with_a_null_name_is_left_out(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """The resource looked up is answered without its provider; a parent's children from the child's database
    are left out (as a page, so that a dropped row cannot shorten the list unnoticed); InvalidRows each."""
    code, provider = await _a_resource(cluster)
    conn = await cluster.connect(NODE)
    try:
        parent = await conn.fetchval("select parent_code from departments where code = $1", provider)
    finally:
        await conn.close()
    assert parent is not None
    lookup = f'{{ resource(code: "{code}") {{ code provider {{ code name }} }} }}'
    children = f'{{ department(code: "{parent}") {{ code children {{ code name }} }} }}'
    before = await _send(client, children)
    assert provider in [c["code"] for c in before["data"]["department"]["children"]], before
    async with _loosened(cluster, "departments", "name_zh") as conn:
        was = await conn.fetchval("select name_zh from departments where code = $1", provider)
        try:
            await conn.execute("update departments set name_zh = null where code = $1", provider)
            answers = await _both_lanes(client, lookup)
            listed = await _send(client, children)
        finally:
            await conn.execute("update departments set name_zh = $2 where code = $1", provider, was)
    for body in answers:
        assert body["data"] == {"resource": {"code": code, "provider": None}}, body
        _clean(body)
    assert listed["data"]["department"] == {
        "code": parent, "children": [c for c in before["data"]["department"]["children"]
                                     if not c["code"].startswith(NODE + "-")]}, listed
    _clean(listed)


ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) {
    __typename ... on Resource { code updateCycle dataItems { name } } ... on Department { code name } } }"""


async def test_entities_with_a_bad_row_lose_only_that_entity(client: httpx.AsyncClient, cluster: Cluster) -> None:
    code, provider = await _a_resource(cluster)
    reps = [{"__typename": "Resource", "code": code}, {"__typename": "Resource", "code": REGION_RESOURCE},
            {"__typename": "Department", "code": provider}, {"__typename": "Department", "code": "650000-ZW"}]
    before = await _send(client, ENTITIES, {"r": reps})
    assert "errors" not in before and all(before["data"]["_entities"]), before
    async with _loosened(cluster, "resources", "classification") as conn:
        was = await conn.fetchval("select classification from resources where code = $1", code)
        try:
            await conn.execute("update resources set classification = 'odd' where code = $1", code)
            body = await _send(client, ENTITIES, {"r": reps})
        finally:
            await conn.execute("update resources set classification = $2 where code = $1", code, was)
    assert body["data"]["_entities"] == [None, *before["data"]["_entities"][1:]], body
    assert [e["extensions"] for e in body["errors"]] == [LEFT_OUT], body
    assert body["errors"][0]["path"] == ["_entities", 0], body


async def test_items_read_without_a_page_lose_only_their_resource_s_items(client: httpx.AsyncClient,
                                                                         cluster: Cluster) -> None:
    """A provider's resources (a dataloader, no page) and an entity's items: the bad item's resource has none,
    its node is reported, every other resource keeps its items."""
    code, provider = await _a_resource(cluster)
    query = (f'{{ department(code: "{provider}") {{ resources(first: 50) {{ edges {{ node {{ code '
             f'dataItems {{ name shareClass isKey }} }} }} }} }} }}')
    before = await _send(client, query)
    edges = before["data"]["department"]["resources"]["edges"]
    assert len([e for e in edges if e["node"]["dataItems"]]) >= 2, before
    entity = await _send(client, ENTITIES, {"r": [{"__typename": "Resource", "code": code}]})
    async with _loosened(cluster, "data_items", "share_class") as conn:
        name = await conn.fetchval("select min(name) from data_items where resource_code = $1", code)
        was = await conn.fetchval("select share_class from data_items where resource_code = $1 and name = $2",
                                  code, name)
        try:
            await conn.execute("update data_items set share_class = 'WEIRD' where resource_code = $1 "
                               "and name = $2", code, name)
            body = await _send(client, query)
            entities = await _send(client, ENTITIES, {"r": [{"__typename": "Resource", "code": code}]})
        finally:
            await conn.execute("update data_items set share_class = $3 where resource_code = $1 and name = $2",
                               code, name, was)
    expected = [{"node": {"code": e["node"]["code"], "dataItems": [] if e["node"]["code"] == code
                          else e["node"]["dataItems"]}} for e in edges]
    assert body["data"]["department"]["resources"]["edges"] == expected, body
    _clean(body)
    assert entities["data"]["_entities"] == [{**entity["data"]["_entities"][0], "dataItems": []}], entities
    _clean(entities)


async def test_a_provider_beside_a_page_with_a_null_name_is_left_out_not_the_page(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    _, provider = await _a_resource(cluster)
    conn = await cluster.connect("650000")
    try:
        region = await conn.fetchval("select provider_code from resources where code = $1", REGION_RESOURCE)
    finally:
        await conn.close()
    query = (f'{{ resources(first: 30, filter: {{nodes: ["650000", "650200"], providers: ["{region}", '
             f'"{provider}"]}}) {{ edges {{ node {{ code provider {{ code name }} }} }} unavailableNodes }} }}')
    before = await _both_lanes(client, query)
    edges = before[0]["data"]["resources"]["edges"]
    assert any(e["node"]["provider"] and e["node"]["provider"]["code"] == provider for e in edges), before[0]
    async with _loosened(cluster, "departments", "name_zh") as conn:
        was = await conn.fetchval("select name_zh from departments where code = $1", provider)
        try:
            await conn.execute("update departments set name_zh = null where code = $1", provider)
            answers = await _both_lanes(client, query)
            one_node = await _both_lanes(client, query.replace('"650000", "650200"', '"650200"'))
        finally:
            await conn.execute("update departments set name_zh = $2 where code = $1", provider, was)
    expected = [{"node": {**e["node"], "provider": None if e["node"]["provider"] and
                          e["node"]["provider"]["code"] == provider else e["node"]["provider"]}} for e in edges]
    for body in answers:
        assert body["data"]["resources"] == {"edges": expected, "unavailableNodes": []}, body
        _clean(body)
    for body in one_node:  # the provider read in the page's own statement
        page = body["data"]["resources"]
        assert page["edges"] and all(e["node"]["provider"] is None for e in page["edges"]
                                     if e["node"]["code"].startswith(NODE) and
                                     e["node"]["code"] in {x["node"]["code"] for x in expected
                                                           if x["node"]["provider"] is None}), body
        _clean(body)


async def test_a_column_altered_to_text_is_refused_not_served(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """``version`` altered to text (an Int field) and a day out of the service's range: the lookup and the
    page leave the rows out (InvalidRows), the region's rows are answered."""
    code, _ = await _a_resource(cluster)
    lookup = f'{{ resource(code: "{code}") {{ code version }} }}'
    page = ('{ resources(first: 3, filter: {nodes: ["650000", "650200"]}) '
            '{ edges { node { code version } } unavailableNodes } }')
    async with _loosened(cluster, "resources", "version", retype="text"):
        found = await _both_lanes(client, lookup)
        pages = await _both_lanes(client, page)
    for body in found:
        assert body["data"] == {"resource": None}, body
        _clean(body)
    for body in pages:
        assert body["data"]["resources"]["unavailableNodes"] == [NODE], body
        assert [e["node"]["code"][:6] for e in body["data"]["resources"]["edges"]] == ["650000"] * 3, body
        _clean(body)
    async with _loosened(cluster, "resources", "published_on") as conn:
        was = await conn.fetchval("select published_on from resources where code = $1", code)
        try:
            await conn.execute("update resources set published_on = 'infinity' where code = $1", code)
            found = await _both_lanes(client, f'{{ resource(code: "{code}") {{ code publishedOn }} }}')
        finally:
            await conn.execute("update resources set published_on = $2 where code = $1", code, was)
    for body in found:
        assert body["data"] == {"resource": None}, body
        _clean(body)


@pytest.mark.parametrize(("column", "values"), [
    ("version", [1, 2**31 - 1, "3", 0, 2**31, None, 1.0, True]),
    ("published_on", [None, EARLIEST, LATEST, dt.date(1799, 12, 31), dt.date.max, "2020-01-01",
                      dt.datetime(2020, 1, 1)]),
    ("code", ["650200-A", "6" * 128, "6" * 129, None, 5]),
    ("update_cycle", ["daily", "hourly", None, ["daily"]]),
    ("share_modes", [[], ["exchange"], ["fax"], [None], None, "exchange", ["exchange", "daily"]]),
    ("related_codes", [[], ["650000-A"], ["6" * 129], [5], None]),
    ("name_en", [None, "x", 5]),
])
def test_the_whole_result_check_finds_what_the_column_checks_find(column: str, values: list[Any]) -> None:
    """Every pair of values, as rows of one result: the compiled row test and the whole-result passes
    (``_Plan``) refuse exactly the results the per-value checks refuse. Rows by name are a statement's own columns, one type per column
    (asyncpg decodes a column with one codec): pairs of one type, or a NULL; records by position (anonymous
    ``row(...)`` values) any pair."""
    spec = row_values.RESOURCE_COLUMNS[column]
    for first, second, times in itertools.product(values, values, (1, row_values.FEW_ROWS)):
        by_value = spec.servable([first]) and spec.servable([second])
        records = [(first,), (second,)] * times
        assert bool(row_values._invalid_records(NODE, (column,), records, row_values.RESOURCE_COLUMNS)) \
            is not by_value, (first, second, times)
        if first is not None and second is not None and type(first) is not type(second):
            continue
        rows = [{"code": "650200-A", column: first}, {"code": "650200-B", column: second}] * times
        if column == "code":
            rows = [{"code": first}, {"code": second}] * times
        # 2 rows: one compiled test each; 2 * FEW_ROWS: the whole-result passes
        assert bool(row_values._unservable(rows, row_values.RESOURCE_COLUMNS)) is not by_value, (first, second, times)
