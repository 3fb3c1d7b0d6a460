"""The audit functions (migrations 0028, 0029): what the service role can and cannot do to the lanes, the
SECURITY DEFINER functions' search_path, and the same verdict for the same tampering before and after the
migration."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from govshare.resolvers import audit_verdicts
from govshare.resolvers.audit_checkpoints import Checkpoint

from ..audit_databases import (
    GLASS_OFF,
    GLASS_ON,
    KEY,
    REGION,
    ZERO_HASH,
    as_json,
    fresh_region,
    keyed_rows,
    record,
)
from ..conftest import Cluster

SEQUENCE = "pg_get_serial_sequence('audit_log', 'seq')"


@pytest.mark.parametrize("statement", [
    "alter table audit_log disable trigger audit_log_append_only",
    "alter table audit_log drop constraint audit_log_lane_seq_key",
    f"select setval({SEQUENCE}, 1)",
    "select audit_append_lane(64, 0, repeat('0', 64), '[]'::jsonb, null)",
])
async def test_the_service_role_cannot_break_a_lane(cluster: Cluster, statement: str) -> None:
    conn = await asyncpg.connect(cluster.service_topology.node(REGION).dsn or "")
    try:
        with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.InvalidParameterValueError)):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_the_service_role_cannot_append_a_batch_that_breaks_its_lane(cluster: Cluster) -> None:
    conn = await asyncpg.connect(cluster.service_topology.node(REGION).dsn or "")
    try:
        seq, head = await conn.fetchrow("select seq, hash from audit_head(61)")
        rows = keyed_rows(61, seq, head, [record("broken", n) for n in range(2)])
        rows[1]["lane_seq"] += 1  # a hole
        with pytest.raises(asyncpg.InvalidParameterValueError, match="does not continue lane 61"):
            await conn.fetchrow("select * from audit_append_lane(61, $1, $2, $3::jsonb, null)", seq, head,
                                as_json(rows))
        assert tuple(await conn.fetchrow("select seq, hash from audit_head(61)")) == (seq, head)
    finally:
        await conn.close()


async def test_security_definer_audit_functions_search_pg_temp_last(cluster: Cluster) -> None:
    """Since 0008 until 0029: `set search_path = pg_catalog, public` leaves pg_temp searched FIRST for
    tables, so a caller's temporary audit_log shadows the real one inside the definer's function: the append
    reports appended with global seqs while nothing reached the trail. PostgreSQL's advice for SECURITY
    DEFINER: pg_temp last, or qualify every table (access_version already is)."""
    conn = await asyncpg.connect(cluster.service_topology.node(REGION).dsn or "")
    try:
        configs = {r["proname"]: list(r["proconfig"] or []) for r in await conn.fetch(
            "select p.proname, p.proconfig from pg_proc p where p.prosecdef and p.proname like 'audit%'")}
        assert set(configs) >= {"audit_append_lane", "audit_append_batch", "audit_append_batch_at"}
        async with conn.transaction():
            await conn.execute("create temp table audit_log (like public.audit_log including defaults) on commit drop")
            rows = keyed_rows(59, 0, ZERO_HASH, [record("shadowed")])
            out = await conn.fetchrow("select * from audit_append_lane(59, 0, $1, $2::jsonb, null)", ZERO_HASH,
                                      as_json(rows))
            real = await conn.fetchval("select count(*) from public.audit_log where request_id = 'shadowed-0'")
        assert not (out["appended"] and real == 0), "appended, yet not in the audit trail"
        assert all(any(c.startswith("search_path=") and c.rstrip().endswith("pg_temp") for c in config)
                   for config in configs.values()), configs
    finally:
        await conn.close()


async def test_the_same_tampering_gets_the_same_verdict_before_and_after_0028(cluster: Cluster) -> None:
    """A trail of the single chain tampered before the migration (a record altered, one removed in the middle,
    the newest removed after a checkpoint): after 0028 verify names the same kinds and the same first records
    as the single chain's verify did (rewritten 2, removed 4, truncated 6), and lanes added later change
    nothing of it."""
    async with fresh_region(cluster, up_to=27) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            rows = keyed_rows(0, 0, ZERO_HASH, [record("single", n) for n in range(6)])
            for row in rows:
                row["seq"] = row.pop("lane_seq")
            out = await conn.fetchrow("select * from audit_append_batch(0, $1, $2::jsonb)", ZERO_HASH, as_json(rows))
            assert out["appended"] and out["last_seq"] == 6
            at = datetime.now(UTC)
            checkpoint = Checkpoint(REGION, 6, rows[5]["hash"], at, Checkpoint.mac_of(KEY, REGION, 6, rows[5]["hash"], at),
                                    "test")
            async with conn.transaction():
                await conn.execute(GLASS_OFF)
                await conn.execute("update audit_log set row_count = 99 where seq = 2")
                await conn.execute("delete from audit_log where seq in (4, 6)")
                await conn.execute(GLASS_ON)
            from govshare.migrations.runner import discover, migrate
            assert 28 in await migrate(conn, discover())
            # (kind, lane_seq, seq, lane): a single chain's seqs are its lane_seqs, so the removed record's seq is
            # known (one seq between its neighbours); the truncated one has no neighbour after it: unknown
            expected = [("rewritten", 2, 2, 0), ("removed", 4, 4, 0), ("truncated", 6, None, 0)]
            verdict = await audit_verdicts.verify_chain(conn, KEY, [checkpoint])
            assert [(p.kind, p.lane_seq, p.first_seq, p.lane) for p in verdict.problems] == expected
            lane3 = keyed_rows(3, 0, ZERO_HASH, [record("lane3", n) for n in range(2)])
            assert (await conn.fetchrow("select * from audit_append_lane(3, 0, $1, $2::jsonb, null)", ZERO_HASH,
                                        as_json(lane3)))["appended"]
            verdict = await audit_verdicts.verify_chain(conn, KEY, [checkpoint])
            assert [(p.kind, p.lane_seq, p.first_seq, p.lane) for p in verdict.problems] == expected
        finally:
            await conn.close()
