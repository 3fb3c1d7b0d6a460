"""A verification answers from one node's row, never from one node over another (review-trust3 findings 5
and 6): a key that names its node (a citizen ID's division) is asked of that node alone; a node that could
hold the key and does not answer refuses the verification (NODE_UNAVAILABLE); rows of one key from several
nodes refuse it (AMBIGUOUS_SOURCE); a row that is not of the key asked for refuses it too.

The attacker owns 650200's PostgreSQL. Every test plants its rows or changes its server and puts
everything back in ``finally``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from govshare.resolvers.specs import DataItemSpec, DataResourceSpec
from govshare.resolvers.verification import key_node

from ..conftest import Cluster
from ..helpers import gql, token
from .test_audit import _records

ATTACKER = "650200"
DEPARTMENT = "650100-JY"  # verifies nothing elsewhere in the suite: its rate limit is this module's own
VERIFY = """query($k: String!, $v: [VerifyValue!]!) { verify(resource: "population", key: $k, values: $v) {
    found items { item outcome } } }"""
PLANT = """insert into population (citizen_id, node_code, name, sex, birth_date, ethnicity, address, division_code,
    household_type, registered_on) values ($1, $2, $3, '男', '1999-01-01', '汉族', '某地', $2, '城镇', '2000-01-01')"""
# Beijing's division: a key that names no node of the topology.
NOWHERE = "110101199901017777"
BPCHAR_EQ = "oprname = '=' and oprleft = 'bpchar'::regtype and oprright = 'bpchar'::regtype"


async def _verify(client: httpx.AsyncClient, key: str, name: str, **headers: str) -> dict[str, Any]:
    body, _ = await gql(client, VERIFY, {"k": key, "v": [{"item": "name", "value": name}]},
                        Authorization=f"Bearer {token(DEPARTMENT)}", **headers)
    return body


def _error(body: dict[str, Any]) -> str:
    assert body["data"] == {"verify": None}, body
    return str(body["errors"][0]["extensions"]["code"])


@pytest.fixture
def asked(client: httpx.AsyncClient) -> Iterator[list[str]]:
    """The databases each verification statement went to."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    original = pools.fetch
    databases: list[str] = []

    async def fetch(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        if name == "verify":
            databases.append(database)
        return await original(database, name, sql, *args, **kwargs)

    pools.fetch = fetch
    try:
        yield databases
    finally:
        pools.fetch = original


@asynccontextmanager
async def planted(cluster: Cluster, *rows: tuple[str, str, str, str]) -> AsyncIterator[None]:
    """(database, citizen id, node code, name) rows, removed afterwards."""
    try:
        for database, citizen, node, name in rows:
            conn = await cluster.connect(database)
            try:
                await conn.execute(PLANT, citizen, node, name)
            finally:
                await conn.close()
        yield
    finally:
        for database, citizen, node, _ in rows:
            conn = await cluster.connect(database)
            try:
                await conn.execute("delete from population where citizen_id = $1 and node_code = $2", citizen, node)
            finally:
                await conn.close()


@asynccontextmanager
async def locked(cluster: Cluster, database: str) -> AsyncIterator[None]:
    """``database``'s population table does not answer (a lock held on it: a slow node)."""
    conn = await cluster.connect(database)
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute("lock table population in access exclusive mode")
        yield
    finally:
        await tx.rollback()
        await conn.close()


async def _an_urumqi_citizen(cluster: Cluster) -> tuple[str, str]:
    conn = await cluster.connect("650100")
    try:
        row = await conn.fetchrow("select citizen_id, name from population where node_code = '650100' "
                                  "order by citizen_id limit 1")
    finally:
        await conn.close()
    assert row is not None
    return row["citizen_id"], row["name"]


def _register(key: str) -> DataResourceSpec:
    item = DataItemSpec(key, "string", "UNCONDITIONAL", None, None, True, {})
    return DataResourceSpec("650000-B01-000001", "650000", "register", "register", "all_nodes", "650000-GA", {},
                            "", (item,))


def test_the_node_a_key_names(cluster: Cluster) -> None:
    topology = cluster.topology
    citizens, entities, licences = _register("citizen_id"), _register("uscc"), _register("licence_no")
    assert key_node(topology, citizens, "650102199901017777") == "650100"  # Urumqi's district: its prefecture
    assert key_node(topology, citizens, " 654300199901017777 ") == "654300"  # hosted by the region
    assert key_node(topology, citizens, "650000199901017777") == "650000"
    assert key_node(topology, citizens, NOWHERE) is None  # Beijing: no node of ours
    assert key_node(topology, citizens, "65010") is None
    assert key_node(topology, citizens, "６５０１０２199901017777") is None  # not ASCII digits
    assert key_node(topology, entities, "91650200MA0000000X") == "650200"  # credit code: characters 3-8
    assert key_node(topology, licences, "DZZZ65020000000001") is None  # names no division by any standard


async def test_an_urumqi_citizen_is_asked_of_urumqi_alone_and_recorded_so(
        client: httpx.AsyncClient, cluster: Cluster, asked: list[str]) -> None:
    citizen, name = await _an_urumqi_citizen(cluster)
    mine = uuid.uuid4().hex
    body = await _verify(client, citizen, name, **{"X-Request-Id": mine})
    assert body["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MATCH"}]}, body
    # (run again when grants changed under it, as every query is: so a set)
    assert set(asked) == {"650100"}
    [record] = await _records(cluster, mine)
    assert (record["outcome"], record["nodes"], record["row_count"]) == ("ok", ["650100"], 1)


async def test_a_key_its_node_does_not_hold_is_asked_of_the_others(
        client: httpx.AsyncClient, cluster: Cluster, asked: list[str]) -> None:
    """Someone whose ID names Urumqi, registered in Karamay since: Urumqi says it does not hold the key,
    then the other databases are asked, and Karamay's row (of its own node) answers."""
    moved = "650100199901017772"
    async with planted(cluster, (ATTACKER, moved, ATTACKER, "迁入者")):
        body = await _verify(client, moved, "迁入者")
    assert body["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MATCH"}]}, body
    # Urumqi first, then the others (all over again if grants changed under it)
    assert asked[0] == "650100" and sorted(asked[1:3]) == ["650000", ATTACKER] and len(asked) % 3 == 0


async def test_verification_of_another_nodes_citizen_is_not_answered_by_650200(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """review-trust3 finding 5: 650200 plants its own row with an Urumqi citizen's ID and the name it wants
    confirmed. While Urumqi's database does not answer, the verification is refused; it never says MATCH on
    650200's row."""
    citizen, _ = await _an_urumqi_citizen(cluster)
    fake_name = "冒名顶替者"
    async with planted(cluster, (ATTACKER, citizen, ATTACKER, fake_name)):
        async with locked(cluster, "650100"):
            body = await _verify(client, citizen, fake_name)
        # Urumqi answering: its own row decides, whatever 650200 holds.
        answered = await _verify(client, citizen, fake_name)
    assert _error(body) == "NODE_UNAVAILABLE"
    assert answered["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MISMATCH"}]}


async def test_rows_of_one_key_from_two_nodes_are_refused_as_ambiguous(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """A key that names no node is asked of every database: when two nodes hold it, neither answers for the
    other (before: the first database in topology order did). The refusal is audited."""
    mine = uuid.uuid4().hex
    async with planted(cluster, ("650100", NOWHERE, "650100", "外省甲")):
        alone = await _verify(client, NOWHERE, "外省甲")
        async with planted(cluster, (ATTACKER, NOWHERE, ATTACKER, "外省甲")):
            body = await _verify(client, NOWHERE, "外省甲", **{"X-Request-Id": mine})
    assert alone["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MATCH"}]}, alone
    assert _error(body) == "AMBIGUOUS_SOURCE"
    assert body["errors"][0]["extensions"]["nodes"] == ["650100", ATTACKER]
    [record] = await _records(cluster, mine)
    assert (record["outcome"], record["row_count"], record["items_returned"]) == ("error", 0, ["name"])


async def test_a_node_that_could_hold_the_key_and_does_not_answer_refuses_the_verification(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """Urumqi holds the key (which names no node), 650200 does not answer: 650200 could hold another row of
    it, so no answer is given (before: Urumqi's row answered)."""
    async with planted(cluster, ("650100", NOWHERE, "650100", "外省乙")), locked(cluster, ATTACKER):
        body = await _verify(client, NOWHERE, "外省乙")
    assert _error(body) == "NODE_UNAVAILABLE"
    assert body["errors"][0]["extensions"]["node"] == ATTACKER


@asynccontextmanager
async def equality_passing_everything(cluster: Cluster, database: str) -> AsyncIterator[None]:
    """``database``'s owner makes ``bpchar = bpchar`` true for any two values, and drops the indexes that
    would still compare citizen ids honestly: a lookup by citizen_id returns any row."""
    conn = await cluster.connect(database)
    honest = await conn.fetchval(f"select oprcode::oid from pg_operator where {BPCHAR_EQ}")
    indexes = await conn.fetch("select indexname, indexdef from pg_indexes where tablename = 'population' "
                               "and indexdef like '%citizen_id%' and indexname <> 'population_pkey'")
    try:
        await conn.execute("create function public.hostile_true(bpchar, bpchar) returns boolean language sql "
                           "immutable as 'select true'")
        await conn.execute("alter table population drop constraint population_pkey")
        for index in indexes:
            await conn.execute(f'drop index "{index["indexname"]}"')
        lie = await conn.fetchval("select 'public.hostile_true(bpchar, bpchar)'::regprocedure::oid")
        await conn.execute(f"update pg_operator set oprcode = $1::oid::regproc where {BPCHAR_EQ}", lie)
        try:
            yield
        finally:
            await conn.execute(f"update pg_operator set oprcode = $1::oid::regproc where {BPCHAR_EQ}", honest)
    finally:
        await conn.execute("alter table population add primary key (citizen_id)")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("drop function if exists public.hostile_true(bpchar, bpchar)")
        await conn.close()


async def test_a_row_that_is_not_of_the_key_refuses_the_verification(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """A key no node holds reaches 650200, whose ``=`` says yes to its own rows of other keys: they are its
    own node's rows, but not the key's, and the verification is refused (before: found)."""
    async with equality_passing_everything(cluster, ATTACKER):
        body = await _verify(client, "650100190001010000", "张三")
    assert _error(body) == "NODE_UNAVAILABLE"
    assert body["errors"][0]["extensions"]["node"] == ATTACKER


CAPTURE = """create function public.hostile_capture(bpchar, bpchar) returns boolean language plpgsql volatile as
    $$ begin insert into public.hostile_captured values ($2::text); return bpchareq($1, $2); end $$"""


async def test_a_verification_of_an_urumqi_citizen_is_not_shown_to_650200(client: httpx.AsyncClient,
                                                                         cluster: Cluster) -> None:
    """review-trust3 finding 6 (the reviewer's probe): 650200's owner records every key its ``=`` compares,
    once the primary key no longer serves the lookup. The verification of a citizen Urumqi holds never
    reaches 650200."""
    citizen, _ = await _an_urumqi_citizen(cluster)
    conn = await cluster.connect(ATTACKER)
    honest = await conn.fetchval(f"select oprcode::oid from pg_operator where {BPCHAR_EQ}")
    try:
        await conn.execute("create table public.hostile_captured (v text)")
        await conn.execute("grant insert on public.hostile_captured to govshare_service")
        await conn.execute(CAPTURE)
        await conn.execute("alter table population drop constraint population_pkey")
        lie = await conn.fetchval("select 'public.hostile_capture(bpchar, bpchar)'::regprocedure::oid")
        try:
            await conn.execute(f"update pg_operator set oprcode = $1::oid::regproc where {BPCHAR_EQ}", lie)
            body = await _verify(client, citizen, "张三")
            # The capture works: a key Urumqi does not hold goes on to 650200, which records it.
            elsewhere = await _verify(client, "650100190001010000", "张三")
        finally:
            await conn.execute(f"update pg_operator set oprcode = $1::oid::regproc where {BPCHAR_EQ}", honest)
        captured = [r["v"] for r in await conn.fetch("select distinct v from public.hostile_captured")]
    finally:
        await conn.execute("alter table population add primary key (citizen_id)")
        await conn.execute("drop function if exists public.hostile_capture(bpchar, bpchar)")
        await conn.execute("drop table if exists public.hostile_captured")
        await conn.close()
    assert body["data"]["verify"]["found"] is True, body
    assert elsewhere["data"]["verify"]["found"] is False, elsewhere
    assert citizen not in captured, f"650200 saw the verified citizen {citizen}"
    assert "650100190001010000" in captured
