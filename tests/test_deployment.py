"""docs/DEPLOYMENT.md's procedures, run: a node database backed up, lost and restored while the service
runs gives the same GraphQL answers; the systemd unit and the compose file start the same command."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.core.settings import Settings
from govshare.federation.topology import Topology
from govshare.seed.writer import SeedOptions, seed_all
from govshare.server.app import create_app
from govshare.server.databases import migrate_all
from govshare.server.metrics import Metrics

from .conftest import DATABASE, TOPOLOGY, Cluster
from .helpers import gql, token

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "DEPLOYMENT.md"
NODE = "650200"  # a self-hosted prefecture of tests/topology.toml
ANSWERS = """{
  resources(first: 30, filter: {nodes: ["650200"]}) {
    totalCount unavailableNodes
    edges { node { code name provider { code name } dataItems { name shareClass } } }
  }
  department(code: "650200-GA") { name children { code } }
  population(first: 100, filter: {nodes: ["650200"]}) { totalCount unavailableNodes nodes { name sex } }
}"""


def _tool(cluster: Cluster, name: str, *args: str) -> None:
    """A client program of the same PostgreSQL release as the server (the embedded wheel's bin dir)."""
    result = subprocess.run([str(cluster.servers[NODE].bin / name), *args], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


async def _answers(client: httpx.AsyncClient) -> dict[str, Any]:
    body, _ = await gql(client, ANSWERS)
    return body


async def test_a_node_database_restored_from_its_dump_answers_as_before(client: httpx.AsyncClient,
                                                                       cluster: Cluster, tmp_path: Path) -> None:
    before = await _answers(client)
    assert "errors" not in before and before["data"]["resources"]["totalCount"] > 0
    assert before["data"]["population"]["nodes"]

    dump = tmp_path / f"govshare-{NODE}.dump"
    dsn = cluster.dsn(NODE)
    server_dsn = cluster.servers[NODE].dsn("postgres")
    # the guide's backup command
    await asyncio.to_thread(_tool, cluster, "pg_dump", "--format=custom", f"--file={dump}", f"--dbname={dsn}")

    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f"drop database {DATABASE} with (force)")  # the disaster
    finally:
        await conn.close()
    lost = await _answers(client)
    assert lost["data"]["resources"]["unavailableNodes"] == [NODE]
    assert {e["extensions"]["code"] for e in lost["errors"]} == {"NODE_UNAVAILABLE"}

    # the guide's restore command: recreate the database from the dump, then let the pools reconnect
    await asyncio.to_thread(_tool, cluster, "pg_restore", "--create", "--exit-on-error", f"--dbname={server_dsn}",
                            str(dump))
    after = await _answers(client)
    for _ in range(50):
        if after == before:
            break
        await asyncio.sleep(0.1)
        after = await _answers(client)
    assert after == before


async def _audited_queries(settings: Settings, topology: Topology, count: int) -> None:
    """One service run: ``count`` audited data queries, then shutdown (which writes a checkpoint)."""
    app = create_app(settings, topology)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://govshare.test",
            headers={"Authorization": f"Bearer {token()}"}) as client:
        for _ in range(count):
            body, _ = await gql(client, "{ population(first: 2) { nodes { name } } }")
            assert "errors" not in body, body


@pytest.mark.slow
async def test_a_restored_region_database_shows_the_lost_audit_records(cluster: Cluster, settings: Settings,
                                                                      tmp_path: Path) -> None:
    """The region restored from an older dump has lost the audit records written since; the checkpoints
    in the other node databases and the local file make `govshare audit verify` say so."""
    server = cluster.new_server("restore-region")
    try:
        base = Topology.load(TOPOLOGY)
        conn = await asyncpg.connect(server.dsn())
        for node in base.databases:
            await conn.execute(f"create database govshare_{node.code}")  # codes are 6 digits
        await conn.close()
        topology = base.with_dsns({n.code: server.dsn(f"govshare_{n.code}") for n in base.databases})
        await migrate_all(topology)
        await seed_all({n.code: n.dsn or "" for n in topology.databases}, topology,
                       SeedOptions(seed=7, persons=300, entities=50, resources=50))
        ours = replace(settings, audit_checkpoint_file=tmp_path / "audit-checkpoints.jsonl",
                       audit_checkpoint_seconds=3600)
        region = topology.region.code
        region_dsn = topology.node(region).dsn or ""

        await _audited_queries(ours, topology, 2)
        conn = await asyncpg.connect(region_dsn)
        dumped_seq, lane, dumped_head = await conn.fetchrow(
            "select seq, lane, lane_seq from audit_log order by seq desc limit 1")
        await conn.close()
        dump = tmp_path / f"govshare-{region}.dump"
        await asyncio.to_thread(_tool, cluster, "pg_dump", "--format=custom", f"--file={dump}",
                                f"--dbname={region_dsn}")
        await _audited_queries(ours, topology, 3)  # written after the dump: lost with the region

        conn = await asyncpg.connect(server.dsn())
        await conn.execute(f"drop database govshare_{region} with (force)")
        await conn.close()
        await asyncio.to_thread(_tool, cluster, "pg_restore", "--create", "--exit-on-error",
                                f"--dbname={server.dsn()}", str(dump))

        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
        env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in topology.databases},
                   GOVSHARE_TOPOLOGY=str(TOPOLOGY), GOVSHARE_AUDIT_KEY_FILE=str(ours.audit_key_file),
                   GOVSHARE_AUDIT_CHECKPOINT_FILE=str(ours.audit_checkpoint_file))
        result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "govshare.server.cli", "audit", "verify"],
                                         env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result.stdout + result.stderr
        # the lost records are named by lane and lane_seq: their global seqs went with them
        assert (f"truncated: first record affected lane {lane}, lane_seq {dumped_head + 1}, seq unknown: records "
                f"after seq {dumped_seq} are missing (lane {lane}, after lane_seq {dumped_head})") in result.stdout, \
            result.stdout
    finally:
        server.stop("immediate")


def _exec_start(unit: str) -> list[str]:
    line = next(li for li in unit.splitlines() if li.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def _fenced(text: str, language: str, marker: str) -> str:
    blocks = [b for b in re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M) if marker in b]
    assert len(blocks) == 1, f"one {language} block containing {marker!r}"
    return blocks[0]


def test_the_systemd_unit_and_the_compose_file_run_the_same_command() -> None:
    guide = GUIDE.read_text()
    unit = _exec_start(_fenced(guide, "ini", "ExecStart="))
    compose = _fenced(guide, "yaml", "services:")
    command = re.search(r"^\s+command: (\[.*\])$", compose, re.M)
    assert command is not None
    compose_argv = [part.strip().strip('"') for part in command.group(1).strip("[]").split(",")]
    assert Path(unit[0]).name == compose_argv[0] == "govshare"
    assert unit[1:] == compose_argv[1:]
    assert "serve" in unit and "--workers" in unit


def test_the_connection_formula_is_per_node_database_and_its_examples_add_up(
        caplog: pytest.LogCaptureFixture) -> None:
    guide = " ".join(GUIDE.read_text().split())
    pool = Settings().pool_max_size
    per_worker = pool * 3 // 2 + 1  # federation/nodes.py: the pool, half again forcing generic plans, LISTEN
    assert "Per node database: connections needed = workers × (GOVSHARE_POOL_SIZE × 3/2 + 1)" in guide
    assert f"With 4 workers and the default pool that is {4 * per_worker} connections per node database " \
           f"({4 * (per_worker + 1)} on the region's)" in guide
    # a server holding several node databases multiplies it (trial-s7 F8: 11 on one server)
    assert f"need 11 × {3 * per_worker} + 3 = {11 * 3 * per_worker + 3} connections" in guide
    # the warning quoted is the one the service logs
    quoted = re.search(r"e\.g\. `(node database 650100 stopped answering \((.*)\): its rows [^`]*)`", guide)
    assert quoted is not None
    with caplog.at_level(logging.WARNING, logger="govshare.nodes"):
        Metrics().node_observed("650100", 0.01, False, quoted.group(2))
    assert [r.getMessage() for r in caplog.records] == [quoted.group(1)]
