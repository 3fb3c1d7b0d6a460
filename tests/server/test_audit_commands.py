"""`govshare audit verify` against the test nodes: intact chain exit 0, truncation exit 1, no key exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from govshare.core.settings import Settings
from govshare.resolvers.audit_checkpoints import Checkpoint, append_checkpoint_file, chain_name
from govshare.server.audit_commands import node_checkpoints
from govshare.server.postgres import free_port

from ..conftest import TOPOLOGY, Cluster
from ..helpers import AUDIT_KEY, audit_key_file, gql


def _govshare(cluster: Cluster, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env["GOVSHARE_TOPOLOGY"] = str(TOPOLOGY)
    env["GOVSHARE_AUDIT_KEY_FILE"] = str(audit_key_file())
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in cluster.topology.databases})
    env.update(extra)  # after the cluster's DSNs: a test may point one node elsewhere
    return subprocess.run([sys.executable, "-m", "govshare.server.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_audit_verify_checks_the_keyed_chain_against_the_checkpoints(
        client: httpx.AsyncClient, cluster: Cluster, settings: Settings, tmp_path: Path) -> None:
    await gql(client, "{ population(first: 1) { nodes { name } } }")
    await client.app.state.checkpointer.checkpoint()  # type: ignore[attr-defined]
    key = {"GOVSHARE_AUDIT_KEY_FILE": str(settings.audit_key_file)}
    result = _govshare(cluster, "audit", "verify", GOVSHARE_AUDIT_CHECKPOINT_FILE=str(settings.audit_checkpoint_file),
                       **key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit chain intact and consistent with every checkpoint" in result.stdout
    # A checkpoint (validly keyed) of records the region no longer has in the app's lane: truncation, exit 1.
    lane = client.app.state.audit_trail.lane  # type: ignore[attr-defined]
    conn = await cluster.connect("650000")
    head = await conn.fetchval("select lane_seq from audit_log where lane = $1 order by lane_seq desc limit 1", lane)
    await conn.close()
    at = datetime.now(UTC)
    later = tmp_path / "checkpoints.jsonl"
    chain = chain_name("650000", lane)
    append_checkpoint_file(later, Checkpoint(chain, head + 5, "f" * 64, at,
                                             Checkpoint.mac_of(AUDIT_KEY.encode(), chain, head + 5, "f" * 64, at)))
    result = _govshare(cluster, "audit", "verify", "--json", GOVSHARE_AUDIT_CHECKPOINT_FILE=str(later), **key)
    assert result.returncode == 1, result.stdout + result.stderr
    problems = json.loads(result.stdout)["problems"]
    # the first missing record by lane and lane_seq; its global seq went with it (seq + 1 may be another lane's)
    assert (problems[0]["kind"], problems[0]["lane"], problems[0]["lane_seq"], problems[0]["first_seq"]) == (
        "truncated", lane, head + 1, None)
    # Another key (a wrong GOVSHARE_AUDIT_KEY_FILE): every keyed record is "rewritten", and the hint names the key.
    wrong = tmp_path / "wrong-key"
    wrong.write_text("w" * 48)
    wrong.chmod(0o600)
    result = _govshare(cluster, "audit", "verify", GOVSHARE_AUDIT_KEY_FILE=str(wrong),
                       GOVSHARE_AUDIT_CHECKPOINT_FILE=str(tmp_path / "no-checkpoints.jsonl"))
    assert result.returncode == 1 and "rewritten" in result.stdout
    assert "hint: not one of the " in result.stdout and "is GOVSHARE_AUDIT_KEY_FILE the key" in result.stdout
    verdict = json.loads(_govshare(cluster, "audit", "verify", "--json", **key,
                                   GOVSHARE_AUDIT_CHECKPOINT_FILE=str(settings.audit_checkpoint_file)).stdout)
    assert verdict["verified"] == verdict["keyed"] >= 1
    # Without the key there is nothing to check against: a clear error, exit 2.
    result = _govshare(cluster, "audit", "verify", GOVSHARE_AUDIT_KEY_FILE=str(tmp_path / "missing"))
    assert result.returncode == 2 and "audit key" in result.stderr


async def test_audit_verify_json_names_a_node_database_that_is_down(
        client: httpx.AsyncClient, cluster: Cluster, settings: Settings) -> None:
    """trial-s8 F3: with a node's database down, --json must say the check was partial (unread_nodes), and
    stay one JSON document (the warning went to stdout, before the verdict)."""
    await gql(client, "{ population(first: 1) { nodes { name } } }")
    await client.app.state.checkpointer.checkpoint()  # type: ignore[attr-defined]
    down = f"postgresql://govshare_app@127.0.0.1:{free_port()}/govshare_650200"  # nothing listens there
    env = {"GOVSHARE_AUDIT_KEY_FILE": str(settings.audit_key_file),
           "GOVSHARE_AUDIT_CHECKPOINT_FILE": str(settings.audit_checkpoint_file)}
    result = _govshare(cluster, "audit", "verify", "--json", **env)
    assert result.returncode == 0 and json.loads(result.stdout)["unread_nodes"] == [], result.stderr
    whole = json.loads(result.stdout)["checkpoints"]
    result = _govshare(cluster, "audit", "verify", "--json", **env, GOVSHARE_DSN_650200=down)
    verdict = json.loads(result.stdout)
    assert verdict["unread_nodes"] == [{"node": "650200", "reason": "UNREACHABLE",
                                        "detail": "ConnectionRefusedError"}], result.stderr
    assert verdict["problems"] == [] and verdict["checkpoints"] < whole and result.returncode == 0
    assert result.stderr.splitlines() == ["warning: checkpoints of node 650200 not read: ConnectionRefusedError"]


async def test_audit_verify_skips_a_node_whose_checkpoints_are_not_read_within_its_timeout(
        client: httpx.AsyncClient, cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    """650200's copy locked by its owner (or a slow view in its place) is skipped with the warning of a node
    over the size limits within the node's timeout (1 s here), not waited for; the other copies are read
    (review-s7 finding 4)."""
    await gql(client, "{ population(first: 1) { nodes { name } } }")
    await client.app.state.checkpointer.checkpoint()  # type: ignore[attr-defined]
    before = {c.source for c in await node_checkpoints(cluster.topology)}
    assert {"node 650100", "node 650200"} <= before, before
    capsys.readouterr()
    locker = await cluster.connect("650200")
    try:
        async with locker.transaction():
            await locker.execute("lock table audit_checkpoints in access exclusive mode")
            started = time.monotonic()
            during = await asyncio.wait_for(node_checkpoints(cluster.topology), 15)
            elapsed = time.monotonic() - started
    finally:
        await locker.close()
    assert {c.source for c in during} == before - {"node 650200"}
    assert elapsed < 3 * cluster.topology.timeout_seconds + 1, elapsed
    assert "warning: checkpoints of node 650200 not read: " in capsys.readouterr().err
    assert {c.source for c in await node_checkpoints(cluster.topology)} == before  # and read again once free
