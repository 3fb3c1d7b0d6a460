"""audit_append_lane (migration 0028; set-based since 0027): a batch is written to its lane only when it
continues the lane's head and every record links to the one before, under the current access version
(0026); the columns come out as the records said, the global seqs come back. The functions of before
lanes (audit_head, audit_append_batch) read and write lane 0."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from ..audit_databases import fresh_region
from ..conftest import Cluster

LANE = 60  # no server process leases it in the suite's run
APPEND = """select last_seq, last_hash, appended, seqs from audit_append_lane($4, $1, $2, $3::jsonb, $5)"""
HEAD = "select seq, hash from audit_head($1)"
OLD_APPEND = "select last_seq, last_hash, appended from audit_append_batch($1, $2, $3::jsonb)"


def _records(seq: int, prev: str, count: int, tag: str) -> list[dict[str, Any]]:
    records = []
    for n in range(count):
        digest = f"{tag}{n:02d}".ljust(64, "f")
        records.append({"lane_seq": seq + 1 + n, "at": "2026-11-28T05:30:00.123456Z", "request_id": f"{tag}-{n}",
                        "client_request_id": None if n else "client-1", "user_id": "tester",
                        "department": "650100-GA", "action": "read", "purpose": "append-test",
                        "grant_ids": [7, 9] if n else [], "resource": "650000-B01-000001",
                        "items_returned": ["name", "sex"], "items_denied": ["phone"] if n else [],
                        "row_count": n, "nodes": ["650100"], "outcome": "ok", "prev_hash": prev, "hash": digest,
                        "detail": {"denied_reasons": ["POLICY_DENIED"]} if n else None})
        prev = digest
    return records


@pytest.fixture
async def region(cluster: Cluster) -> Any:
    conn = await cluster.connect(cluster.topology.region.code)
    try:
        yield conn
    finally:
        await conn.close()


async def test_a_batch_that_continues_the_head_is_written_as_given(region: asyncpg.Connection) -> None:
    seq, head = await region.fetchrow(HEAD, LANE)
    records = _records(seq, head, 3, "a1")
    transaction = region.transaction()  # rolled back: the session's chain stays as the service wrote it
    await transaction.start()
    try:
        top = await region.fetchval("select coalesce(max(seq), 0) from audit_log")
        last_seq, last_hash, appended, seqs = await region.fetchrow(APPEND, seq, head, json.dumps(records), LANE, None)
        assert (last_seq, last_hash, appended) == (seq + 3, records[-1]["hash"], True)
        rows = await region.fetch("select * from audit_log where lane = $1 and lane_seq > $2 order by seq", LANE, seq)
        assert [r["seq"] for r in rows] == seqs and len(seqs) == 3 and min(seqs) > top
        assert [r["lane_seq"] for r in rows] == [seq + 1, seq + 2, seq + 3] and {r["lane"] for r in rows} == {LANE}
        assert [r["prev_hash"] for r in rows] == [head, records[0]["hash"], records[1]["hash"]]
        assert [r["client_request_id"] for r in rows] == ["client-1", None, None]
        assert [list(r["grant_ids"]) for r in rows] == [[], [7, 9], [7, 9]]
        assert [list(r["items_denied"]) for r in rows] == [[], ["phone"], ["phone"]]
        assert [r["detail"] for r in rows] == [None, *['{"denied_reasons": ["POLICY_DENIED"]}'] * 2]
        assert {r["algorithm"] for r in rows} == {"hmac-sha256"} and rows[0]["at"].microsecond == 123456
        assert tuple(await region.fetchrow(HEAD, LANE)) == (seq + 3, records[-1]["hash"])
        empty = await region.fetchrow(APPEND, seq + 3, records[-1]["hash"], "[]", LANE, None)
        assert tuple(empty) == (seq + 3, records[-1]["hash"], True, [])
    finally:
        await transaction.rollback()
    assert await _written(region, seq) == 0


async def _written(region: asyncpg.Connection, lane_seq: int, lane: int = LANE) -> int:
    return int(await region.fetchval("select count(*) from audit_log where lane = $1 and lane_seq > $2", lane, lane_seq))


async def test_a_stale_head_writes_nothing_and_returns_the_head(region: asyncpg.Connection) -> None:
    seq, head = await region.fetchrow(HEAD, LANE)
    stale = _records(seq + 1, "0" * 64, 2, "b1")
    assert tuple(await region.fetchrow(APPEND, seq + 1, "0" * 64, json.dumps(stale), LANE, None)) == (
        seq, head, False, [])
    assert await _written(region, seq) == 0


async def test_a_stale_access_version_writes_nothing(region: asyncpg.Connection) -> None:
    seq, head = await region.fetchrow(HEAD, LANE)
    version = await region.fetchval("select version from access_version")
    row = await region.fetchrow("select * from audit_append_lane($1, $2, $3, $4::jsonb, $5)", LANE, seq, head,
                                json.dumps(_records(seq, head, 2, "v1")), version - 1)
    assert (row["appended"], row["access_version"], row["last_seq"], row["seqs"]) == (False, version, seq, [])
    assert await _written(region, seq) == 0


async def test_a_lane_out_of_range_is_refused(region: asyncpg.Connection) -> None:
    for lane in (-1, 64):
        with pytest.raises(asyncpg.InvalidParameterValueError, match="not between 0 and 63"):
            await region.fetchrow(APPEND, 0, "0" * 64, "[]", lane, None)


async def test_the_functions_before_lanes_append_to_lane_0(region: asyncpg.Connection) -> None:
    seq, head = await region.fetchrow("select seq, hash from audit_head()")
    assert tuple(await region.fetchrow(HEAD, 0)) == (seq, head)
    old = [{"seq" if k == "lane_seq" else k: v for k, v in r.items()} for r in _records(seq, head, 2, "o1")]
    transaction = region.transaction()
    await transaction.start()
    try:
        assert tuple(await region.fetchrow(OLD_APPEND, seq, head, json.dumps(old))) == (seq + 2, old[-1]["hash"], True)
        assert [r["lane_seq"] for r in await region.fetch(
            "select lane_seq from audit_log where lane = 0 and lane_seq > $1 order by seq", seq)] == [seq + 1, seq + 2]
    finally:
        await transaction.rollback()
    assert await _written(region, seq, 0) == 0


@pytest.mark.parametrize(("field", "value", "at"), [("lane_seq", 99, 2), ("prev_hash", "e" * 64, 2), ("prev_hash", "e" * 64, 1)])
async def test_a_batch_with_a_broken_link_is_refused_whole(region: asyncpg.Connection, field: str, value: Any,
                                                           at: int) -> None:
    seq, head = await region.fetchrow(HEAD, LANE)
    records = _records(seq, head, 3, "c1")
    records[at - 1][field] = seq + value if field == "lane_seq" else value
    with pytest.raises(asyncpg.InvalidParameterValueError, match=f"does not continue lane {LANE} at {seq + at}"):
        await region.fetchrow(APPEND, seq, head, json.dumps(records), LANE, None)
    assert await _written(region, seq) == 0



async def test_an_append_that_waited_for_the_lane_reads_the_head_written_meanwhile(cluster: Cluster) -> None:
    """Holds since 0037, which reads the head in the statement after the lane's lock: an append that waited
    for another one on its lane sees what that one committed (the head it read before the lock would be
    stale: the batch would come back as a unique violation instead of a rechain)."""
    async with fresh_region(cluster) as dsn:
        first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        try:
            seq, head = await first.fetchrow(HEAD, LANE)
            records = _records(seq, head, 2, "w1")
            async with first.transaction():
                assert (await first.fetchrow(APPEND, seq, head, json.dumps(records), LANE, None))["appended"]
                waiting = asyncio.create_task(second.fetchrow(
                    APPEND, seq, head, json.dumps(_records(seq, head, 1, "w2")), LANE, None))
                await asyncio.sleep(0.3)
                assert not waiting.done()  # the lane's lock
            # the head the first append wrote comes back, and nothing more is written
            assert tuple(await asyncio.wait_for(waiting, 10)) == (seq + 2, records[-1]["hash"], False, [])
            assert await _written(first, seq) == 2
        finally:
            await first.close()
            await second.close()
