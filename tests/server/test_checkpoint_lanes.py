"""The checkpoints of audit lanes: a running process's Checkpointer anchors the head of a lane whose
writer is gone (a dead process's lane), so deleting that lane whole, or its newest records, is found."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg

from govshare.migrations.runner import discover, migrate
from govshare.resolvers import audit, audit_checkpoints, audit_lanes, audit_verdicts
from govshare.server.checkpoints import Checkpointer, seal_audit_trail

from ..audit_databases import GLASS_OFF, GLASS_ON, KEY, REGION, fresh_region, record, region_pools
from ..conftest import Cluster


async def test_the_checkpointer_anchors_a_dead_processs_lane(cluster: Cluster, tmp_path: Path) -> None:
    file = tmp_path / "checkpoints.jsonl"
    async with fresh_region(cluster) as dsn:
        async with region_pools(dsn) as pools:
            dead = audit.AuditTrail(pools, KEY, 12)  # a process that wrote lane 12, then died
            for n in range(3):
                await dead.append(record("dead", n))
            await dead.close()
            living = audit.AuditTrail(pools, KEY, 4)
            await living.append(record("living"))
            checkpointer = Checkpointer(living, file, 3600)
            await checkpointer.checkpoint()
            first = {c.chain: c.seq for c in audit_checkpoints.read_checkpoint_file(file, REGION)}
            assert first == {f"{REGION}#12": 3, f"{REGION}#4": 1}
            await checkpointer.checkpoint()  # nothing moved: nothing written again
            assert len(audit_checkpoints.read_checkpoint_file(file, REGION)) == 2
            await living.close()
        owner = await asyncpg.connect(dsn)
        try:
            checkpoints = audit_checkpoints.read_checkpoint_file(file, REGION)
            assert (await audit_verdicts.verify_chain(owner, KEY, checkpoints)).problems == []
            async with owner.transaction():
                await owner.execute(GLASS_OFF)
                await owner.execute("delete from audit_log where lane = 12")
                await owner.execute("delete from audit_log where lane = 4")
                await owner.execute(GLASS_ON)
            verdict = await audit_verdicts.verify_chain(owner, KEY, checkpoints)
            assert sorted((p.kind, p.lane) for p in verdict.problems) == [("truncated", 4), ("truncated", 12)]
            # without the checkpoints, nothing is left to tell: the anchor is the only evidence
            assert (await audit_verdicts.verify_chain(owner, KEY, [])).problems == []
        finally:
            await owner.close()


async def test_one_process_anchors_the_region_and_another_takes_over_when_it_dies(cluster: Cluster,
                                                                                  tmp_path: Path) -> None:
    """Not every process anchoring every lane (W x W rows per interval): the holder of the checkpointer lock on
    its lease connection anchors; when it is gone, another process's next round takes the role over."""
    files = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trails = [audit.AuditTrail(pools, KEY), audit.AuditTrail(pools, KEY)]
        leases = [audit_lanes.LaneLease(dsn, t.use_lane) for t in trails]
        checkpointers = [Checkpointer(t, f, 0.1, elect=lease.checkpointer)
                         for t, f, lease in zip(trails, files, leases, strict=True)]
        try:
            assert [await lease.start(timeout=5) for lease in leases] == [1, 2]
            for trail in trails:
                await trail.append(record("before"))
            for checkpointer in checkpointers:
                checkpointer.start()
            await _until(lambda: any(f.exists() for f in files))
            await asyncio.sleep(0.5)  # several rounds of both
            [holder] = [i for i, f in enumerate(files) if f.exists()]
            other = 1 - holder
            assert not files[other].exists() and checkpointers[other].rounds == 0
            assert {c.chain: c.seq for c in audit_checkpoints.read_checkpoint_file(files[holder], REGION)} == \
                {f"{REGION}#1": 1, f"{REGION}#2": 1}
            # the holder dies (its lease connection with it): the other anchors from its next round on
            checkpointers[holder].elect = None
            await checkpointers[holder].stop()
            await leases[holder].stop()
            await trails[other].append(record("after"))
            await _until(lambda: files[other].exists())
            anchored = {c.chain: c.seq for c in audit_checkpoints.read_checkpoint_file(files[other], REGION)}
            assert anchored[f"{REGION}#{trails[other].lane}"] == 2 and anchored[f"{REGION}#{trails[holder].lane}"] == 1
        finally:
            for checkpointer in checkpointers:
                await checkpointer.stop()
            for lease in leases:
                await lease.stop()


async def _until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not within the time allowed")


async def test_the_start_seals_a_legacy_lane_0_and_a_region_down_does_not_stop_it(cluster: Cluster) -> None:
    """What the app's start calls before it serves (server/checkpoints.seal_audit_trail): lane 0 ending with the
    unkeyed records of before migration 0008 gets its seal; a region that does not answer leaves it unsealed
    (verify says so) without stopping the start."""
    async with fresh_region(cluster, up_to=4) as dsn:
        owner = await asyncpg.connect(dsn)
        try:
            await owner.fetchrow("select * from audit_append('legacy', 'legacy', '650000-GA', 'read', null, '{}', "
                                 "'r', '{a}', '{}', 1, '{}', 'ok')")
            await migrate(owner, discover())
            async with region_pools(dsn) as pools:
                down = audit.AuditTrail(pools, KEY, 0)
                await pools.close()
                await seal_audit_trail(down, 2.0)  # logged, not raised
            assert [p.kind for p in (await audit_verdicts.verify_chain(owner, KEY, [])).problems] == ["unsealed"]
            async with region_pools(dsn) as pools:
                await seal_audit_trail(audit.AuditTrail(pools, KEY, 0), 5.0)
            assert (await audit_verdicts.verify_chain(owner, KEY, [])).problems == []
            assert await owner.fetchval("select count(*) from audit_log where action = 'audit.seal'") == 1
        finally:
            await owner.close()
