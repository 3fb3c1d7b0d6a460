"""A prefecture's api name cannot take a field or type of the fixed schema, nor stop the schema being
built (review-trust3 findings 1 and 2): the entry is left out and reported as a catalog finding."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from govshare.server import schemas

from ..conftest import Cluster
from ..helpers import gql

ATTACKER = "650200"
ROGUE = """insert into resources (code, node_code, classification, category, name_zh, provider_code, provider_level,
    format, update_cycle, share_class, open_attribute, status, data_table, data_scope, api_name)
    values ($1, '650200', 'department', 'population', '克拉玛依人口', '650200-GA', 'prefecture', 'database', 'daily',
            'UNCONDITIONAL', 'open', 'published', 'population', 'provider', $2)"""
ROGUE_ITEMS = """insert into data_items (resource_code, name, position, title_zh, data_type, share_class, is_key)
    values ($1, 'citizen_id', 0, '公民身份号码', 'string', 'UNCONDITIONAL', true),
           ($1, 'name', 1, '姓名', 'string', 'UNCONDITIONAL', false)"""
# The region's entries only: 650200's own new entry may add itself to an all-nodes count.
CATALOG_QUERY = '{ resources(first: 1, filter: {nodes: ["650000"]}) { totalCount } nodes { code } me { department } }'


def _findings(ready: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in ready["schema"]["catalog_findings"] if f["resource"] == code]


@pytest.mark.parametrize(("code", "api"), [("650200-B01-990311", "resources"), ("650200-B01-990312", "nodes"),
                                           ("650200-B01-990313", "me"), ("650200-B01-990314", "verify")])
async def test_an_api_name_cannot_replace_a_root_field_of_the_catalog(client: httpx.AsyncClient, cluster: Cluster,
                                                                      code: str, api: str) -> None:
    holder = client.app.state.schemas  # type: ignore[attr-defined]
    pools = client.app.state.pools  # type: ignore[attr-defined]
    before, _ = await gql(client, CATALOG_QUERY)
    assert "errors" not in before, before
    conn = await cluster.connect(ATTACKER)
    try:
        async with conn.transaction():
            await conn.execute(ROGUE, code, api)
            await conn.execute(ROGUE_ITEMS, code)
        await holder.refresh(pools)
        after, _ = await gql(client, CATALOG_QUERY)
        assert after == before, f"with 650200's api name {api!r}: {after}"
        assert code not in {s.code for s in holder.current.specs}
        ready = (await client.get("/readyz")).json()
        reserved = [f for f in _findings(ready, code) if f["kind"] == "api_name_reserved"]
        assert [f["database"] for f in reserved] == [ATTACKER], ready["schema"]
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
        await holder.refresh(pools)
    assert code not in {f.resource for f in holder.current.findings}


@pytest.mark.parametrize(("code", "api"), [("650200-B01-990315", "resource"), ("650200-B01-990316", "audit"),
                                           ("650200-B01-990317", "auditRecord")])
async def test_an_api_name_whose_types_collide_is_left_out_and_the_schema_still_builds(
        client: httpx.AsyncClient, cluster: Cluster, code: str, api: str) -> None:
    """``resource`` would generate ``ResourceConnection``, the catalog's own type (``audit``: ``AuditRecord``,
    ``auditRecord``: ``AuditRecordConnection``): building failed, and from then on no catalog change of any
    node was applied."""
    holder = client.app.state.schemas  # type: ignore[attr-defined]
    pools = client.app.state.pools  # type: ignore[attr-defined]
    before, _ = await gql(client, CATALOG_QUERY)
    conn = await cluster.connect(ATTACKER)
    try:
        async with conn.transaction():
            await conn.execute(ROGUE, code, api)
            await conn.execute(ROGUE_ITEMS, code)
        await holder.refresh(pools)  # raised DuplicatedTypeName before
        after, _ = await gql(client, CATALOG_QUERY)
        assert after == before
        assert code not in {s.code for s in holder.current.specs}
        assert "api_name_reserved" in {f.kind for f in holder.current.findings if f.resource == code}
        assert "population" in {s.api_name for s in holder.current.specs}
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
        await holder.refresh(pools)
    assert code not in {f.resource for f in holder.current.findings}


async def test_a_build_that_still_fails_keeps_the_previous_schema(client: httpx.AsyncClient, cluster: Cluster,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure no check foresaw, even once each failing entry is dropped (injected here): the service
    keeps serving the previous schema and its resources, and reports the failure; refresh never raises."""
    code = "650200-B01-990318"
    holder = client.app.state.schemas  # type: ignore[attr-defined]
    pools = client.app.state.pools  # type: ignore[attr-defined]
    previous = holder.current

    def failing(specs: object) -> object:
        raise RuntimeError("unforeseen")

    conn = await cluster.connect(ATTACKER)
    try:
        async with conn.transaction():
            await conn.execute(ROGUE, code, "krmyPopulation")
            await conn.execute(ROGUE_ITEMS, code)
        with monkeypatch.context() as patch:
            patch.setattr(schemas, "build_checked", failing)
            assert await holder.refresh(pools) is False
        assert holder.current.schema is previous.schema and holder.current.specs == previous.specs
        assert holder.current.number == previous.number
        assert "schema_build_failed" in {f.kind for f in holder.current.findings}
        body, _ = await gql(client, CATALOG_QUERY)
        assert "errors" not in body, body
    finally:
        await conn.execute("delete from resources where code = $1", code)
        await conn.close()
        await holder.refresh(pools)
    assert "schema_build_failed" not in {f.kind for f in holder.current.findings}
    assert code not in {s.code for s in holder.current.specs}
