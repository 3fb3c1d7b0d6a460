"""Catalog working copies and duty changes are trusted only about the database they are read from (README
trust model): a prefecture's rows under another node's resource code, or naming another node or provider,
are listed by no `catalogEntries` (nor its duty changes under another node's code by `openDutyChanges`), and `catalogEntry(code:)` does not serve them (a
draft 650200's database says is 650100-GA's is not shown to 650100-GA's registrar as its own); nor when
650200's server itself lets them through the SQL filters (tests/hostile_servers.py): the service checks
every row it reads again (resolvers/hosting.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from ...conftest import Cluster
from ...hostile_servers import filters_passing_everything
from .conftest import call, code_of
from .test_catalog import walk_to

pytestmark = pytest.mark.usefixtures("actors")

PLANTED_IN = "650200"
FOREIGN_CODE = "650100-Z91-000001"  # another node's code, node and provider, in 650200's database
FOREIGN_NODE = "650200-Z91-000002"  # 650200's code naming node 650100 and provider 650100-GA
# review-trust2: a submitted working copy (and an overdue duty) under a region code, held in 650200's database
REGION_CODE = "650000-Z91-000003"
PLANTED = [FOREIGN_CODE, FOREIGN_NODE]
INSERT_ENTRY = """insert into catalog_entries (code, node_code, provider_code, state, document, created_by, updated_by)
    values ($1, $3, $4, $5, $2::jsonb, 'planted', 'planted')"""
INSERT_DUTY = """insert into catalog_duty_changes (code, kind, changed_on, reference, due_on, recorded_by)
    values ($1, 'law', '2026-01-05', '冒名条例', '2026-01-26', 'planted')"""
ENTRY = "query($code: String!) { catalogEntry(code: $code) { code node providerCode state history { action } } }"


@asynccontextmanager
async def _planted(cluster: Cluster, document: str) -> AsyncIterator[None]:
    conn = await cluster.connect(PLANTED_IN)
    try:
        async with conn.transaction():
            for code in PLANTED:
                await conn.execute(INSERT_ENTRY, code, document, "650100", "650100-GA", "draft")
                await conn.execute(INSERT_DUTY, code)
            await conn.execute(INSERT_ENTRY, REGION_CODE, document, "650000", "650000-GA", "submitted")
            await conn.execute(INSERT_DUTY, REGION_CODE)
        yield
    finally:
        await conn.execute("delete from catalog_duty_changes where code = any($1::text[])", [*PLANTED, REGION_CODE])
        await conn.execute("delete from catalog_entries where code = any($1::text[])", [*PLANTED, REGION_CODE])
        await conn.close()


@asynccontextmanager
async def _hostile(cluster: Cluster, hostile: bool) -> AsyncIterator[None]:
    if not hostile:
        yield
        return
    async with filters_passing_everything(cluster, PLANTED_IN, equality=True):
        yield


@pytest.mark.parametrize("hostile", [False, True], ids=["honest server", "server passing every text filter"])
async def test_planted_working_copies_and_duties_are_not_served(client: httpx.AsyncClient, cluster: Cluster,
                                                                hostile: bool) -> None:
    code, _ = await walk_to(client, "draft")  # a real draft of 650100-GA, whose document the planted rows copy
    conn = await cluster.connect("650100")
    try:
        document = json.dumps(json.loads(await conn.fetchval("select document::text from catalog_entries "
                                                             "where code = $1", code)))
    finally:
        await conn.close()
    async with _planted(cluster, document), _hostile(cluster, hostile):
        listed = await call(client, "wf.region.reviewer", "{ catalogEntries { code } openDutyChanges { code } }")
        own = await call(client, "wf.registrar", ENTRY, code=code)
        lookups = {(user, planted): await call(client, user, ENTRY, code=planted)
                   for user in ("wf.registrar", "wf.region.reviewer") for planted in PLANTED}
    assert "errors" not in listed, listed
    entries = {e["code"] for e in listed["data"]["catalogEntries"]}
    duties = {d["code"] for d in listed["data"]["openDutyChanges"]}
    assert code in entries, "the region's reviewer lists every node's working copies"
    assert not entries & {*PLANTED, REGION_CODE}, entries & {*PLANTED, REGION_CODE}
    # a duty change names only a code: 650200's database is trusted about its own codes' duties, not another's
    assert FOREIGN_CODE not in duties and REGION_CODE not in duties and FOREIGN_NODE in duties, duties
    assert own["data"]["catalogEntry"]["code"] == code
    served = {key: body for key, body in lookups.items() if code_of(body) != "NOT_FOUND"}
    assert not served, served
