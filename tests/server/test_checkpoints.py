"""Checkpoints of the audit lanes' heads: every lane's, written on shutdown, keyed, read back by verification."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from govshare.core.settings import Settings
from govshare.resolvers import audit_checkpoints
from govshare.server.app import create_app

from ..conftest import Cluster
from ..helpers import AUDIT_KEY, gql, token


async def test_shutdown_writes_a_checkpoint_of_the_head(cluster: Cluster, settings: Settings, tmp_path: Path) -> None:
    file = tmp_path / "checkpoints.jsonl"
    # an interval far away: only the shutdown can have written it
    app = create_app(replace(settings, audit_checkpoint_file=file, audit_checkpoint_seconds=3600),
                     cluster.service_topology)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://govshare.test",
            headers={"Authorization": f"Bearer {token()}"}) as client:
        body, _ = await gql(client, "{ population(first: 1) { nodes { name } } }")
        assert "errors" not in body
        assert not file.exists()
        lane = app.state.audit_trail.lane
    assert lane > 0, "a server process appends to a lane it leased"
    conn = await cluster.connect("650000")
    try:
        # every lane's head, not only this process's own
        heads = {r["lane"]: r["lane_seq"] for r in await conn.fetch(
            "select lane, max(lane_seq) as lane_seq from audit_log group by lane")}
    finally:
        await conn.close()
    found = audit_checkpoints.read_checkpoint_file(file, "650000")
    assert {c.lane: c.seq for c in found} == heads and len(found) == len(heads) and lane in heads
    [checkpoint] = [c for c in found if c.lane == lane]
    assert checkpoint.chain == f"650000#{lane}" and checkpoint.valid(AUDIT_KEY.encode())
    assert not checkpoint.valid(b"another-key-of-at-least-32-bytes-long")
    assert oct(file.stat().st_mode & 0o777) == "0o600"
