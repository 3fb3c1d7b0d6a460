"""The demo grants go through the one grant validation, so they look like grants made over GraphQL or with
``govshare grant create``: whole calendar days of China Standard Time, items in the validator's order."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from govshare.core.errors import BadRequest
from govshare.federation.nodes import NodePools
from govshare.resolvers.validation import CST
from govshare.seed import grants as seeded
from govshare.seed.grants import DEMO_GRANTS, demo_grants, seed_grants

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql

SELECT = """select id, grantee_department, items, purpose, valid_from, valid_until, row_scope, status, revoked_by,
    revoke_reason, share_modes, grantee_sector from grants where created_by = 'seed' order by id"""


@pytest.fixture
async def pools(cluster: Cluster) -> AsyncIterator[NodePools]:
    opened = NodePools(cluster.topology, min_size=0, max_size=2)
    await opened.open()
    yield opened
    await opened.close()


async def test_demo_grants_are_whole_days_as_the_validator_makes_them(cluster: Cluster) -> None:
    conn = await cluster.connect("650000")
    try:
        rows = await conn.fetch(SELECT)
    finally:
        await conn.close()
    wanted = demo_grants(cluster.topology)
    assert wanted == list(DEMO_GRANTS)  # every grantee's node is among the tests' (ids as in the demo)
    assert [(r["id"], r["grantee_department"], r["purpose"]) for r in rows] == [
        (i, g.department, g.purpose) for i, g in enumerate(wanted, 1)]
    today = datetime.now(UTC).astimezone(CST).date()
    for row, demo in zip(rows, wanted, strict=True):
        start, end = row["valid_from"].astimezone(CST), row["valid_until"].astimezone(CST)
        assert start.time() == end.time() == time(0), row  # 00:00 CST: a day starts, the day after `until` ends
        assert start.date() == today + timedelta(days=demo.first_day)
        assert end.date() == today + timedelta(days=demo.last_day + 1)
        assert row["items"] == sorted(demo.items)
        assert tuple(row["share_modes"]) == demo.modes
        assert row["grantee_sector"] == "government"
        assert (row["status"], row["revoke_reason"], row["revoked_by"]) == (
            ("revoked", demo.revoked, "seed") if demo.revoked else ("active", None, None))
    assert rows[0]["row_scope"] == '{"division_codes": ["650100"]}'


async def test_the_seed_writes_them_once(pools: NodePools) -> None:
    assert await seed_grants(pools) == 0  # the session's seed wrote them already


async def test_a_grant_the_validator_refuses_stops_the_seed(pools: NodePools, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    # name is UNCONDITIONAL: no grant can open it, the demo's no more than anyone's (nothing is written).
    wrong = dataclasses.replace(DEMO_GRANTS[0], items=("name",))
    monkeypatch.setattr(seeded, "DEMO_GRANTS", (wrong,))
    monkeypatch.setattr(seeded, "SEEDED_BY", "seed-test")  # as on a database the seed has not written grants to
    with pytest.raises(BadRequest, match="item name is UNCONDITIONAL") as refused:
        await seed_grants(pools)
    assert refused.value.extensions["field"] == "items"


async def test_graphql_shows_a_seeded_grant_as_one_it_made(client: httpx.AsyncClient) -> None:
    """validUntil of the seeded grant 2 is 00:00 China Standard Time (16:00 UTC), as for a grant made with
    createGrant (tests/resolvers/test_grant_admin.py); before, it was the seed's own clock time."""
    body, _ = await gql(client, "{ grants(department: \"650000-RS\") { id validFrom validUntil items state } }",
                        **as_user("supervisor.region"))
    grant = next(g for g in body["data"]["grants"] if g["id"] == 2)
    assert grant["validFrom"].endswith("T16:00:00+00:00") and grant["validUntil"].endswith("T16:00:00+00:00")
    assert grant["items"] == ["address", "birth_date", "citizen_id", "ethnicity", "phone"]
    assert grant["state"] == "ACTIVE"


async def test_two_seeds_at_once_write_the_demo_grants_once(cluster: Cluster,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Both seeds find no seeded grant; without the lock both wrote theirs (closing7 "Left"). Each seed's
    writes are slowed so that the second checks while the first has not committed."""
    monkeypatch.setattr(seeded, "DEMO_GRANTS", (DEMO_GRANTS[3],))  # a revoked grant: opens nothing meanwhile
    monkeypatch.setattr(seeded, "SEEDED_BY", "seed-race")
    store = seeded.grants.store

    async def slow_store(*args: Any, **kwargs: Any) -> int:
        await asyncio.sleep(0.5)
        return await store(*args, **kwargs)

    monkeypatch.setattr(seeded.grants, "store", slow_store)
    opened = NodePools(cluster.topology, min_size=0, max_size=4)
    await opened.open()
    conn = await cluster.connect("650000")
    try:
        written = await asyncio.gather(seed_grants(opened), seed_grants(opened))
        assert sorted(written) == [0, 1]
        assert await conn.fetchval("select count(*) from grants where created_by = 'seed-race'") == 1
    finally:
        await conn.execute("delete from grants where created_by = 'seed-race'")
        await conn.close()
        await opened.close()
