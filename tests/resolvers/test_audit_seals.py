"""The seal of a legacy lane 0 (migration 0029, resolvers/audit_seals): a trail whose lane 0 ends with the
unkeyed records of before migration 0008 verifies as 'unsealed' until the service seals it, once, with a
keyed 'audit.seal' record that no statistic counts as a data access; an unkeyed record added after the
genuine ones is never sealed and always found."""

from __future__ import annotations

import asyncio

import asyncpg

from govshare.migrations.runner import discover, migrate
from govshare.resolvers import audit, audit_verdicts
from govshare.resolvers.audit_seals import SEAL_ACTION, seal_legacy_lane
from govshare.resolvers.statistics import USAGE
from govshare.resolvers.statistics_assessment import USE

from ..audit_databases import FORGE_UNKEYED, KEY, fresh_region, record, region_pools
from ..conftest import Cluster

LEGACY_APPEND = "select * from audit_append($1, 'legacy', '650000-GA', 'read', null, '{}', 'r', '{a}', '{}', 1, '{}', 'ok')"


async def _legacy_trail(dsn: str, count: int = 3) -> int:
    """Unkeyed records written by 0004's function, then every migration: the seq of the last one."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, [m for m in discover() if m.version <= 4])
        for n in range(count):
            await conn.fetchrow(LEGACY_APPEND, f"legacy-{n}")
        await migrate(conn, discover())
        return int(await conn.fetchval("select max(seq) from audit_log"))
    finally:
        await conn.close()


async def _verify(dsn: str) -> list[tuple[str, int, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        verdict = await audit_verdicts.verify_chain(conn, KEY, [])
        return [(p.kind, p.lane, p.first_seq) for p in verdict.problems]
    finally:
        await conn.close()


async def test_a_legacy_lane_0_is_unsealed_until_sealed_once(cluster: Cluster) -> None:
    async with fresh_region(cluster, up_to=0) as dsn:
        last = await _legacy_trail(dsn)
        assert await _verify(dsn) == [("unsealed", 0, last)], "a legacy lane 0 that ends unkeyed is reported"
        async with region_pools(dsn) as pools:
            trail = audit.AuditTrail(pools, KEY, 0)
            seal = await seal_legacy_lane(trail)
            assert seal is not None and seal > last
            assert await seal_legacy_lane(trail) is None, "sealed once"
            await audit.AuditTrail(pools, KEY, 4).append(record("lane4"))
        assert await _verify(dsn) == []
        conn = await asyncpg.connect(dsn)
        try:
            row = await conn.fetchrow("select * from audit_log where seq = $1", seal)
            assert (row["lane"], row["action"], row["algorithm"], row["row_count"], row["grant_ids"]) == \
                (0, SEAL_ACTION, "hmac-sha256", 0, [])
            # not a data access: usage and assessment statistics count only reads and verifications
            span = await conn.fetchrow("select min(at) - interval '1 day' as since, now() + interval '1 day' as until "
                                       "from audit_log")
            assert SEAL_ACTION not in {r["action"] for r in await conn.fetch(USAGE, span["since"], span["until"],
                                                                               None, None)}
            assert await conn.fetch(USE, span["since"], span["until"], [""], None) == []
        finally:
            await conn.close()


async def test_two_processes_starting_at_once_seal_once(cluster: Cluster) -> None:
    async with fresh_region(cluster, up_to=0) as dsn:
        await _legacy_trail(dsn)
        async with region_pools(dsn) as first, region_pools(dsn) as second:
            seals = await asyncio.gather(seal_legacy_lane(audit.AuditTrail(first, KEY, 0)),
                                         seal_legacy_lane(audit.AuditTrail(second, KEY, 0)))
        assert sorted(seals, key=lambda s: s is None)[1] is None and any(seals)
        assert await _verify(dsn) == []


async def test_an_unkeyed_record_added_after_the_legacy_ones_is_found_and_never_sealed(cluster: Cluster) -> None:
    """Before the seal, anyone with INSERT can add an unkeyed record after the genuine ones: verify names it
    (not merely 'unsealed'), the service does not seal it, and a keyed record chained onto it (a CLI command
    writing lane 0) does not make it look genuine."""
    async with fresh_region(cluster, up_to=0) as dsn:
        await _legacy_trail(dsn)
        owner = await asyncpg.connect(dsn)
        try:
            await owner.execute(FORGE_UNKEYED)
            forged = await owner.fetchval("select seq from audit_log where request_id = 'forged-1'")
        finally:
            await owner.close()
        assert await _verify(dsn) == [("rewritten", 0, forged)]
        async with region_pools(dsn) as pools:
            trail = audit.AuditTrail(pools, KEY, 0)
            assert await seal_legacy_lane(trail) is None
            await trail.append(record("cli"))
            await trail.close()
        assert await _verify(dsn) == [("rewritten", 0, forged)]


async def test_a_new_trail_has_nothing_to_seal(cluster: Cluster) -> None:
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 0)
        assert await seal_legacy_lane(trail) is None
        await trail.append(record("first"))
        assert await seal_legacy_lane(trail) is None
        assert await _verify(dsn) == []
