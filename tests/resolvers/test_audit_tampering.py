"""The audit lanes (migration 0028) against an attacker who can write the region database without the
audit key: what `audit verify` finds, what the global seq (no longer under the HMAC) lets one mislead, and
the concurrency of leases and of a writer of the previous release. Each test has a database of its own."""

from __future__ import annotations

import asyncio

import asyncpg

from govshare.core.errors import AuditUnavailable
from govshare.resolvers import audit, audit_lanes, audit_verdicts

from ..audit_databases import (
    FORGE_UNKEYED,
    GLASS_OFF,
    GLASS_ON,
    KEY,
    ZERO_HASH,
    as_json,
    fresh_region,
    keyed_rows,
    record,
    region_pools,
)
from ..conftest import Cluster


async def _verify(dsn: str) -> audit_verdicts.Verdict:
    conn = await asyncpg.connect(dsn)
    try:
        return await audit_verdicts.verify_chain(conn, KEY, [])
    finally:
        await conn.close()


async def test_an_unkeyed_record_forged_at_the_end_of_lane_0_is_found(cluster: Cluster) -> None:
    """Older than lanes: verify accepted an unkeyed record anywhere in lane 0, so anyone who can INSERT into
    audit_log appended records of their choosing (here: 3,000 rows of name and phone read by 650100-MZ) that
    verify called intact; the service then chains its own keyed records onto them."""
    async with fresh_region(cluster) as dsn:
        async with region_pools(dsn) as pools:
            trail = audit.AuditTrail(pools, KEY, 0)
            for n in range(3):
                await trail.append(record("before", n))
            owner = await asyncpg.connect(dsn)
            try:
                await owner.execute(FORGE_UNKEYED)
                forged = await owner.fetchval("select seq from audit_log where request_id = 'forged-1'")
            finally:
                await owner.close()
            await trail.append(record("after", 0))  # rechains onto the forged head: cemented by an HMAC
            await trail.close()
        verdict = await _verify(dsn)
        assert verdict.records == 5
        assert [(p.kind, p.lane, p.first_seq) for p in verdict.problems] == [("rewritten", 0, forged)], \
            "an unkeyed record after keyed ones in a lane cannot be one of before migration 0008"


async def test_an_unkeyed_lane_0_forged_where_lane_0_was_empty_is_found(cluster: Cluster) -> None:
    """Since 0028 servers write leased lanes, so lane 0 is empty on an installation whose CLI never wrote; an
    unkeyed record forged there (lane_seq 1, prev_hash zeros) has no keyed record before it: it is beyond the
    end of the genuine unkeyed records migration 0029 wrote down (none here)."""
    async with fresh_region(cluster) as dsn:
        async with region_pools(dsn) as pools:
            trail = audit.AuditTrail(pools, KEY, 3)
            await trail.append(record("lane3"))
            await trail.close()
        owner = await asyncpg.connect(dsn)
        try:
            await owner.execute(FORGE_UNKEYED)
            forged = await owner.fetchval("select seq from audit_log where request_id = 'forged-1'")
            assert await owner.fetchval("select lane_seq from audit_log where seq = $1", forged) == 1
        finally:
            await owner.close()
        verdict = await _verify(dsn)
        assert [(p.kind, p.lane, p.first_seq) for p in verdict.problems] == [("rewritten", 0, forged)]


async def test_global_seqs_swapped_within_a_lane_are_found(cluster: Cluster) -> None:
    """seq is no longer under the HMAC; within a lane the database numbers records in lane_seq order (under the
    lane's lock), so seqs that do not increase with lane_seq were renumbered. The audit records API orders and
    pages by seq: verify must at least see this."""
    async with fresh_region(cluster) as dsn:
        async with region_pools(dsn) as pools:
            trail = audit.AuditTrail(pools, KEY, 5)
            seqs = [await trail.append(record("swap", n)) for n in range(3)]
            await trail.close()
        owner = await asyncpg.connect(dsn)
        try:
            async with owner.transaction():
                await owner.execute(GLASS_OFF)
                await owner.execute("update audit_log set seq = -seq where seq = any($1::bigint[])", [seqs[0], seqs[2]])
                await owner.execute("update audit_log set seq = $2 where seq = $1", -seqs[0], seqs[2])
                await owner.execute("update audit_log set seq = $2 where seq = $1", -seqs[2], seqs[0])
                await owner.execute(GLASS_ON)
            # the newest record by seq is now the lane's first: what auditRecords shows on top
            assert await owner.fetchval("select request_id from audit_log order by seq desc limit 1") == "swap-0"
        finally:
            await owner.close()
        verdict = await _verify(dsn)
        assert verdict.problems, "records of one lane whose global seqs run against their lane_seq"
        assert {p.lane for p in verdict.problems} == {5}
        assert seqs[1] in {p.first_seq for p in verdict.problems} or seqs[0] in {p.first_seq for p in verdict.problems}


async def test_a_follower_of_each_lanes_newest_lane_seq_misses_no_record(cluster: Cluster) -> None:
    """seq is not commit order across lanes (a batch of one lane can commit after a higher seq of another), but
    within a lane lane_seq is drawn and committed under the lane's lock, so a follower that remembers each
    lane's newest lane_seq (not the global seq) misses nothing (what the README tells followers to do)."""
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        slow = await asyncpg.connect(dsn)
        reader = await asyncpg.connect(dsn)
        try:
            batch = slow.transaction()
            await batch.start()
            await slow.fetchrow("select * from audit_append_lane(7, 0, $1, $2::jsonb, null)", ZERO_HASH,
                                as_json(keyed_rows(7, 0, ZERO_HASH, [record("slow")])))
            fast = asyncio.create_task(audit.AuditTrail(pools, KEY, 8).append(record("fast")))
            await asyncio.wait([fast], timeout=1.0)
            known = {r["lane"]: r["top"] for r in await reader.fetch(
                "select lane, max(lane_seq) as top from audit_log group by lane")}
            seen = {r["seq"] for r in await reader.fetch("select seq from audit_log")}
            await batch.commit()
            await fast
            later = {r["seq"] for r in await reader.fetch(
                """select a.seq from audit_log a where a.lane_seq > coalesce(
                       (select k.top from unnest($1::int[], $2::bigint[]) as k(lane, top) where k.lane = a.lane), 0)""",
                list(known), list(known.values()))}
            every = {r["seq"] for r in await reader.fetch("select seq from audit_log")}
            assert every == seen | later and len(every) == 2
        finally:
            await slow.close()
            await reader.close()


async def test_a_writer_of_the_previous_release_and_lane_writers_keep_every_lane_valid(cluster: Cluster) -> None:
    """Rolling deploy: a process of before lanes (audit_head(), audit_append_batch_at with "seq", the old
    payload) appends next to a new trail on lane 0 and one on lane 9: lane 0 is one valid line of both."""
    async with fresh_region(cluster) as dsn:
        async with region_pools(dsn) as pools:
            old = await asyncpg.connect(dsn)
            written = 0

            async def previous_release(rounds: int) -> None:
                nonlocal written
                head = tuple(await old.fetchrow("select seq, hash from audit_head()"))
                for r in range(rounds):
                    for _ in range(20):  # rechain as the old trail did
                        rows = keyed_rows(0, head[0], head[1], [record(f"old-{r}", n) for n in range(3)])
                        for row in rows:  # the old protocol says "seq" for what is now lane_seq
                            row["seq"] = row.pop("lane_seq")
                        out = await old.fetchrow("select * from audit_append_batch_at($1, $2, $3::jsonb, null)",
                                                 head[0], head[1], as_json(rows))
                        head = (out["last_seq"], out["last_hash"])
                        if out["appended"]:
                            written += 3
                            break
                        await asyncio.sleep(0)

            zero, nine = audit.AuditTrail(pools, KEY, 0), audit.AuditTrail(pools, KEY, 9)

            async def client(trail: audit.AuditTrail, tag: str, n: int) -> None:
                # a batch that lost the race to the old writer 5 times is refused ("too busy", nothing
                # written): its client tries again, as AUDIT_UNAVAILABLE tells it to
                for _ in range(20):
                    try:
                        await trail.append(record(tag, n))
                        return
                    except AuditUnavailable:
                        await asyncio.sleep(0.01)
                raise AssertionError("lane 0 refused the new writer 20 times")

            try:
                await asyncio.gather(previous_release(8),
                                     *(client(zero, "new0", n) for n in range(20)),
                                     *(client(nine, "new9", n) for n in range(20)))
            finally:
                await old.close()
            await zero.close()
            await nine.close()
        assert written == 24
        verdict = await _verify(dsn)
        assert verdict.problems == [] and verdict.records == 64 and verdict.lanes == 2


async def test_a_lease_lost_and_its_lane_taken_by_another_moves_to_a_free_lane(cluster: Cluster) -> None:
    """A lease connection dropped; another process leases that lane meanwhile: both write it (rechains only),
    then the first takes another free lane back; every lane verifies."""
    async with fresh_region(cluster) as dsn:
        async with region_pools(dsn) as pools:
            first = audit.AuditTrail(pools, KEY)
            lease = audit_lanes.LaneLease(dsn, first.use_lane, retry=0.3)
            owner = await asyncpg.connect(dsn)
            other = await asyncpg.connect(dsn)
            try:
                lane = await lease.start(timeout=5)
                assert lane == 1
                await first.append(record("first", 0))
                pid = await owner.fetchval("""select pid from pg_locks where locktype = 'advisory'
                    and classid = 7309174 and objid = $1 and granted
                    and database = (select oid from pg_database where datname = current_database())""", lane)
                await owner.execute("select pg_terminate_backend($1)", pid)
                for _ in range(500):  # another process takes the lane the moment it is free (5 s under load)
                    if await other.fetchval("select pg_try_advisory_lock(7309174, $1)", lane):
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("lane not freed by the terminated connection")
                second = audit.AuditTrail(pools, KEY, lane)
                await asyncio.gather(*(t.append(record(f"both-{i}", n)) for n in range(10)
                                       for i, t in enumerate((first, second))))
                for _ in range(100):
                    if first.lane != lane:
                        break
                    await asyncio.sleep(0.05)
                assert first.lane == 2 and lease.lane == 2, "taken back on the lowest free lane"
                await first.append(record("moved", 0))
                await second.close()
            finally:
                await lease.stop()
                await owner.close()
                await other.close()
            await first.close()
        verdict = await _verify(dsn)
        assert verdict.problems == [] and verdict.records == 22 and verdict.lanes == 2


async def test_a_record_duplicated_in_its_lane_is_found(cluster: Cluster) -> None:
    """Holds: a copy of a record at its own (lane, lane_seq) (the unique constraint dropped first) breaks
    the lane's numbering; a copy at the lane's end breaks the HMAC, which covers lane_seq."""
    async with fresh_region(cluster) as dsn:
        async with region_pools(dsn) as pools:
            trail = audit.AuditTrail(pools, KEY, 6)
            seqs = [await trail.append(record("dup", n)) for n in range(3)]
            await trail.close()
        owner = await asyncpg.connect(dsn)
        try:
            columns = [c for c in await owner.fetch(
                "select attname from pg_attribute where attrelid = 'audit_log'::regclass and attnum > 0 "
                "and not attisdropped and attname not in ('seq', 'hash')")]
            names = ", ".join(c["attname"] for c in columns)
            tampering = owner.transaction()  # rolled back after the verdict
            await tampering.start()
            try:
                await owner.execute("alter table audit_log drop constraint audit_log_lane_seq_key")
                await owner.execute("alter table audit_log drop constraint if exists audit_log_hash_key")  # gone since 0037
                await owner.execute(f"insert into audit_log ({names}, hash) select {names}, hash from audit_log "
                                    "where seq = $1", seqs[1])
                await owner.execute(f"insert into audit_log ({names}, hash) select {names.replace('lane_seq', '4')}, "
                                    "hash from audit_log where seq = $1", seqs[2])
                verdict = await audit_verdicts.verify_chain(owner, KEY, [])
                found = {(p.kind, p.lane) for p in verdict.problems}
                assert {("removed", 6), ("rewritten", 6)} <= found, verdict.problems
            finally:
                await tampering.rollback()
        finally:
            await owner.close()
