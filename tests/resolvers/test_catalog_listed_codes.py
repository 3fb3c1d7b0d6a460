"""A node answering a list where a code belongs (review-s8 findings 1 and 8, resolvers/catalog.py).

650200's owner puts a view in front of ``departments``, ``resources`` or ``data_items`` whose code column is a
``text[]``, with operators (``=``, ``^@``) and a ``substr`` of its own in ``public``: pg_catalog has none for
text[] against text, so the pinned search_path lets the node's resolve and the service's statements succeed.
Its rows then hold a list (unhashable) where a code belongs. That node's rows alone are lost, reported as
NODE_UNAVAILABLE (reason InvalidRows); every other node's rows in the same request are answered, never
INTERNAL. A provider the node answers with a row it does not own is reported the same way, not served as a
silent null."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from govshare.core.errors import InvalidRows
from govshare.resolvers import specs
from govshare.resolvers.statistics import providers_of

from ..conftest import Cluster
from .test_row_values import LEFT_OUT, NODE
from .test_row_values_lookups import REGION_RESOURCE, _a_resource, _send

REGION = "650000"

LISTED = """
alter table {table} rename to {table}_kept;
create function public.fx_eq(text[], text) returns boolean language sql immutable as 'select $1[1] = $2';
create function public.fx_req(text, text[]) returns boolean language sql immutable as 'select $1 = $2[1]';
create function public.fx_pre(text[], text) returns boolean language sql immutable
    as 'select starts_with($1[1], $2)';
create function public.substr(text[], integer, integer) returns text language sql immutable
    as 'select pg_catalog.substr($1[1], $2, $3)';
create operator public.= (leftarg = text[], rightarg = text, function = public.fx_eq);
create operator public.= (leftarg = text, rightarg = text[], function = public.fx_req);
create operator public.^@ (leftarg = text[], rightarg = text, function = public.fx_pre);
create view {table} as select array[{column}] as {column}, {others} from {table}_kept;
grant select on {table} to public"""
RESTORED = """
drop view {table};
drop operator public.= (text[], text);
drop operator public.= (text, text[]);
drop operator public.^@ (text[], text);
drop function public.fx_eq(text[], text);
drop function public.fx_req(text, text[]);
drop function public.fx_pre(text[], text);
drop function public.substr(text[], integer, integer);
alter table {table}_kept rename to {table}"""


@asynccontextmanager
async def _listed(cluster: Cluster, table: str, column: str, node: str = NODE) -> AsyncIterator[None]:
    """``node``'s ``table`` answered through a view whose ``column`` is a text[] (its one element the real
    value), with the node's own operators making the service's SQL resolve on it; restored on exit."""
    conn = await cluster.connect(node)
    try:
        others = await conn.fetchval("select string_agg(quote_ident(attname), ', ' order by attnum) from "
                                     "pg_attribute where attrelid = $1::regclass and attnum > 0 and "
                                     "not attisdropped and attname <> $2", table, column)
        await conn.execute(LISTED.format(table=table, column=column, others=others))
        try:
            yield
        finally:
            await conn.execute(RESTORED.format(table=table))
    finally:
        await conn.close()


def _reported(body: dict[str, Any]) -> None:
    """The node's rows reported as InvalidRows (once per field that lost them), nothing else, nothing inside."""
    assert body.get("errors") and all(e["extensions"] == LEFT_OUT for e in body["errors"]), body
    text = json.dumps(body, ensure_ascii=False).lower()
    assert "traceback" not in text and "select " not in text and "internal" not in text, body


async def test_a_department_lookup_of_a_node_answering_a_list_costs_only_its_rows(
        client: httpx.AsyncClient, cluster: Cluster, caplog: pytest.LogCaptureFixture) -> None:
    """department(code:) (departments_by_code) and a region department's children (children_of: asked of
    every database) beside the region's own department, in one request."""
    _, provider = await _a_resource(cluster)
    query = (f'{{ a: department(code: "{provider}") {{ code name }} b: department(code: "650000-ZW") {{ code }} '
             f'c: department(code: "650000-ZW") {{ children {{ code }} }} }}')
    before = await _send(client, query)
    assert "errors" not in before and before["data"]["a"] is not None, before
    children = before["data"]["c"]["children"]
    async with _listed(cluster, "departments", "code"):
        body = await _send(client, query)
    assert body["data"]["a"] is None and body["data"]["b"] == before["data"]["b"], body
    assert body["data"]["c"]["children"] == [c for c in children if not c["code"].startswith(NODE)], body
    _reported(body)
    lines = [r.getMessage() for r in caplog.records if r.name == "govshare.catalog" and "not a text" in r.getMessage()]
    assert lines and all(f"database {NODE} " in line for line in lines), lines


async def test_a_resource_lookup_of_a_node_answering_a_list_costs_only_its_rows(client: httpx.AsyncClient,
                                                                                cluster: Cluster) -> None:
    """resource(code:) with its items and provider (resource_details), plain (rows_by_code), and as an
    entity (_entities), beside the region's resource."""
    code, _ = await _a_resource(cluster)
    query = (f'{{ a: resource(code: "{code}") {{ code provider {{ code }} dataItems {{ name }} }} '
             f'b: resource(code: "{REGION_RESOURCE}") {{ code provider {{ code }} dataItems {{ name }} }} '
             f'c: resource(code: "{code}") {{ code }} d: resource(code: "{REGION_RESOURCE}") {{ code }} }}')
    entities = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Resource { code } } }"""
    reps = {"r": [{"__typename": "Resource", "code": code}, {"__typename": "Resource", "code": REGION_RESOURCE}]}
    before = [await _send(client, query), await _send(client, entities, reps)]
    assert all("errors" not in b for b in before) and all(before[0]["data"].values()), before
    async with _listed(cluster, "resources", "code"):
        body = await _send(client, query)
        found = await _send(client, entities, reps)
    assert body["data"] == {**before[0]["data"], "a": None, "c": None}, body
    _reported(body)
    assert found["data"]["_entities"] == [None, before[1]["data"]["_entities"][1]], found
    _reported(found)


async def test_items_of_a_node_answering_a_list_for_their_resource_cost_only_its_items(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """_entities with dataItems (items_by_resource) of 650200's resource and the region's."""
    code, _ = await _a_resource(cluster)
    query = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Resource { code dataItems { name } } } }"""
    reps = {"r": [{"__typename": "Resource", "code": code}, {"__typename": "Resource", "code": REGION_RESOURCE}]}
    before = await _send(client, query, reps)
    assert "errors" not in before and all(e["dataItems"] for e in before["data"]["_entities"]), before
    async with _listed(cluster, "data_items", "resource_code"):
        body = await _send(client, query, reps)
    assert body["data"]["_entities"] == [{"code": code, "dataItems": []}, before["data"]["_entities"][1]], body
    _reported(body)


async def test_providers_a_node_answers_with_rows_not_its_own_beside_a_page_are_reported(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """A page of 650200's resources with their providers, 650200 answering departments through the view: each
    provider row names a list, not the provider, so none is served, and the node is reported (review-s8
    finding 8: they were null with no node reported, while a provider with an invalid value is reported)."""
    query = ('{ resources(first: 20, filter: {nodes: ["650200"]}) { edges { node { code provider { code } } } '
             f'unavailableNodes }} r: resource(code: "{REGION_RESOURCE}") {{ code provider {{ code }} }} }}')
    before = await _send(client, query)
    assert "errors" not in before, before
    own = [e["node"]["code"] for e in before["data"]["resources"]["edges"]
           if e["node"]["provider"] is not None and e["node"]["provider"]["code"].startswith(NODE)]
    assert own, before
    async with _listed(cluster, "departments", "code"):
        body = await _send(client, query)
    page = body["data"]["resources"]
    assert [e["node"]["code"] for e in page["edges"]] == [e["node"]["code"] for e in before["data"]["resources"]["edges"]]
    lost = [e["node"]["code"] for e in page["edges"] if e["node"]["provider"] is None]
    assert lost == own, body
    assert body["data"]["r"] == before["data"]["r"], body
    _reported(body)


async def test_the_data_catalog_of_a_node_answering_a_list_costs_only_that_node(client: httpx.AsyncClient,
                                                                               cluster: Cluster) -> None:
    """specs.load_catalogs groups items by their resource's code: a list there fails that database alone (the
    region's here: the demo's data catalog entries are the region's)."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    before, failed = await specs.load_catalogs(pools)
    assert not failed and before.get(REGION), (failed, sorted(before))
    async with _listed(cluster, "resources", "code", REGION):
        catalogs, failed = await specs.load_catalogs(pools)
    assert failed == [REGION] and REGION not in catalogs, failed
    assert catalogs == {db: entries for db, entries in before.items() if db != REGION}


async def test_usage_statistics_providers_of_a_node_answering_a_list_cost_only_its_rows(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """statistics.providers_of (usageStatistics' providers, through rows_by_code) with 650200's resources
    answered through the view: 650200 reported, the region's provider found."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    code, provider = await _a_resource(cluster)
    before, failures = await providers_of(pools, [code, REGION_RESOURCE])
    assert not failures and before[code]["provider_code"] == provider, failures
    async with _listed(cluster, "resources", "code"):
        found, failures = await providers_of(pools, [code, REGION_RESOURCE])
    assert list(found) == [REGION_RESOURCE] and found[REGION_RESOURCE] == before[REGION_RESOURCE]
    assert [(type(f), f.node, f.codes) for f in failures] == [(InvalidRows, NODE, [code])]  # type: ignore[attr-defined]


async def test_a_provider_a_node_answers_with_a_row_not_its_own_beside_a_lookup_is_reported(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """resource(code:) with its provider read beside it (resource_details), 650200 answering departments
    through the view: the provider is null and the node reported, the resource itself served."""
    code, _ = await _a_resource(cluster)
    query = f'{{ a: resource(code: "{code}") {{ code provider {{ code }} }} b: resource(code: "{REGION_RESOURCE}") {{ code provider {{ code }} }} }}'
    before = await _send(client, query)
    assert "errors" not in before and before["data"]["a"]["provider"] is not None, before
    async with _listed(cluster, "departments", "code"):
        body = await _send(client, query)
    assert body["data"] == {"a": {"code": code, "provider": None}, "b": before["data"]["b"]}, body
    _reported(body)
