"""The operator commands' own connections to node databases are size-limited as the service's are
(federation/answers.py): `govshare audit verify` reading every node's copy of the checkpoints, and
`govshare migrate`. A node whose server sends more than the limits costs that node's part only, with a
clear line, never the operator's memory; a long-running region's checkpoints are read in batches, so the
limit on one answer does not stop their whole being read. The limits are lowered here, as in
tests/federation/test_answers.py, so that the tests send megabytes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from govshare.core.errors import MigrationError
from govshare.federation import answers
from govshare.federation.topology import Topology
from govshare.server.audit_commands import UnreadNode, node_checkpoints, node_copies
from govshare.server.databases import migrate_all

from ..conftest import Cluster
from ..helpers import gql

NODE = "650200"
APPEND_ONLY = "audit_checkpoints_append_only"
PLANT = """insert into audit_checkpoints (chain, seq, hash, at, mac)
    select '650000#0', 900000000 + n, repeat('c', $2), now(), repeat('d', 64) from generate_series(1, $1) as n"""


@asynccontextmanager
async def _planted_checkpoints(cluster: Cluster, count: int, hash_length: int) -> AsyncIterator[None]:
    """``count`` checkpoints of the region's lane 0 in 650200's copy (its owner's doing), removed afterwards
    (the table is append-only: its owner breaks glass)."""
    conn = await cluster.connect(NODE)
    try:
        await conn.execute(PLANT, count, hash_length)
        yield
    finally:
        async with conn.transaction():
            await conn.execute(f"alter table audit_checkpoints disable trigger {APPEND_ONLY}")
            await conn.execute("delete from audit_checkpoints where seq > 900000000")
            await conn.execute(f"alter table audit_checkpoints enable trigger {APPEND_ONLY}")
        await conn.close()


async def _anchored(client: httpx.AsyncClient) -> None:
    """A record appended and anchored: every node holds checkpoints of the region's lanes."""
    await gql(client, "{ population(first: 1) { nodes { name } } }")
    await client.app.state.checkpointer.checkpoint()  # type: ignore[attr-defined]


async def _sources(cluster: Cluster) -> dict[str, int]:
    found: dict[str, int] = {}
    for checkpoint in await node_checkpoints(cluster.topology):
        found[checkpoint.source] = found.get(checkpoint.source, 0) + 1
    return found


async def test_audit_verify_reads_a_nodes_checkpoints_in_batches_under_the_answer_limit(
        client: httpx.AsyncClient, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    await _anchored(client)
    before = await _sources(cluster)
    assert before.get("node 650100") and before.get(f"node {NODE}"), before
    # 5,000 checkpoints of ~180 bytes (~900 kB) against a 512 KiB answer: read in batches of 2,000
    monkeypatch.setattr(answers, "MAX_ANSWER_BYTES", 512 << 10)
    async with _planted_checkpoints(cluster, 5000, 64):
        during = await _sources(cluster)
    assert during == {**before, f"node {NODE}": before[f"node {NODE}"] + 5000}, during


async def test_audit_verify_skips_a_node_whose_checkpoints_go_over_the_message_limit(
        client: httpx.AsyncClient, cluster: Cluster, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    await _anchored(client)
    before = await _sources(cluster)
    capsys.readouterr()
    monkeypatch.setattr(answers, "MAX_MESSAGE_BYTES", 1 << 20)
    async with _planted_checkpoints(cluster, 1, 2_000_000):  # one row of 2 MB: refused from its header
        during = await _sources(cluster)
    assert during == {k: v for k, v in before.items() if k != f"node {NODE}"}, during
    assert f"warning: checkpoints of node {NODE} not read" in capsys.readouterr().err


async def test_migrate_over_a_node_sending_too_much_is_a_migration_error(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """650200's owner makes its applied-migrations list one 2 MB row: `migrate` stops on that node with one
    clear error (the CLI prints it and exits), not a traceback or a worker holding the answer."""
    conn = await cluster.connect(NODE)
    try:
        version, name = await conn.fetchrow("select version, name from schema_migrations order by version limit 1")
        await conn.execute("update schema_migrations set name = repeat('m', 2000000) where version = $1", version)
        monkeypatch.setattr(answers, "MAX_MESSAGE_BYTES", 1 << 20)
        try:
            with pytest.raises(MigrationError) as raised:
                await migrate_all(cluster.topology)
        finally:
            await conn.execute("update schema_migrations set name = $2 where version = $1", version, name)
    finally:
        await conn.close()
    assert raised.value.extensions["node"] == NODE
    assert raised.value.message == "node 650200: cannot migrate: connection was closed in the middle of operation"


HOSTILE_ROWS = 200_000
SLOW = """create or replace function hostile.slow(n bigint) returns bigint language plpgsql as
    $$ begin if n % 200 = 0 then perform pg_sleep(0.04); end if; return n; end $$"""  # 0.4 s a batch of 2,000
# In seq order from the table's primary key: rows stream out batch by batch, each batch within the statement
# timeout, with no sort to wait for.
VIEW = """create or replace view hostile.audit_checkpoints as select '650000'::text as chain, r.seq,
    repeat('c', 64) as hash, now() as at, repeat('d', 64) as mac from hostile.rows r where {filter}"""


@asynccontextmanager
async def _hostile_copy(cluster: Cluster) -> AsyncIterator[tuple[asyncpg.Connection, Topology]]:
    """650200's owner puts a view of its own where `audit verify` looks (earlier on the search path of the
    DSN given for it): as many rows as it likes, as slowly as it likes."""
    conn = await cluster.connect(NODE)
    try:
        await conn.execute("create schema hostile; create table hostile.rows (seq bigint primary key)")
        await conn.execute("insert into hostile.rows select n from generate_series(1, $1::bigint) as n", HOSTILE_ROWS)
        await conn.execute(SLOW)
        await conn.execute(VIEW.format(filter="true"))
        dsn = cluster.topology.by_code[NODE].dsn or ""
        # its server's settings: its view first, its rows in order without a sort
        hostile = dsn + ("&" if "?" in dsn else "?") + "search_path=hostile,public&enable_sort=off"
        yield conn, cluster.topology.with_dsns({NODE: hostile})
    finally:
        await conn.execute("drop schema hostile cascade")
        await conn.close()


async def test_audit_verify_bounds_the_whole_read_of_a_nodes_copy(client: httpx.AsyncClient, cluster: Cluster,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Each statement within the node's timeout did not bound the read of a view streaming rows for ever
    (read into memory): the whole read of one node is bounded in rows and in time, and the node is listed
    with its reason (closing7 "Left")."""
    await _anchored(client)
    before = await _sources(cluster)
    async with _hostile_copy(cluster) as (conn, topology):
        by_rows = await asyncio.wait_for(node_copies(topology, seconds=60, rows=10_000), 30)
        await conn.execute(VIEW.format(filter="hostile.slow(r.seq) = r.seq"))  # ~40 s to read whole
        started = time.monotonic()
        by_time = await asyncio.wait_for(node_copies(topology, seconds=1.5, rows=10 ** 9), 30)
        elapsed = time.monotonic() - started
    for copies in (by_rows, by_time):
        assert {c.source for c in copies.checkpoints} == set(before) - {f"node {NODE}"}
    assert by_rows.unread == [UnreadNode(NODE, "ROW_LIMIT", "more than 10,000 checkpoints (--node-rows)")]
    assert by_time.unread == [UnreadNode(NODE, "TIME_LIMIT", "not read whole within 1.5 s (--node-seconds)")]
    assert elapsed < 1.5 + 3 * cluster.topology.timeout_seconds + 2, elapsed
    err = capsys.readouterr().err
    assert f"warning: checkpoints of node {NODE} not read: more than 10,000 checkpoints (--node-rows)" in err


def test_audit_verify_refuses_bounds_that_are_not_positive(cluster: Cluster) -> None:
    for option, value in (("--node-rows", "0"), ("--node-seconds", "-1"), ("--node-seconds", "inf"),
                          ("--node-rows", "many")):
        result = subprocess.run([sys.executable, "-m", "govshare.server.cli", "audit", "verify", option, value],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and option in result.stderr and "Traceback" not in result.stderr, result
