"""A node's row holding a NULL where the schema has none, or a value outside its enum (its owner dropped the
column's NOT NULL or CHECK, or answers through a view), costs only that node's rows: its page is left out
as one that did not answer (NODE_UNAVAILABLE, reason InvalidRows, logged), never the whole federated page;
a provider level is its code's whatever the row holds, NULL included (review-s7 finding 1)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from govshare.resolvers import row_values
from govshare.schema.common import Classification, ResourceStatus, ShareClass, ShareMode, UpdateCycle

from ..conftest import Cluster
from ..schema.test_catalog_reads_edge_cases import _fresh, _send

NODE = "650200"
NULL_LEVEL = "650200-Z97-000001"
ODD = "650200-A00-000002"  # first of its node: on every page of it
INSERT = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status)
    values ($1, '650200', 'department', 'test', $2, '650200-ZE', $3, 'database', $4,
            'UNCONDITIONAL', 'open', 'published')"""
LEFT_OUT = {"code": "NODE_UNAVAILABLE", "node": NODE, "reason": "InvalidRows"}


def test_the_choices_are_the_schema_enums_values() -> None:
    schema = {"classification": {m.value for m in Classification}, "update_cycle": {m.value for m in UpdateCycle},
              "share_class": {m.value for m in ShareClass}, "status": {m.value for m in ResourceStatus}}
    lists = {"share_modes": {m.value for m in ShareMode}}
    assert schema == row_values.RESOURCE_CHOICES
    assert lists == row_values.RESOURCE_CHOICE_LISTS


GOOD: dict[str, Any] = {"code": "650200-Z97-000003", "node_code": NODE, "provider_code": "650200-ZE",
                        "classification": "basic", "update_cycle": "daily", "share_modes": ["exchange"],
                        "format": "database", "provider_level": None,
                        "related_codes": ["650000-B01-000001"]}


@pytest.mark.parametrize(("column", "value"), [
    ("update_cycle", "hourly"), ("update_cycle", None), ("classification", ["basic"]), ("format", None),
    ("share_modes", ["exchange", "fax"]), ("share_modes", None), ("code", None), ("related_codes", None),
    ("related_codes", ["650200-Z97-000001", None])])
def test_a_row_with_a_value_the_schema_cannot_serve_fails_its_page_and_is_logged(
        column: str, value: Any, caplog: pytest.LogCaptureFixture) -> None:
    bad = {**GOOD, "code": "650200-Z97-000004", column: value}
    with caplog.at_level(logging.WARNING, logger="govshare.row_values"):
        assert row_values.servable_resources(NODE, [GOOD, GOOD]) is True
        assert not caplog.records
        assert row_values.servable_resources(NODE, [GOOD, bad, GOOD]) is False
    [record] = caplog.records
    assert f"database {NODE}" in record.getMessage() and f"whose {column} is {value!r}" in record.getMessage()


def test_a_provider_level_and_unread_columns_are_not_checked() -> None:
    """provider_level is served as its provider code's whatever it holds; a column not read is not checked."""
    assert row_values.servable_resources(NODE, [{**GOOD, "provider_level": "hourly"}])
    assert row_values.servable_resources(NODE, [{"code": "650200-Z97-000003"}])
    assert row_values.servable_resources(NODE, [])
    assert not row_values.servable_departments(NODE, [{"code": "650200-ZE", "name_zh": None}])


@asynccontextmanager
async def _planted(cluster: Cluster, code: str, name: str, level: str | None, cycle: str) -> AsyncIterator[None]:
    """One row on 650200 whose owner dropped the NOT NULL on provider_level and update_cycle's CHECK."""
    conn = await cluster.connect(NODE)
    checks = await conn.fetch("select conname, pg_get_constraintdef(oid) as def from pg_constraint "
                              "where conrelid = 'resources'::regclass and contype = 'c' "
                              "and pg_get_constraintdef(oid) like '%update_cycle%'")
    try:
        await conn.execute("alter table resources alter column provider_level drop not null")
        for check in checks:
            await conn.execute(f'alter table resources drop constraint "{check["conname"]}"')
        await conn.execute(INSERT, code, name, level, cycle)
        yield
    finally:
        await conn.execute("delete from resources where code = $1", code)
        for check in checks:
            await conn.execute(f'alter table resources add constraint "{check["conname"]}" {check["def"]}')
        await conn.execute("alter table resources alter column provider_level set not null")
        await conn.close()


async def _both_lanes(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    """graphql-core's answers (fresh texts) and the catalog lane's (the same text again: planned)."""
    answers = [await _send(client, _fresh(query)) for _ in range(2)] + [await _send(client, query) for _ in range(3)]
    return [answer.json() for answer in answers]


async def test_a_null_provider_level_is_served_as_its_provider_code_s(client: httpx.AsyncClient,
                                                                     cluster: Cluster) -> None:
    query = ('{ resources(first: 50, filter: {nodes: ["650000", "650200"], keyword: "级别为空"}) '
             '{ edges { node { code providerLevel } } unavailableNodes } }')
    async with _planted(cluster, NULL_LEVEL, "级别为空", None, "daily"):
        answers = await _both_lanes(client, query)
    for body in answers:
        assert "errors" not in body, body
        assert body["data"]["resources"] == {"unavailableNodes": [], "edges": [
            {"node": {"code": NULL_LEVEL, "providerLevel": "PREFECTURE"}}]}


async def test_a_value_outside_its_enum_costs_only_its_node_s_page(client: httpx.AsyncClient, cluster: Cluster,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """650200's page is left out (its rows, none of the region's), logged; the region's rows stay."""
    query = ('{ resources(first: 3, filter: {nodes: ["650000", "650200"]}) '
             '{ edges { node { code updateCycle } } unavailableNodes } }')
    keyword = '{ resources(filter: {keyword: "周期未知"}) { edges { node { code updateCycle } } unavailableNodes } }'
    unread = '{ resources(filter: {keyword: "周期未知"}) { edges { node { code } } unavailableNodes } }'
    before = await _both_lanes(client, query)
    async with _planted(cluster, ODD, "周期未知", "prefecture", "hourly"):
        with caplog.at_level(logging.WARNING, logger="govshare.row_values"):
            answers = await _both_lanes(client, query)
            found = await _both_lanes(client, keyword)
        served = await _both_lanes(client, unread)  # a row whose odd value is not asked for is served
    region_rows = [e for e in before[0]["data"]["resources"]["edges"] if e["node"]["code"].startswith("650000-")]
    assert region_rows
    for body in answers:
        page = body["data"]["resources"]
        assert page["unavailableNodes"] == [NODE], body
        assert [e["node"]["code"][:6] for e in page["edges"]] == ["650000"] * 3, body
        assert [e["extensions"] for e in body["errors"]] == [LEFT_OUT], body
        assert page["edges"][:len(region_rows)] == region_rows
    for body in found:
        assert body["data"]["resources"] == {"edges": [], "unavailableNodes": [NODE]}, body
    for body in served:
        assert body == {"data": {"resources": {"edges": [{"node": {"code": ODD}}], "unavailableNodes": []}}}
    warnings = [r.getMessage() for r in caplog.records if r.name == "govshare.row_values"]
    assert warnings and all(f"database {NODE} returned resource '{ODD}' whose update_cycle is 'hourly'" in w
                            for w in warnings)
    for body in await _both_lanes(client, query):  # and once it holds a value of the enum, it is served again
        assert body == before[0]


def test_an_item_the_schema_cannot_serve_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    names = ("name", "share_class", "title_zh")
    with caplog.at_level(logging.WARNING, logger="govshare.row_values"):
        assert row_values.servable_items(NODE, ODD, names, [("a", "CONDITIONAL", "甲"), ("b", "NOT_SHARED", "乙")])
        assert not row_values.servable_items(NODE, ODD, names, [("a", "WEIRD", "甲"), ("b", "NOT_SHARED", None)])
    assert [r.getMessage().split(" whose ")[1] for r in caplog.records] == [
        "share_class is 'WEIRD', which the catalog cannot serve: the resource's items are left out",
        "title_zh is None, which the catalog cannot serve: the resource's items are left out"]


async def test_an_item_outside_its_enum_costs_only_its_resource_s_items(client: httpx.AsyncClient,
                                                                        cluster: Cluster) -> None:
    """An item's share class outside the enum (its CHECK dropped): the page is answered, the resource's items
    are left out and its node reported (NODE_UNAVAILABLE, InvalidRows); every other resource keeps its items."""
    conn = await cluster.connect(NODE)
    code = await conn.fetchval("select min(resource_code) from data_items")
    name = await conn.fetchval("select min(name) from data_items where resource_code = $1", code)
    was = await conn.fetchval("select share_class from data_items where resource_code = $1 and name = $2", code, name)
    checks = await conn.fetch("select conname, pg_get_constraintdef(oid) as def from pg_constraint "
                              "where conrelid = 'data_items'::regclass and contype = 'c' "
                              "and pg_get_constraintdef(oid) like '%share_class%'")
    query = ('{ resources(first: 50, filter: {nodes: ["650200"]}) '
             '{ edges { node { code dataItems { name shareClass } } } unavailableNodes } }')
    before = await _both_lanes(client, query)
    try:
        for check in checks:
            await conn.execute(f'alter table data_items drop constraint "{check["conname"]}"')
        await conn.execute("update data_items set share_class = 'WEIRD' where resource_code = $1 and name = $2",
                           code, name)
        answers = await _both_lanes(client, query)
    finally:
        await conn.execute("update data_items set share_class = $3 where resource_code = $1 and name = $2",
                           code, name, was)
        for check in checks:
            await conn.execute(f'alter table data_items add constraint "{check["conname"]}" {check["def"]}')
        await conn.close()
    edges = before[0]["data"]["resources"]["edges"]
    assert any(e["node"]["code"] == code and e["node"]["dataItems"] for e in edges)
    expected = [{"node": {"code": e["node"]["code"], "dataItems": [] if e["node"]["code"] == code
                          else e["node"]["dataItems"]}} for e in edges]
    for body in answers:
        assert body["data"]["resources"]["edges"] == expected, body
        assert [e["extensions"] for e in body["errors"]] == [LEFT_OUT], body


def test_many_values_the_schema_cannot_serve_are_logged_as_one_line_per_column(
        caplog: pytest.LogCaptureFixture) -> None:
    """A node holding many rows or items with a value that cannot be served gets one warning line per column,
    with a count, the first codes and the first value, not one per value (review-s8 finding 2: 20,000 bad
    items were 20,000 lines and ~1 s of the event loop on every read of them, for every caller)."""
    names = ("resource_code", "name", "share_class", "title_zh")
    items = [("650200-Z97-000001", f"i{n}", "WEIRD" if n % 2 else "CONDITIONAL", None) for n in range(20000)]
    lists = {f"650200-Z97-{n:06d}": items[n * 20:(n + 1) * 20] for n in range(1000)}
    rows = [{**GOOD, "code": f"650200-Z97-{n:06d}", "update_cycle": "hourly"} for n in range(1000)]
    providers = {f"650200-Z{n:04d}": (f"650200-Z{n:04d}", NODE, None) for n in range(1000)}
    with caplog.at_level(logging.WARNING, logger="govshare.row_values"):
        assert not row_values.servable_items(NODE, ODD, names, items)
        assert row_values.invalid_item_lists(NODE, names, lists) == list(lists)
        assert row_values.invalid_resources(NODE, rows) == {row["code"] for row in rows}
        assert not row_values.servable_resources(NODE, rows)
        assert row_values.invalid_providers(NODE, ("code", "node_code", "name_zh"), providers) == set(providers)
    lines = [r.getMessage() for r in caplog.records if r.name == "govshare.row_values"]
    assert lines == [
        f"database {NODE} returned 10000 data items of resources ('{ODD}') whose share_class the catalog cannot "
        "serve (the first is 'WEIRD'): their resources' items are left out",
        f"database {NODE} returned 20000 data items of resources ('{ODD}') whose title_zh the catalog cannot "
        "serve (the first is None): their resources' items are left out",
        f"database {NODE} returned 10000 data items of resources ('650200-Z97-000000', '650200-Z97-000001', "
        "'650200-Z97-000002', ...) whose share_class the catalog cannot serve (the first is 'WEIRD'): their "
        "resources' items are left out",
        f"database {NODE} returned 20000 data items of resources ('650200-Z97-000000', '650200-Z97-000001', "
        "'650200-Z97-000002', ...) whose title_zh the catalog cannot serve (the first is None): their "
        "resources' items are left out",
        f"database {NODE} returned 1000 resources ('650200-Z97-000000', '650200-Z97-000001', '650200-Z97-000002', "
        "...) whose update_cycle the catalog cannot serve (the first is 'hourly'): the rows are left out",
        f"database {NODE} returned 1000 resources ('650200-Z97-000000', '650200-Z97-000001', '650200-Z97-000002', "
        "...) whose update_cycle the catalog cannot serve (the first is 'hourly'): its page is left out",
        f"database {NODE} returned 1000 providers ('650200-Z0000', '650200-Z0001', '650200-Z0002', ...) whose "
        "name_zh the catalog cannot serve (the first is None): the providers are left out"]
