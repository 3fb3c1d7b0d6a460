"""Migration 0028 (audit lanes) on a database that already has a trail: unkeyed records of before 0008 and keyed
ones written as the single chain did become lane 0 and verify unchanged; appends to lane 0 and other lanes
continue it, numbered after the newest record."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from govshare.federation.nodes import NodePools
from govshare.federation.topology import Node, Topology
from govshare.migrations.runner import discover, migrate
from govshare.resolvers import audit, audit_verdicts
from govshare.resolvers.audit_records import payload, record_fields, utc_text

from ..conftest import Cluster
from ..helpers import AUDIT_KEY

KEY = AUDIT_KEY.encode()
LEGACY_APPEND = "select * from audit_append($1, 'legacy', '650000-GA', 'read', null, '{}', 'r', '{a}', '{}', 1, '{}', 'ok')"
KEYED_APPEND = "select last_seq, last_hash, appended from audit_append_batch($1, $2, $3::jsonb)"


def _payload_before_lanes(seq: int, at: str, record: dict[str, Any]) -> bytes:
    """resolvers.audit_records.payload as it was before migration 0028, kept here as the reference."""
    body = {"seq": seq, "at": at, "request_id": record["request_id"],
            "client_request_id": record["client_request_id"], "user_id": record["user_id"],
            "department": record["department"], "action": record["action"], "purpose": record["purpose"],
            "grant_ids": [int(g) for g in record["grant_ids"]], "resource": record["resource"],
            "items_returned": list(record["items_returned"]), "items_denied": list(record["items_denied"]),
            "row_count": int(record["row_count"]), "nodes": list(record["nodes"]), "outcome": record["outcome"]}
    if record.get("detail") is not None:
        body["detail"] = record["detail"]
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@pytest.fixture
async def fresh_dsn(cluster: Cluster) -> AsyncIterator[str]:
    name = f"lanes_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(cluster.servers["650000"].dsn())
    await admin.execute(f"create database {name}")
    try:
        yield cluster.servers["650000"].dsn(name)
    finally:
        await admin.execute(f"drop database {name} with (force)")
        await admin.close()


async def _keyed_batch(conn: asyncpg.Connection, count: int, tag: str) -> None:
    """Records appended as the single chain's appender did (before 0028): seq = head + n, HMAC over seq."""
    seq, prev = await conn.fetchrow("select seq, hash from audit_head()")
    after, after_hash = seq, prev
    at = utc_text(datetime.now(UTC))
    rows = []
    for n in range(count):
        fields = record_fields(audit.AuditRecord(f"{tag}-{n}", "u", "650000-GA", "read", "p", "r", grant_ids=[3],
                                                 items_returned=["a"], row_count=n, nodes=["650000"],
                                                 detail={"k": n} if n else None))
        digest = hmac.new(KEY, prev.encode() + b"|" + _payload_before_lanes(seq + 1 + n, at, fields),
                          hashlib.sha256).hexdigest()
        rows.append({**fields, "seq": seq + 1 + n, "at": at, "prev_hash": prev, "hash": digest})
        prev = digest
    assert (await conn.fetchrow(KEYED_APPEND, after, after_hash, json.dumps(rows)))["appended"]


async def test_a_trail_from_before_lanes_verifies_unchanged_and_continues(fresh_dsn: str) -> None:
    migrations = discover()
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await migrate(conn, [m for m in migrations if m.version <= 4])
        for n in range(3):
            await conn.fetchrow(LEGACY_APPEND, f"legacy-{n}")
        # a rolled-back legacy append left a hole in seq, which verification has always accepted
        rolled_back = conn.transaction()
        await rolled_back.start()
        await conn.fetchrow(LEGACY_APPEND, "rolled-back")
        await rolled_back.rollback()
        await conn.fetchrow(LEGACY_APPEND, "legacy-3")
        await migrate(conn, [m for m in migrations if m.version <= 27])
        await _keyed_batch(conn, 3, "before")
        before = [dict(r) for r in await conn.fetch("select seq, hash, prev_hash from audit_log order by seq")]

        assert 28 in await migrate(conn, migrations)
        rows = [dict(r) for r in await conn.fetch("select seq, hash, prev_hash, lane, lane_seq from audit_log order by seq")]
        assert [(r["seq"], r["hash"], r["prev_hash"]) for r in rows] == [(r["seq"], r["hash"], r["prev_hash"])
                                                                       for r in before]
        assert all(r["lane"] == 0 and r["lane_seq"] == r["seq"] for r in rows)
        verdict = await audit_verdicts.verify_chain(conn, KEY, [])
        assert (verdict.problems, verdict.records, verdict.keyed, verdict.lanes) == ([], 7, 3, 1)
        assert [r["seq"] for r in rows[:4]] == [1, 2, 3, 5]
        top = rows[-1]["seq"]
    finally:
        await conn.close()

    pools = NodePools(Topology((Node("650000", "region", {"zh": "区"}, None, fresh_dsn),)), timeout=10)
    await pools.open()
    try:
        zero, three = audit.AuditTrail(pools, KEY, 0), audit.AuditTrail(pools, KEY, 3)
        seqs = [await zero.append(audit.AuditRecord("after-0", "u", "650000-GA", "read", None, "r")),
                await three.append(audit.AuditRecord("after-3", "u", "650000-GA", "read", None, "r")),
                await zero.append(audit.AuditRecord("after-0b", "u", "650000-GA", "read", None, "r"))]
        assert seqs == [top + 1, top + 2, top + 3], "numbered after the newest record"
    finally:
        await pools.close()
    conn = await asyncpg.connect(fresh_dsn)
    try:
        lanes = [tuple(r) for r in await conn.fetch("select seq, lane, lane_seq from audit_log where seq > $1 order by seq",
                                                    top)]
        assert lanes == [(top + 1, 0, top + 1), (top + 2, 3, 1), (top + 3, 0, top + 2)]
        # lane 0 hashes exactly as before lanes (lane_seq as "seq"); other lanes add their number
        row = dict(await conn.fetchrow("select * from audit_log where seq = $1", top + 3))
        assert payload(row["lane_seq"], row["at"], row) == _payload_before_lanes(row["lane_seq"], utc_text(row["at"]), row)
        assert b'"lane":3' in payload(1, row["at"], row, 3)
        verdict = await audit_verdicts.verify_chain(conn, KEY, [])
        assert (verdict.problems, verdict.records, verdict.lanes) == ([], 10, 2)
    finally:
        await conn.close()
