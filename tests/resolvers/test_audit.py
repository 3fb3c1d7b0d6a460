"""The audit trail: a record for every data query and verification, keyed chain, checkpoints, fail closed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.core.settings import Settings
from govshare.resolvers import audit, audit_checkpoints, audit_verdicts, shared_data

from ..conftest import Cluster
from ..helpers import AUDIT_KEY, gql, token
from .conftest import TABLE_DEPT

KEY = AUDIT_KEY.encode()
RECORD = """select request_id, user_id, department, action, purpose, grant_ids, resource, items_returned,
    items_denied, row_count, nodes, outcome from audit_log where client_request_id = $1 order by seq"""
# Break glass, as the database owner: the append-only triggers off for one transaction.
GLASS_OFF = "alter table audit_log disable trigger audit_log_append_only"
GLASS_ON = "alter table audit_log enable trigger audit_log_append_only"


async def _records(cluster: Cluster, client_request_id: str) -> list[dict[str, object]]:
    conn = await cluster.connect("650000")
    try:
        return [dict(r) for r in await conn.fetch(RECORD, client_request_id)]
    finally:
        await conn.close()


async def _checkpoints(cluster: Cluster, settings: Settings) -> list[audit_checkpoints.Checkpoint]:
    found = audit_checkpoints.read_checkpoint_file(settings.audit_checkpoint_file or settings.data_dir, "650000")
    for node in ("650100", "650200"):
        conn = await cluster.connect(node)
        try:
            found += await audit_checkpoints.read_checkpoints(conn, "650000", f"node {node}")
        finally:
            await conn.close()
    return found


async def _verdict(cluster: Cluster, settings: Settings) -> audit_verdicts.Verdict:
    checkpoints = await _checkpoints(cluster, settings)
    conn = await cluster.connect("650000")
    try:
        return await audit_verdicts.verify_chain(conn, KEY, checkpoints)
    finally:
        await conn.close()


@pytest.fixture
async def region(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    conn = await cluster.connect("650000")
    # The test servers commit asynchronously; what this connection repairs must survive the region
    # restarts of later tests.
    await conn.execute("set synchronous_commit = on")
    try:
        yield conn
    finally:
        await conn.close()


async def test_allowed_and_denied_reads_are_recorded(client: httpx.AsyncClient, cluster: Cluster,
                                                     grants: dict[str, int]) -> None:
    mine = uuid.uuid4().hex
    body, response = await gql(client, """{ population(first: 7, purpose: "P-active") { nodes { name birthDate phone } }
        refused: population(filter: {phone: {eq: "1"}}) { nodes { name } } }""",
                               Authorization=f"Bearer {token(TABLE_DEPT)}", **{"X-Request-Id": mine})
    assert len(body["data"]["population"]["nodes"]) == 7
    records = await _records(cluster, mine)
    assert len(records) == 2
    read = next(r for r in records if r["outcome"] == "ok")
    # The recorded request id is the server's own (the one the answer carries), not the caller's.
    assert read["request_id"] == response.headers["x-request-id"] != mine
    assert read == {
        "request_id": read["request_id"], "user_id": f"demo-user@{TABLE_DEPT}", "department": TABLE_DEPT,
        "action": "read", "purpose": "P-active", "grant_ids": [grants["active"]], "resource": "650000-B01-000001",
        "items_returned": ["name", "birth_date"], "items_denied": ["phone"], "row_count": 7,
        "nodes": ["650000", "650100", "650200", "653000", "654300"], "outcome": "ok"}
    refused = next(r for r in records if r["outcome"] == "refused")
    assert refused["items_denied"] == ["phone"] and refused["row_count"] == 0


async def test_a_callers_request_id_is_never_trusted_as_unique(client: httpx.AsyncClient, cluster: Cluster) -> None:
    reused = uuid.uuid4().hex
    for _ in range(2):
        await gql(client, "{ population(first: 1) { nodes { name } } }", **{"X-Request-Id": reused})
    records = await _records(cluster, reused)
    assert len(records) == 2 and records[0]["request_id"] != records[1]["request_id"]


async def test_a_callers_request_id_of_any_printable_ascii_is_recorded(client: httpx.AsyncClient,
                                                                      cluster: Cluster) -> None:
    # trial-s8 F1: a short id (or one with characters beyond [A-Za-z0-9._:-]) was dropped silently
    tag = uuid.uuid4().hex
    short, odd, longest = tag[:6], f'{tag[:8]}/"q"\\<x>@#~!', (tag * 4)[:128]
    for offered in (short, odd, longest, "1"):
        body, response = await gql(client, "{ population(first: 1) { nodes { name } } }", **{"X-Request-Id": offered})
        assert response.status_code == 200 and "errors" not in body
    for offered in (short, odd, longest):
        [record] = await _records(cluster, offered)
        assert record["action"] == "read" and record["request_id"] != offered


async def test_a_callers_request_id_outside_the_rule_is_refused_not_dropped(client: httpx.AsyncClient,
                                                                           cluster: Cluster) -> None:
    tag = uuid.uuid4().hex
    for offered in (f"{tag} x", f"{tag}\tx", f"{tag}\x7fx", f"{tag}é", "x" * 129, f"{tag}\u00a0"):
        response = await client.post("/graphql", json={"query": "{ population(first: 1) { nodes { name } } }"},
                                     headers={"X-Request-Id": offered.encode("latin-1")})
        assert response.status_code == 400, offered
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "BAD_REQUEST", "header": "X-Request-Id", "pattern": "[!-~]{1,128}",
                                       "rule": "1 to 128 printable ASCII characters without spaces (! to ~)"}
        assert "X-Request-Id" in error["message"] and "data" not in response.json()
        assert response.headers["x-request-id"] != offered  # the answer carries the server's own id
        assert await _records(cluster, offered) == []  # refused before anything ran: no data, no record
    # an empty header is no id (nothing to keep): the query is answered, its record has none
    body, response = await gql(client, "{ population(first: 1) { nodes { name } } }", **{"X-Request-Id": ""})
    assert response.status_code == 200 and len(body["data"]["population"]["nodes"]) == 1


async def test_verifications_are_recorded(client: httpx.AsyncClient, cluster: Cluster) -> None:
    mine = uuid.uuid4().hex
    await gql(client, """{ verify(resource: "population", key: "650100190001010005",
        values: [{item: "name", value: "x"}, {item: "biometric_template_id", value: "y"}]) { found } }""",
              **{"X-Request-Id": mine})
    [record] = await _records(cluster, mine)
    assert (record["action"], record["items_returned"], record["items_denied"], record["outcome"]) == (
        "verify", ["name"], ["biometric_template_id"], "not_found")


async def test_a_request_failing_inside_the_server_leaves_an_error_record(
        client: httpx.AsyncClient, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug after the nodes answered")

    monkeypatch.setattr(shared_data, "merge_resumable", broken)
    mine = uuid.uuid4().hex
    body, _ = await gql(client, "{ population(first: 3) { nodes { name } } }", **{"X-Request-Id": mine})
    assert body["data"] == {"population": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INTERNAL"]
    [record] = await _records(cluster, mine)
    assert (record["action"], record["resource"], record["outcome"]) == ("read", "650000-B01-000001", "error")


async def test_concurrent_requests_share_batches_and_the_chain_stays_verifiable(
        client: httpx.AsyncClient, cluster: Cluster, settings: Settings) -> None:
    trail = audit._trails[client.app.state.pools]  # type: ignore[attr-defined]
    mine = uuid.uuid4().hex
    before = trail.batches
    answers = await asyncio.gather(*(gql(client, "{ legalEntities(first: 1) { nodes { name } } }",
                                         **{"X-Request-Id": mine}) for _ in range(40)))
    assert all("errors" not in body for body, _ in answers)
    assert len(await _records(cluster, mine)) == 40
    assert trail.batches - before < 40, "group commit: several requests' records in one transaction"
    verdict = await _verdict(cluster, settings)
    assert verdict.problems == [] and verdict.keyed == verdict.records


async def test_two_writers_rechain_onto_each_other_and_the_chain_stays_verifiable(
        client: httpx.AsyncClient, cluster: Cluster, settings: Settings) -> None:
    # Another process appending to the same lane (two processes on one lane: a lease lost and taken
    # meanwhile, or no lane free): its trail and ours each cache a head the other moves.
    trail = audit._trails[client.app.state.pools]  # type: ignore[attr-defined]
    assert trail.lane > 0, "the app appends to the lane it leased"
    other = audit.AuditTrail(client.app.state.pools, KEY, trail.lane)  # type: ignore[attr-defined]
    mine = uuid.uuid4().hex

    async def other_process(n: int) -> int:
        return await other.append(audit.AuditRecord(f"other-{n}", "u", "650000-GA", "read", None,
                                                    "650000-B01-000001", client_request_id=mine))

    async def ours() -> None:
        await gql(client, "{ legalEntities(first: 1) { nodes { name } } }", **{"X-Request-Id": mine})

    rechained = trail.rechains + other.rechains
    for _ in range(5):
        await asyncio.gather(*(other_process(n) for n in range(5)), *(ours() for _ in range(5)))
    await other.close()
    assert len(await _records(cluster, mine)) == 50
    # Each writer's cached head was moved by the other at least once (the contention operators see in
    # govshare_audit_rechains_total).
    assert trail.rechains + other.rechains > rechained
    assert (await _verdict(cluster, settings)).problems == []


async def test_audit_log_is_append_only_for_everyone(client: httpx.AsyncClient, region: asyncpg.Connection) -> None:
    await gql(client, "{ population(first: 1) { nodes { name } } }")
    for statement in ("update audit_log set row_count = 0", "delete from audit_log where seq = 1",
                      "truncate audit_log", "delete from audit_checkpoints"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await region.execute(statement)  # the owner (a superuser here) included


async def test_a_rewritten_record_is_found_even_with_the_chain_recomputed(
        client: httpx.AsyncClient, cluster: Cluster, settings: Settings, region: asyncpg.Connection) -> None:
    for _ in range(3):
        await gql(client, "{ population(first: 2) { nodes { name } } }")
    assert (await _verdict(cluster, settings)).problems == []
    lane = client.app.state.audit_trail.lane  # type: ignore[attr-defined]
    victims = [dict(r) for r in await region.fetch(
        "select * from audit_log where lane = $1 order by lane_seq desc limit 2", lane)][::-1]
    edited = victims[0]["seq"]
    # The insider's edit: change a record, then recompute every later link with the database's own functions.
    async with region.transaction():
        await region.execute(GLASS_OFF)
        await region.execute("update audit_log set row_count = 999 where seq = $1", edited)
        for seq in (victims[0]["seq"], victims[1]["seq"]):
            await region.execute("""update audit_log a set prev_hash = p.hash from audit_log p
                where a.seq = $1 and p.lane = a.lane and p.lane_seq = a.lane_seq - 1""", seq)
            await region.execute("update audit_log a set hash = audit_hash(a.prev_hash, audit_payload(a)) where seq = $1",
                                 seq)
        await region.execute(GLASS_ON)
    try:
        verdict = await _verdict(cluster, settings)
        assert verdict.problems and verdict.problems[0].kind == "rewritten"
        assert verdict.problems[0].first_seq == edited
    finally:
        async with region.transaction():
            await region.execute(GLASS_OFF)
            for victim in victims:
                await region.execute("update audit_log set row_count = $2, prev_hash = $3, hash = $4 where seq = $1",
                                     victim["seq"], victim["row_count"], victim["prev_hash"], victim["hash"])
            await region.execute(GLASS_ON)
    assert (await _verdict(cluster, settings)).problems == []


async def test_deleting_the_newest_records_is_reported_against_the_checkpoints(
        client: httpx.AsyncClient, cluster: Cluster, settings: Settings, region: asyncpg.Connection) -> None:
    for _ in range(3):
        await gql(client, "{ population(first: 2) { nodes { name } } }")
    await client.app.state.checkpointer.checkpoint()  # type: ignore[attr-defined]
    lane = client.app.state.audit_trail.lane  # type: ignore[attr-defined]
    victims = [dict(r) for r in await region.fetch(
        "select * from audit_log where lane = $1 order by lane_seq desc limit 2", lane)]
    head = victims[0]["lane_seq"]
    checkpoints = [c for c in await _checkpoints(cluster, settings) if (c.lane, c.seq) == (lane, head)]
    assert {c.source.split("/")[-1] for c in checkpoints} == {"node 650100", "node 650200", "audit-checkpoints.jsonl"}
    assert all(c.valid(KEY) for c in checkpoints)
    async with region.transaction():
        await region.execute(GLASS_OFF)
        await region.execute("delete from audit_log where lane = $1 and lane_seq >= $2", lane, head - 1)
        await region.execute(GLASS_ON)
    try:
        verdict = await _verdict(cluster, settings)
        # the first deleted record by lane_seq; its global seq went with it (nothing after it bounds it)
        assert [(p.kind, p.lane_seq, p.first_seq, p.lane) for p in verdict.problems][:1] == [
            ("truncated", victims[1]["lane_seq"], None, lane)]
        # without the checkpoints the chain alone looks intact: that is why they exist
        assert (await audit_verdicts.verify_chain(region, KEY, [])).problems == []
    finally:
        columns = list(victims[0])
        for victim in victims[::-1]:
            await region.execute(f"insert into audit_log ({', '.join(columns)}) values "
                                 f"({', '.join(f'${i + 1}' for i in range(len(columns)))})", *victim.values())
    assert (await _verdict(cluster, settings)).problems == []


VERIFY_ENTITY = """query($k: String!) { verify(resource: "legalEntities", key: $k, values: [{item: "name", value: "x"}])
    { found } }"""
REFUSE_RECORDS = """create function public.test_refuse_records() returns trigger language plpgsql as
    $$ begin raise exception 'test: no record is written'; end $$;
    create trigger test_refuse_records before insert on audit_log for each row execute function public.test_refuse_records()"""


async def test_no_audit_record_no_data(client: httpx.AsyncClient, cluster: Cluster) -> None:
    conn = await cluster.connect("650100")
    entity = await conn.fetchval("select uscc from legal_entities limit 1")
    await conn.close()
    cluster.stop("650000")  # the audit trail lives on the region database
    try:
        body, response = await gql(client, "{ population(first: 5, filter: {nodes: [\"650100\", \"650200\"]}) "
                                           "{ nodes { name sex } } }")
        assert response.status_code == 200
        assert body["data"] == {"population": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["AUDIT_UNAVAILABLE"]
    finally:
        cluster.start("650000")
    # verify asks every database that could hold the key (the region's too) and takes its rate limit from
    # the region's: so every database answers here and the record alone cannot be written (the region's
    # server refuses it): only the missing audit record stops the answer.
    owner = await cluster.connect("650000")
    try:
        await owner.execute(REFUSE_RECORDS)
        body, _ = await gql(client, VERIFY_ENTITY, {"k": entity})
    finally:
        await owner.execute("drop trigger if exists test_refuse_records on audit_log; "
                            "drop function if exists public.test_refuse_records()")
        await owner.close()
    # verify is nullable like every root field (issue 7 section 5): null, not the whole answer
    assert body["data"] == {"verify": None} and body["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
    body, _ = await gql(client, "{ population(first: 5) { nodes { name } } }")
    assert len(body["data"]["population"]["nodes"]) == 5


async def test_a_data_node_down_gives_partial_rows_and_a_partial_record(client: httpx.AsyncClient,
                                                                        cluster: Cluster) -> None:
    mine = uuid.uuid4().hex
    cluster.stop("650200")
    try:
        body, _ = await gql(client, "{ population(first: 50) { unavailableNodes totalCount nodes { divisionCode } } }",
                            **{"X-Request-Id": mine})
    finally:
        cluster.start("650200")
    page = body["data"]["population"]
    assert page["unavailableNodes"] == ["650200"] and page["totalCount"] is None
    assert page["nodes"] and "650200" not in {r["divisionCode"] for r in page["nodes"]}
    assert [(e["extensions"]["code"], e["extensions"]["node"]) for e in body["errors"]] == [
        ("NODE_UNAVAILABLE", "650200")]
    [record] = await _records(cluster, mine)
    assert record["outcome"] == "partial" and "650200" not in record["nodes"]
