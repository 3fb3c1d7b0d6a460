"""Helpers of the audit tampering tests: a fresh region database of its own (every migration applied),
so that tampering, leases and numbering there never touch the session cluster's shared trail."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from govshare.federation.nodes import NodePools
from govshare.federation.topology import Node, Topology
from govshare.migrations.runner import discover, migrate
from govshare.resolvers import audit
from govshare.resolvers.audit_records import ZERO_HASH, chain_hash, payload, record_fields, utc_text

from .conftest import Cluster
from .helpers import AUDIT_KEY

KEY = AUDIT_KEY.encode()
REGION = "650000"
GLASS_OFF = "alter table audit_log disable trigger audit_log_append_only"
GLASS_ON = "alter table audit_log enable trigger audit_log_append_only"

# An unkeyed ('sha256', the algorithm of before migration 0008) record, built entirely with the database's own
# functions: no key needed. A plain INSERT (the append-only trigger does not refuse inserts): no break glass.
FORGE_UNKEYED = """
create temp table forged (like audit_log including defaults);
insert into forged (seq, lane, lane_seq, at, request_id, client_request_id, user_id, department, action, purpose,
                    grant_ids, resource, items_returned, items_denied, row_count, nodes, outcome, prev_hash, hash,
                    algorithm, detail)
    select nextval(pg_get_serial_sequence('audit_log', 'seq')), 0, h.seq + 1, now(), 'forged-1', null, 'someone-else',
           '650100-MZ', 'read', null, '{}', '650000-B01-000001', '{name,phone}', '{}', 3000, '{650000}', 'ok', h.hash,
           'pending', 'sha256', null
    from audit_head(0) h;
update forged set hash = audit_hash(prev_hash, audit_payload(row(forged.*)::audit_log));
insert into audit_log select * from forged;
drop table forged"""


@asynccontextmanager
async def fresh_region(cluster: Cluster, *, up_to: int | None = None) -> AsyncIterator[str]:
    """The DSN (owner) of a new database on the region's server, migrated (up to ``up_to``), dropped after."""
    name = f"audit_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(cluster.servers[REGION].dsn())
    await admin.execute(f"create database {name}")
    dsn = cluster.servers[REGION].dsn(name)
    try:
        if up_to != 0:
            conn = await asyncpg.connect(dsn)
            try:
                await migrate(conn, [m for m in discover() if up_to is None or m.version <= up_to])
            finally:
                await conn.close()
        yield dsn
    finally:
        await admin.execute(f"drop database {name} with (force)")
        await admin.close()


@asynccontextmanager
async def region_pools(dsn: str) -> AsyncIterator[NodePools]:
    pools = NodePools(Topology((Node(REGION, "region", {"zh": "区"}, None, dsn),)), timeout=10)
    await pools.open()
    try:
        yield pools
    finally:
        await pools.close()


def record(tag: str, n: int = 0, department: str = "650100-GA") -> audit.AuditRecord:
    return audit.AuditRecord(f"{tag}-{n}", "tester", department, "read", None, "650000-B01-000001",
                             row_count=n, client_request_id=tag)


def keyed_rows(lane: int, after: int, after_hash: str, records: list[audit.AuditRecord]) -> list[dict[str, Any]]:
    """A batch for audit_append_lane as the trail builds it (the HMACs made with the test key)."""
    at = utc_text(datetime.now(UTC))
    rows, prev = [], after_hash
    for offset, rec in enumerate(records):
        fields = record_fields(rec)
        digest = chain_hash(KEY, prev, payload(after + 1 + offset, at, fields, lane))
        rows.append({**fields, "lane_seq": after + 1 + offset, "at": at, "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


def as_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows)


__all__ = ["FORGE_UNKEYED", "GLASS_OFF", "GLASS_ON", "KEY", "REGION", "ZERO_HASH", "as_json", "fresh_region", "keyed_rows",
           "record", "region_pools"]
