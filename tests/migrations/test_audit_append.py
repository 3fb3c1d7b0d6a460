"""audit_append_batch (migration 0027, set-based): a batch is written only when it continues the head and
every record links to the one before; the columns come out as the records said."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from ..conftest import Cluster

APPEND = "select last_seq, last_hash, appended from audit_append_batch($1, $2, $3::jsonb)"
HEAD = "select seq, hash from audit_head()"


def _records(seq: int, prev: str, count: int, tag: str) -> list[dict[str, Any]]:
    records = []
    for n in range(count):
        digest = f"{tag}{n:02d}".ljust(64, "f")
        records.append({"seq": seq + 1 + n, "at": "2026-11-28T05:30:00.123456Z", "request_id": f"{tag}-{n}",
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
    seq, head = await region.fetchrow(HEAD)
    records = _records(seq, head, 3, "a1")
    transaction = region.transaction()  # rolled back: the session's chain stays as the service wrote it
    await transaction.start()
    try:
        last_seq, last_hash, appended = await region.fetchrow(APPEND, seq, head, json.dumps(records))
        assert (last_seq, last_hash, appended) == (seq + 3, records[-1]["hash"], True)
        rows = await region.fetch("select * from audit_log where seq > $1 order by seq", seq)
        assert [r["seq"] for r in rows] == [seq + 1, seq + 2, seq + 3]
        assert [r["prev_hash"] for r in rows] == [head, records[0]["hash"], records[1]["hash"]]
        assert [r["client_request_id"] for r in rows] == ["client-1", None, None]
        assert [list(r["grant_ids"]) for r in rows] == [[], [7, 9], [7, 9]]
        assert [list(r["items_denied"]) for r in rows] == [[], ["phone"], ["phone"]]
        assert [r["detail"] for r in rows] == [None, *['{"denied_reasons": ["POLICY_DENIED"]}'] * 2]
        assert {r["algorithm"] for r in rows} == {"hmac-sha256"} and rows[0]["at"].microsecond == 123456
        empty = await region.fetchrow(APPEND, seq + 3, records[-1]["hash"], "[]")
        assert tuple(empty) == (seq + 3, records[-1]["hash"], True)
    finally:
        await transaction.rollback()
    assert await region.fetchval("select count(*) from audit_log where seq > $1", seq) == 0


async def test_a_stale_head_writes_nothing_and_returns_the_head(region: asyncpg.Connection) -> None:
    seq, head = await region.fetchrow(HEAD)
    stale = _records(seq - 1, "0" * 64, 2, "b1")
    assert tuple(await region.fetchrow(APPEND, seq - 1, "0" * 64, json.dumps(stale))) == (seq, head, False)
    assert await region.fetchval("select count(*) from audit_log where seq > $1", seq) == 0


@pytest.mark.parametrize(("field", "value", "at"), [("seq", 99, 2), ("prev_hash", "e" * 64, 2), ("prev_hash", "e" * 64, 1)])
async def test_a_batch_with_a_broken_link_is_refused_whole(region: asyncpg.Connection, field: str, value: Any,
                                                           at: int) -> None:
    seq, head = await region.fetchrow(HEAD)
    records = _records(seq, head, 3, "c1")
    records[at - 1][field] = seq + value if field == "seq" else value
    with pytest.raises(asyncpg.InvalidParameterValueError, match=f"does not continue the chain at {seq + at}"):
        await region.fetchrow(APPEND, seq, head, json.dumps(records))
    assert await region.fetchval("select count(*) from audit_log where seq > $1", seq) == 0
