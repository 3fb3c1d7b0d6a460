"""Audit lanes (migration 0028): writers on different lanes never rechain; writers sharing a lane rechain but
keep a valid chain; a lease is a lane nobody else holds, freed when its process dies, taken back after a
reconnect."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.federation.nodes import NodePools
from govshare.resolvers import audit, audit_lanes, audit_verdicts

from ..audit_databases import REGION, fresh_region, region_pools
from ..conftest import Cluster
from ..helpers import AUDIT_KEY

KEY = AUDIT_KEY.encode()
LEASE = "select audit_lease_lane($1)"
HOLDERS = """select l.objid::integer as lane, l.pid from pg_locks l
    where l.locktype = 'advisory' and l.classid = 7309174 and l.objsubid = 2 and l.granted
      and l.database = (select oid from pg_database where datname = current_database())"""


@pytest.fixture
async def region(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    try:
        yield conn
    finally:
        await conn.close()


def _record(tag: str, n: int) -> audit.AuditRecord:
    return audit.AuditRecord(f"{tag}-{n}", "lanes-test", "650000-GA", "read", None, "650000-B01-000001",
                             row_count=n, client_request_id=tag)


async def _append_concurrently(trails: list[audit.AuditTrail], tag: str, rounds: int = 6, per_round: int = 5) -> None:
    for r in range(rounds):
        await asyncio.gather(*(trail.append(_record(f"{tag}", r * per_round + n))
                               for trail in trails for n in range(per_round)))
    for trail in trails:
        await trail.close()


async def _verdict(cluster: Cluster) -> audit_verdicts.Verdict:
    conn = await cluster.connect("650000")
    try:
        return await audit_verdicts.verify_chain(conn, KEY, [])
    finally:
        await conn.close()


async def test_two_writers_on_their_own_lanes_never_rechain(client: httpx.AsyncClient, cluster: Cluster,
                                                            region: asyncpg.Connection) -> None:
    pools: NodePools = client.app.state.pools  # type: ignore[attr-defined]
    dsn = cluster.service_topology.node("650000").dsn or ""
    trails = [audit.AuditTrail(pools, KEY), audit.AuditTrail(pools, KEY)]
    leases = [audit_lanes.LaneLease(dsn, trail.use_lane) for trail in trails]
    try:
        lanes = [await lease.start(timeout=5) for lease in leases]
        assert len(set(lanes)) == 2 and 0 not in lanes, "each lease its own lane, none the CLI's"
        holders = {r["lane"]: r["pid"] for r in await region.fetch(HOLDERS)}
        assert len({holders[lane] for lane in lanes}) == 2, "each lane held by its own lease connection"
        assert [t.lane for t in trails] == lanes
        tag = uuid.uuid4().hex
        await _append_concurrently(trails, tag)
    finally:
        for lease in leases:
            await lease.stop()
    assert [t.rechains for t in trails] == [0, 0]
    assert [t.batches < 30 for t in trails] == [True, True], "group commit within each lane"
    rows = await region.fetch("select seq, lane, lane_seq from audit_log where client_request_id = $1 order by seq", tag)
    assert len(rows) == 60 and {r["lane"] for r in rows} == set(lanes)
    for lane in lanes:  # each lane's records in order by global seq as by lane_seq
        mine = [r for r in rows if r["lane"] == lane]
        assert [r["lane_seq"] for r in mine] == sorted(r["lane_seq"] for r in mine)
    assert len({r["seq"] for r in rows}) == 60
    verdict = await _verdict(cluster)
    assert verdict.problems == [] and verdict.lanes >= 2


async def test_two_writers_on_one_lane_rechain_and_keep_a_valid_chain(client: httpx.AsyncClient,
                                                                      cluster: Cluster) -> None:
    pools: NodePools = client.app.state.pools  # type: ignore[attr-defined]
    trails = [audit.AuditTrail(pools, KEY, 47), audit.AuditTrail(pools, KEY, 47)]
    await _append_concurrently(trails, uuid.uuid4().hex)
    assert sum(t.rechains for t in trails) > 0 and sum(t.written for t in trails) == 60
    assert (await _verdict(cluster)).problems == []


async def test_the_returned_seq_is_the_records_global_seq(client: httpx.AsyncClient, region: asyncpg.Connection) -> None:
    trail = audit.AuditTrail(client.app.state.pools, KEY, 46)  # type: ignore[attr-defined]
    tag = uuid.uuid4().hex
    seqs = await asyncio.gather(*(trail.append(_record(tag, n)) for n in range(4)))
    await trail.close()
    rows = await region.fetch("select seq, request_id from audit_log where client_request_id = $1", tag)
    assert sorted(seqs) == sorted(r["seq"] for r in rows)
    assert {r["request_id"]: r["seq"] for r in rows} == {f"{tag}-{n}": seq for n, seq in enumerate(seqs)}


async def test_leases_are_distinct_and_fall_back_to_lane_0_when_none_is_free(cluster: Cluster,
                                                                              region: asyncpg.Connection) -> None:
    hog = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    try:
        others = {r["lane"] for r in await region.fetch(HOLDERS)}  # the app's lease, unless just lost
        mine = await hog.fetchval(LEASE, 0)
        assert mine not in others and mine > 0
        assert await hog.fetchval(LEASE, 0) == mine, "a session holds one lane"
        # every other lane held by someone
        await hog.execute("select pg_try_advisory_lock(7309174, l) from generate_series(1, 63) l")
        assert {r["lane"] for r in await region.fetch(HOLDERS)} == set(range(1, 64))
        assert await region.fetchval(LEASE, 5) == 0, "none free: lane 0, shared"
    finally:
        await hog.close()
    assert await region.fetchval(LEASE, 0) > 0


async def test_a_process_dying_frees_its_lane(cluster: Cluster, region: asyncpg.Connection) -> None:
    dsn = cluster.service_topology.node("650000").dsn or ""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import asyncio, sys, asyncpg\n"
        "async def main():\n"
        "    conn = await asyncpg.connect(sys.argv[1])\n"
        "    print(await conn.fetchval('select audit_lease_lane(0)'), flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())", dsn, stdout=asyncio.subprocess.PIPE)
    try:
        assert holder.stdout is not None
        lane = int(await asyncio.wait_for(holder.stdout.readline(), 20))
        assert lane > 0
        assert await region.fetchval(LEASE, lane) != lane, "held by the live process"
        await region.execute("select pg_advisory_unlock_all()")
        holder.send_signal(signal.SIGKILL)  # no goodbye to the server: the connection just drops
        await asyncio.wait_for(holder.wait(), 10)
        for _ in range(50):
            if await region.fetchval(LEASE, lane) == lane:
                break
            await region.execute("select pg_advisory_unlock_all()")
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"lane {lane} still held after its process died")
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_a_dropped_lease_is_taken_back(client: httpx.AsyncClient, cluster: Cluster,
                                             region: asyncpg.Connection) -> None:
    trail = audit.AuditTrail(client.app.state.pools, KEY)  # type: ignore[attr-defined]
    lease = audit_lanes.LaneLease(cluster.service_topology.node("650000").dsn or "", trail.use_lane, retry=0.05)
    try:
        lane = await lease.start(timeout=5)
        assert lane > 0 and trail.lane == lane
        [pid] = [r["pid"] for r in await region.fetch(HOLDERS) if r["lane"] == lane]
        owner = await cluster.connect("650000")
        try:
            await owner.execute("select pg_terminate_backend($1)", pid)
        finally:
            await owner.close()
        for _ in range(100):
            holders = {r["lane"]: r["pid"] for r in await region.fetch(HOLDERS)}
            if holders.get(lane) not in (None, pid):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the lease was not taken back")
        assert trail.lane == lane and lease.lane == lane
    finally:
        await lease.stop()
    for _ in range(100):  # the server ends the closed session's backend (and its locks) a moment later
        if lane not in {r["lane"] for r in await region.fetch(HOLDERS)}:
            break
        await asyncio.sleep(0.05)
    assert lane not in {r["lane"] for r in await region.fetch(HOLDERS)}, "stop frees the lane"


async def test_a_login_holding_the_checkpointer_lock_does_not_stop_the_checkpoints(cluster: Cluster) -> None:
    """Any login on the region's server can take an advisory lock: a department's database login (0022) holding
    the checkpointer's (7309176, 0) made every process find the role taken, and no interval checkpoint was
    written while it held it. Held by such a login, the role counts as vacant (every process anchors); held by
    a service's session, it stays that session's."""
    role, password = f"govshare_x_650000_{uuid.uuid4().int % 10 ** 9}", "lanes-test-pass-1"
    async with fresh_region(cluster) as dsn:
        owner = await asyncpg.connect(dsn)
        name = dsn.rsplit("/", 1)[1].split("?")[0]
        await owner.execute(f"create role {role} with login nosuperuser nocreatedb nocreaterole noinherit "
                            f"noreplication nobypassrls connection limit 5 password '{password}'")
        await owner.execute(f"grant connect on database {name} to {role}")
        lease = audit_lanes.LaneLease(dsn, lambda _lane: None)
        consumer: asyncpg.Connection | None = None
        try:
            consumer = await asyncpg.connect(host="127.0.0.1", port=cluster.servers[REGION].port, user=role,
                                             password=password, database=name)
            assert await consumer.fetchval("select pg_try_advisory_lock(7309176, 0)")
            assert await lease.start(timeout=5) > 0
            assert await lease.checkpointer() is True  # anchors although the lock is not its own
            await consumer.close()
            consumer = None
            other = audit_lanes.LaneLease(dsn, lambda _lane: None)
            try:
                assert await other.start(timeout=5) > 0
                for _ in range(100):  # the closed session's backend lets go a moment later
                    if await other.checkpointer():
                        break
                    await asyncio.sleep(0.05)
                assert await other.checkpointer() is True
                assert await lease.checkpointer() is False  # a service's session holds it: not usurped
            finally:
                await other.stop()
        finally:
            await lease.stop()
            if consumer is not None:
                await consumer.close()
            await owner.execute(f"revoke connect on database {name} from {role}")
            await owner.execute(f"drop role {role}")
            await owner.close()


async def test_leases_held_by_a_login_that_appends_nothing_do_not_crowd_every_process_onto_lane_0(
        cluster: Cluster) -> None:
    """A department's database login (0022) can take every lane's lease (advisory 7309174, 1-63): every process
    then found no lane free and wrote lane 0, all of them on one chain (rechains, and under load 'too busy'
    refusals). Such a process now writes one of the usurped lanes (nobody appends there), and takes its lease
    once the login lets go."""
    role, password = f"govshare_x_650000_{uuid.uuid4().int % 10 ** 9}", "lanes-test-pass-2"
    async with fresh_region(cluster) as dsn:
        owner = await asyncpg.connect(dsn)
        name = dsn.rsplit("/", 1)[1].split("?")[0]
        await owner.execute(f"create role {role} with login nosuperuser nocreatedb nocreaterole noinherit "
                            f"noreplication nobypassrls connection limit 5 password '{password}'")
        await owner.execute(f"grant connect on database {name} to {role}")
        lanes: list[int] = []
        lease = audit_lanes.LaneLease(dsn, lanes.append, retry=0.05)
        consumer: asyncpg.Connection | None = None
        try:
            consumer = await asyncpg.connect(host="127.0.0.1", port=cluster.servers[REGION].port, user=role,
                                             password=password, database=name)
            for lane in range(1, 64):
                assert await consumer.fetchval("select pg_try_advisory_lock(7309174, $1)", lane)
            lane = await lease.start(timeout=5)
            assert 1 <= lane <= 63 and lanes == [lane]  # not lane 0
            await consumer.close()
            consumer = None
            conn = await asyncpg.connect(dsn)
            try:
                for _ in range(200):  # its next round takes the lane's lease itself
                    if lane in {r["lane"] for r in await conn.fetch(HOLDERS)}:
                        break
                    await asyncio.sleep(0.05)
                else:
                    pytest.fail("the lane's lease was not taken once the login let go")
            finally:
                await conn.close()
            assert lease.lane == lane and lanes == [lane]
        finally:
            await lease.stop()
            if consumer is not None:
                await consumer.close()
            await owner.execute(f"revoke connect on database {name} from {role}")
            await owner.execute(f"drop role {role}")
            await owner.close()


async def test_a_writer_that_keeps_losing_its_lane_appends_under_the_lanes_lock(cluster: Cluster) -> None:
    """review-s8 finding 3. Two processes on one lane: a writer refused because the other appended first used to
    retry conditionally at once with the head the database returned, while the other writer, whose head is
    current, was already queued on the lane's lock ahead of it: refused again, RETRIES times, "too busy". Here
    the other process appends right before each of this writer's statements (the race it kept losing, made
    certain): after its first refusal the batch is appended holding the lane's lock across reading the head
    and the insert, and lands; the lane stays one line that verifies."""
    async with fresh_region(cluster) as dsn, region_pools(dsn) as mine, region_pools(dsn) as theirs:
        trail, other = audit.AuditTrail(mine, KEY, 3), audit.AuditTrail(theirs, KEY, 3)
        await trail.append(_record("mine", 0))
        names: list[str] = []
        fetch, run = mine.fetch, mine.run

        async def interfere(name: str) -> None:
            if name.startswith("audit.append"):
                names.append(name)
                await other.append(_record("theirs", len(names)))  # committed before this writer's statement

        async def fetch_after_theirs(database_node: str, name: str, *args: Any, **kwargs: Any) -> Any:
            await interfere(name)
            return await fetch(database_node, name, *args, **kwargs)

        async def run_after_theirs(database_node: str, name: str, *args: Any, **kwargs: Any) -> Any:
            await interfere(name)
            return await run(database_node, name, *args, **kwargs)

        mine.fetch = fetch_after_theirs  # type: ignore[method-assign]
        mine.run = run_after_theirs  # type: ignore[method-assign]
        seqs = [await trail.append(_record("mine", 1))]  # a lone record, its request's own write
        assert trail.rechains == 1 and names == ["audit.append", "audit.append.locked"], names
        seqs += await asyncio.gather(*(trail.append(_record("mine", n)) for n in (2, 3)))  # and a batch behind it
        assert trail.rechains == 3 and names[2:] == ["audit.append", "audit.append.locked"] * 2, names
        mine.fetch, mine.run = fetch, run  # type: ignore[method-assign]
        seqs.append(await trail.append(_record("mine", 4)))  # its head is current: one conditional append
        assert trail.rechains == 3 and trail.failed == 0
        await trail.close()
        await other.close()
        conn = await asyncpg.connect(dsn)
        try:
            verdict = await audit_verdicts.verify_chain(conn, KEY, [])
            rows = await conn.fetch("select seq, lane_seq, request_id from audit_log where lane = 3 order by lane_seq")
        finally:
            await conn.close()
    assert verdict.problems == []
    assert [r["lane_seq"] for r in rows] == list(range(1, 12))
    assert sorted(r["request_id"] for r in rows) == sorted([f"mine-{n}" for n in range(5)] +
                                                           [f"theirs-{n}" for n in range(1, 7)])
    assert set(seqs) <= {r["seq"] for r in rows} and len(set(seqs)) == 4


@pytest.mark.parametrize("mode", ["lone", "batched"])
async def test_two_processes_on_one_lane_both_keep_writing(cluster: Cluster, mode: str) -> None:
    """review-s8 finding 3 as it was seen: two processes (own pools, own trail) on one lane, one writing its
    records one at a time (each its request's own write) or in bursts, the other in bursts: 1 to 12 of 80
    records were refused "too busy" in 7 of 8 runs. Every record lands once, the lane one line that verifies."""
    async with fresh_region(cluster) as dsn, region_pools(dsn) as one, region_pools(dsn) as two:
        a, b = audit.AuditTrail(one, KEY, 3), audit.AuditTrail(two, KEY, 3)

        async def bursts(trail: audit.AuditTrail, tag: str) -> list[Any]:
            seqs: list[Any] = []
            for burst in range(8):
                seqs += await asyncio.gather(*(trail.append(_record(tag, burst * 5 + n)) for n in range(5)),
                                             return_exceptions=True)
            return seqs

        async def lone() -> list[Any]:
            out: list[Any] = []
            for n in range(40):
                try:
                    out.append(await a.append(_record("lone", n)))
                except audit.AuditUnavailable as exc:
                    out.append(exc)
            return out

        first, second = await asyncio.gather(lone() if mode == "lone" else bursts(a, "lone"), bursts(b, "burst"))
        await a.close()
        await b.close()
        conn = await asyncpg.connect(dsn)
        try:
            verdict = await audit_verdicts.verify_chain(conn, KEY, [])
            rows = await conn.fetch("select seq, request_id from audit_log where lane = 3 order by lane_seq")
        finally:
            await conn.close()
    refused = [r for r in first + second if not isinstance(r, int)]
    assert not refused, f"{len(refused)} of 80 records refused ({a.rechains} + {b.rechains} rechains): {refused[:3]}"
    assert a.rechains + b.rechains > 0, "the two processes did meet on the lane"
    assert verdict.problems == [], verdict.problems[:3]
    assert sorted(r["seq"] for r in rows) == sorted(first + second), "every record answered is there, no other"
    assert len({r["request_id"] for r in rows}) == len(rows) == 80
