"""The checkpoints of audit lanes: a running process's Checkpointer anchors the head of a lane whose
writer is gone (a dead process's lane), so deleting that lane whole, or its newest records, is found."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from govshare.resolvers import audit, audit_checkpoints, audit_verdicts
from govshare.server.checkpoints import Checkpointer

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
