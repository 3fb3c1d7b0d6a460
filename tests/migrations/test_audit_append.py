"""audit_append_lane (migration 0028; set-based since 0027) and audit_append_entries (0040: the same over an
array of audit_entry instead of JSON): a batch is written to its lane only when it continues the lane's head
and every record links to the one before, under the current access version (0026); the columns come out as
the records said, the global seqs come back. The functions of before lanes (audit_head, audit_append_batch)
read and write lane 0."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from ..audit_databases import fresh_region
from ..conftest import Cluster

LANE = 60  # no server process leases it in the suite's run
APPEND = """select last_seq, last_hash, appended, seqs from audit_append_lane($4, $1, $2, $3::jsonb, $5)"""
HEAD = "select seq, hash from audit_head($1)"
OLD_APPEND = "select last_seq, last_hash, appended from audit_append_batch($1, $2, $3::jsonb)"
ENTRIES = """select last_seq, last_hash, appended, seqs, access_version
    from audit_append_entries($4, $1, $2, $3::audit_entry[], $5)"""
FIELDS = ("lane_seq", "at", "request_id", "client_request_id", "user_id", "department", "action", "purpose", "grant_ids",
          "resource", "items_returned", "items_denied", "row_count", "nodes", "outcome", "prev_hash", "hash", "detail")


@pytest.fixture(params=["json", "entries"])
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _append(conn: asyncpg.Connection, form: str, seq: int, head: str, records: list[dict[str, Any]], lane: int,
                  version: int | None) -> tuple[Any, ...]:
    """(last_seq, last_hash, appended, seqs, access_version) of one append, the batch sent as JSON or as entries."""
    if form == "json":
        row = await conn.fetchrow("select last_seq, last_hash, appended, seqs, access_version "
                                  "from audit_append_lane($4, $1, $2, $3::jsonb, $5)", seq, head, json.dumps(records),
                                  lane, version)
    else:
        entries = [tuple(datetime.fromisoformat(r["at"]) if f == "at" else
                         (None if r[f] is None else json.dumps(r[f])) if f == "detail" else r[f] for f in FIELDS)
                   for r in records]
        row = await conn.fetchrow(ENTRIES, seq, head, entries, lane, version)
    return tuple(row)


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


async def test_a_batch_that_continues_the_head_is_written_as_given(region: asyncpg.Connection, form: str) -> None:
    seq, head = await region.fetchrow(HEAD, LANE)
    records = _records(seq, head, 3, "a1")
    transaction = region.transaction()  # rolled back: the session's chain stays as the service wrote it
    await transaction.start()
    try:
        top = await region.fetchval("select coalesce(max(seq), 0) from audit_log")
        last_seq, last_hash, appended, seqs, _ = await _append(region, form, seq, head, records, LANE, None)
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
        empty = await _append(region, form, seq + 3, records[-1]["hash"], [], LANE, None)
        assert empty[:4] == (seq + 3, records[-1]["hash"], True, [])
    finally:
        await transaction.rollback()
    assert await _written(region, seq) == 0


async def _written(region: asyncpg.Connection, lane_seq: int, lane: int = LANE) -> int:
    return int(await region.fetchval("select count(*) from audit_log where lane = $1 and lane_seq > $2", lane, lane_seq))


async def test_a_stale_head_writes_nothing_and_returns_the_head(region: asyncpg.Connection, form: str) -> None:
    seq, head = await region.fetchrow(HEAD, LANE)
    stale = _records(seq + 1, "0" * 64, 2, "b1")
    assert (await _append(region, form, seq + 1, "0" * 64, stale, LANE, None))[:4] == (seq, head, False, [])
    assert await _written(region, seq) == 0


async def test_a_stale_access_version_writes_nothing(region: asyncpg.Connection, form: str) -> None:
    seq, head = await region.fetchrow(HEAD, LANE)
    version = await region.fetchval("select version from access_version")
    last_seq, _, appended, seqs, current = await _append(region, form, seq, head, _records(seq, head, 2, "v1"), LANE,
                                                         version - 1)
    assert (appended, current, last_seq, seqs) == (False, version, seq, [])
    assert await _written(region, seq) == 0


async def test_a_lane_out_of_range_is_refused(region: asyncpg.Connection, form: str) -> None:
    for lane in (-1, 64):
        with pytest.raises(asyncpg.InvalidParameterValueError, match="not between 0 and 63"):
            await _append(region, form, 0, "0" * 64, [], lane, None)


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
                                                           at: int, form: str) -> None:
    seq, head = await region.fetchrow(HEAD, LANE)
    records = _records(seq, head, 3, "c1")
    records[at - 1][field] = seq + value if field == "lane_seq" else value
    with pytest.raises(asyncpg.InvalidParameterValueError, match=f"does not continue lane {LANE} at {seq + at}"):
        await _append(region, form, seq, head, records, LANE, None)
    assert await _written(region, seq) == 0



async def test_an_append_that_waited_for_the_lane_reads_the_head_written_meanwhile(cluster: Cluster, form: str) -> None:
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
                waiting = asyncio.create_task(_append(second, form, seq, head, _records(seq, head, 1, "w2"), LANE, None))
                await asyncio.sleep(0.3)
                assert not waiting.done()  # the lane's lock
            # the head the first append wrote comes back, and nothing more is written
            assert (await asyncio.wait_for(waiting, 10))[:4] == (seq + 2, records[-1]["hash"], False, [])
            assert await _written(first, seq) == 2
        finally:
            await first.close()
            await second.close()


async def test_an_append_that_waited_for_the_lane_reads_the_access_version_changed_meanwhile(
        cluster: Cluster, form: str) -> None:
    """Since 0039 the access version is read by the insert, after the lane's lock: a change committed while
    an append waited for its lane refuses that append's batch."""
    async with fresh_region(cluster) as dsn:
        first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        try:
            seq, head = await first.fetchrow(HEAD, LANE)
            version = await first.fetchval("select version from access_version")
            async with first.transaction():
                await first.fetchrow("select * from audit_lanes where lane = $1 for update", LANE)
                waiting = asyncio.create_task(_append(second, form, seq, head, _records(seq, head, 1, "x1"), LANE,
                                                      version))
                await asyncio.sleep(0.3)
                assert not waiting.done()  # the lane's lock
                await first.execute("update access_version set version = version + 1")
            last_seq, _, appended, seqs, current = await asyncio.wait_for(waiting, 10)
            assert (last_seq, appended, seqs, current) == (seq, False, [], version + 1)
            assert await _written(first, seq) == 0
        finally:
            await first.close()
            await second.close()


@pytest.mark.parametrize("shape", ["[0:1]=", "[2:3]=", "two dimensions"])
async def test_entries_not_subscripted_from_1_are_refused(region: asyncpg.Connection, shape: str) -> None:
    """review-s8 (migration 0042): unnest numbers the records from 1 whatever the array's subscripts, while the
    links check reads the record before by subscript. Sent as '[0:1]={...}' (an insider with the service role),
    record 2 was checked against itself: a record that does not link to the one before it was appended."""
    seq, head = await region.fetchrow(HEAD, LANE)
    records = _records(seq, head, 2, "s1")
    records[1]["prev_hash"] = records[1]["hash"]  # does not link to record 1: links only to itself
    entries = [tuple(datetime.fromisoformat(r["at"]) if f == "at" else
                     (None if r[f] is None else json.dumps(r[f])) if f == "detail" else r[f] for f in FIELDS)
               for r in records]
    sent = ("('{' || $3::audit_entry[]::text || '}')::audit_entry[]" if shape == "two dimensions"
            else f"('{shape}' || $3::audit_entry[]::text)::audit_entry[]")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="one-dimensional array from subscript 1"):
        await region.fetchrow(f"select * from audit_append_entries($4, $1, $2, {sent}, $5)", seq, head, entries,
                              LANE, None)
    assert await _written(region, seq) == 0
