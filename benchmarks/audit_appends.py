"""Audit appends per second: ``python -m benchmarks.audit_appends [--writers 1,8,32,64] [--seconds 5]
[--processes 2 --lanes same,own] [--before 36,37 --rounds 3 --records 300000]``.

Starts one PostgreSQL server (fsync on, as in production: every record is durable before its answer
leaves), migrates a region database, then runs N concurrent writers, each appending one record at a
time through ``resolvers.audit`` exactly as a request does, and reports appends/s per N. The chain is
checked after every run.

With ``--processes P``, P processes (as ``govshare serve --workers P``) each run N writers at once, either
all on lane 0 (``same``: the one chain they shared before migration 0028) or each on the lane it leases
(``own``), and the table adds the batches, how many were rechained (found another writer's head first)
and the records per batch.

With ``--before V[,W...]``, an A/B run on the same server in the same minute: region databases migrated up
to migration V (A), W (B), ... and one migrated fully (the last), loaded in interleaved rounds (``--rounds``), each row with
PostgreSQL's CPU per append (postmaster and every backend, from /proc), the benchmark process's own CPU
per append (the service's side: records, HMACs, the statement) and the WAL bytes per append. A
CHECKPOINT starts every run, so the full-page images a trail writes after each checkpoint are counted;
``--records N`` first fills each database with N records (in batches of 500, each lane 1 chain), so that
its indexes are as large as a trail's in service.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson

from govshare.core.errors import AuditUnavailable
from govshare.federation.nodes import NodePools
from govshare.federation.topology import Node, Topology
from govshare.migrations.runner import Migration, discover, migrate
from govshare.resolvers import audit, audit_records, audit_verdicts
from govshare.server.postgres import LocalPostgres

from .measure import tree_cpu_ms

KEY = b"benchmark-audit-key-0123456789-abcdef"
# The first migration whose append the trail calls now (audit_append_entries); variants migrated below it
# append as the trail did before (JSON to audit_append_lane), with JsonTrail.
ENTRIES = 40


class JsonTrail(audit.AuditTrail):
    """The trail as it appended before migration 0040: the batch as JSON text to audit_append_lane (jsonb)."""

    async def _write(self, records: list[audit.AuditRecord],
                     version: int | None) -> list[audit.AuditRef] | audit.AccessChanged:
        lane = self.lane
        head = self.head or await self._read_head(lane)
        for _attempt in range(audit.RETRIES):
            at = datetime.now(UTC)
            at_text = audit_records.utc_text(at)
            rows = []
            prev = head.hash
            for offset, record in enumerate(records):
                fields = audit_records.record_fields(record)
                lane_seq = head.seq + 1 + offset
                digest = audit_records.chain_hash(self.key, prev, audit_records.payload(lane_seq, at_text, fields, lane))
                rows.append({**fields, "lane_seq": lane_seq, "at": at_text, "prev_hash": prev, "hash": digest})
                prev = digest
            result = await self.pools.fetch(self.database, "audit.append", audit.APPEND_BATCH, lane, head.seq,
                                            head.hash, orjson.dumps(rows).decode(), version)
            row = result[0]
            head = audit.Head(int(row["last_seq"]), str(row["last_hash"]), at)
            self.head = head
            if version is not None and int(row["access_version"]) != version:
                return audit.AccessChanged(int(row["access_version"]))
            if row["appended"]:
                self.batches += 1
                return [audit.AuditRef(int(seq), lane, int(r["lane_seq"]), str(r["hash"]))
                        for seq, r in zip(row["seqs"], rows, strict=True)]
            self.rechains += 1
        raise AuditUnavailable("the audit chain is too busy; try again")


def trail_for(pools: NodePools, version: int | None, lane: int = 0) -> audit.AuditTrail:
    """The trail that appends as a service of migration ``version`` (None: the latest) would."""
    if version is None or version >= ENTRIES:
        return audit.install(pools, KEY, lane)
    trail = JsonTrail(pools, KEY, lane)
    audit._trails[pools] = trail
    return trail


async def run(dsn: str, writers: int, seconds: float) -> float:
    topology = Topology((Node("650000", "region", {"zh": "区"}, None, dsn),))
    pools = NodePools(topology, timeout=30, max_size=10)
    await pools.open()
    trail = audit.install(pools, KEY) if hasattr(audit, "install") else None
    done = 0
    deadline = time.monotonic() + seconds

    async def writer(number: int) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await audit.append(pools, audit.AuditRecord(f"bench-{number}-{done}", "bench", "650000-GA", "read",
                                                         "benchmark", "650000-B01-000001", row_count=1))
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    elapsed = time.monotonic() - started
    if trail is not None:
        await trail.close()
    await pools.close()
    return done / elapsed


async def one_process(dsn: str, writers: int, seconds: float, lanes: str,
                      start_at: float) -> tuple[int, int, int, int]:
    """One writer process: (records, batches, rechains, failed) from ``start_at`` for ``seconds``."""
    logging.getLogger("govshare.audit").setLevel(logging.CRITICAL)  # failures are counted in the table
    topology = Topology((Node("650000", "region", {"zh": "区"}, None, dsn),))
    pools = NodePools(topology, timeout=30, max_size=10)
    await pools.open()
    trail = audit.install(pools, KEY)  # lane 0 unless leased below
    lease = None
    if lanes == "own":
        from govshare.resolvers.audit_lanes import LaneLease

        lease = LaneLease(dsn, trail.use_lane)
        await lease.start(timeout=10)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    done = 0
    deadline = time.monotonic() + seconds

    async def writer(number: int) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            try:
                await audit.append(pools, audit.AuditRecord(f"bench-{number}-{done}", "bench", "650000-GA", "read",
                                                             "benchmark", "650000-B01-000001", row_count=1))
            except AuditUnavailable:  # counted (trail.failed): RETRIES rechains in a row, "too busy"
                continue
            done += 1

    await asyncio.gather(*(writer(n) for n in range(writers)))
    await trail.close()
    if lease is not None:
        await lease.stop()
    await pools.close()
    return done, trail.batches, trail.rechains, trail.failed


def _process(dsn: str, writers: int, seconds: float, lanes: str, start_at: float) -> tuple[int, int, int, int]:
    return asyncio.run(one_process(dsn, writers, seconds, lanes, start_at))


def run_processes(dsn: str, processes: int, writers: int, seconds: float,
                  lanes: str) -> tuple[float, int, int, int, int]:
    """P processes at once: (appends/s, records, batches, rechains, failed) over all of them."""
    start_at = time.time() + 3.0  # every process connected and leased before the clock starts
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_process, *zip(*[(dsn, writers, seconds, lanes, start_at)] * processes, strict=True)))
    records, batches, rechains, failed = (sum(r[i] for r in results) for i in range(4))
    return records / seconds, records, batches, rechains, failed


async def check(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        if hasattr(audit_verdicts, "verify_chain"):
            problems = await audit_verdicts.verify_chain(conn, KEY, [])
            return "intact" if not problems.problems else f"BROKEN: {problems.problems[0]}"
        broken = await audit.first_broken_link(conn)  # type: ignore[attr-defined]
        return "intact" if broken is None else f"BROKEN at {broken}"
    finally:
        await conn.close()


def postmaster(server: LocalPostgres) -> int:
    return int((server.pgdata / "postmaster.pid").read_text().split()[0])


async def fill(dsn: str, records: int, version: int | None = None) -> None:
    """``records`` records on lane 1, appended as a service would under load (batches of MAX_BATCH)."""
    topology = Topology((Node("650000", "region", {"zh": "区"}, None, dsn),))
    pools = NodePools(topology, timeout=60, max_size=2)
    await pools.open()
    trail = trail_for(pools, version, 1)
    try:
        for start in range(0, records, audit.MAX_BATCH):
            batch = [audit.AuditRecord(f"fill-{n}", "bench", f"650000-D{n % 40:02d}", "read", "benchmark",
                                       f"650100-B01-{n % 3000:06d}", grant_ids=[1 + n % 50], row_count=1)
                     for n in range(start, min(records, start + audit.MAX_BATCH))]
            written = await trail._write(batch, None)
            assert not isinstance(written, audit.AccessChanged)
    finally:
        await pools.close()


async def measured(server: LocalPostgres, dsn: str, writers: int, seconds: float,
                   version: int | None = None) -> tuple[float, float, float, float]:
    """(appends/s, PostgreSQL CPU ms per append, WAL bytes per append, this process's CPU ms per append:
    the service's side of the append) of one run after a checkpoint."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("checkpoint")
        lsn = await conn.fetchval("select pg_current_wal_lsn()")
    finally:
        await conn.close()
    pm = postmaster(server)
    cpu = tree_cpu_ms(pm)
    topology = Topology((Node("650000", "region", {"zh": "区"}, None, dsn),))
    pools = NodePools(topology, timeout=30, max_size=10)
    await pools.open()
    trail = trail_for(pools, version)
    done = 0
    deadline = time.monotonic() + seconds

    async def writer(number: int) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await audit.append(pools, audit.AuditRecord(f"bench-{number}-{done}", "bench", "650000-GA", "read",
                                                         "benchmark", "650000-B01-000001", grant_ids=[3],
                                                         items_returned=["citizen_id", "name", "sex"],
                                                         row_count=1))
            done += 1

    started, own = time.monotonic(), time.process_time()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    elapsed, own = time.monotonic() - started, time.process_time() - own
    await trail.close()
    await pools.close()
    cpu = tree_cpu_ms(pm) - cpu
    conn = await asyncpg.connect(dsn)
    try:
        wal = await conn.fetchval("select pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", lsn)
    finally:
        await conn.close()
    return done / elapsed, cpu / max(done, 1), float(wal) / max(done, 1), own * 1000 / max(done, 1)


async def compare(server: LocalPostgres, before: list[int], writer_counts: list[int], seconds: float, rounds: int,
                  records: int) -> None:
    """Migrated up to each of ``before`` (A, B, ...) and fully (the last variant), interleaved: one row per run."""
    variants: dict[str, list[Migration] | None] = {
        chr(ord("A") + n): [m for m in discover() if m.version <= version] for n, version in enumerate(before)}
    variants[chr(ord("A") + len(before))] = None
    versions: dict[str, int | None] = {chr(ord("A") + n): version for n, version in enumerate(before)}
    versions[chr(ord("A") + len(before))] = None
    dsns = {}
    for name, migrations in variants.items():
        conn = await asyncpg.connect(server.dsn())
        try:
            await conn.execute(f"create database bench_{name.lower()}")
        finally:
            await conn.close()
        dsns[name] = server.dsn(f"bench_{name.lower()}")
        conn = await asyncpg.connect(dsns[name])
        try:
            await migrate(conn, migrations)
        finally:
            await conn.close()
        if records:
            await fill(dsns[name], records, versions[name])
    names = list(variants)
    print(", ".join(f"{name}: migrations up to {version:04d}" for name, version in zip(names, before, strict=False))
          + f", {names[-1]}: all. Each run after a CHECKPOINT; {records:,} records in the trail first.\n")
    print("| writers | round | variant | appends/s | PostgreSQL CPU ms/append | service CPU ms/append "
          "| WAL bytes/append | chain |\n|---|---|---|---|---|---|---|---|")
    for writers in writer_counts:
        for number in range(rounds):
            for name in names if number % 2 == 0 else names[::-1]:
                rate, cpu, wal, own = await measured(server, dsns[name], writers, seconds, versions[name])
                print(f"| {writers} | {number + 1} | {name} | {rate:,.0f} | {cpu:.3f} | {own:.3f} | {wal:,.0f} "
                      f"| {await check(dsns[name])} |", flush=True)


async def main(writer_counts: list[int], seconds: float, processes: int = 1, lanes: list[str] | None = None,
               before: list[int] | None = None, rounds: int = 3, records: int = 0) -> None:
    root = Path(tempfile.mkdtemp(prefix="govshare-audit-bench-", dir="/tmp"))
    server = LocalPostgres(root / "pg", fsync=True)
    server.init()
    server.start()
    try:
        if before:
            await compare(server, before, writer_counts, seconds, rounds, records)
            return
        conn = await asyncpg.connect(server.dsn())
        await migrate(conn)
        await conn.close()
        if processes > 1:
            print("| processes x writers | lanes | appends/s | batches | rechained | records/batch | failed (too busy) "
                  "| chain |\n|---|---|---|---|---|---|---|---|")
            for writers in writer_counts:
                for mode in lanes or ["same", "own"]:
                    rate, records, batches, rechains, failed = await asyncio.to_thread(
                        run_processes, server.dsn(), processes, writers, seconds, mode)
                    print(f"| {processes} x {writers} | {mode} | {rate:,.0f} | {batches:,} | {rechains:,} "
                          f"({rechains / max(batches, 1):.0%} of batches) | {records / max(batches, 1):.1f} "
                          f"| {failed:,} | {await check(server.dsn())} |", flush=True)
            return
        print("| writers | appends/s | chain |\n|---|---|---|")
        for writers in writer_counts:
            rate = await run(server.dsn(), writers, seconds)
            print(f"| {writers} | {rate:,.0f} | {await check(server.dsn())} |", flush=True)
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=1, help="writer processes at once (as serve --workers)")
    parser.add_argument("--lanes", default="same,own", help="with --processes: same (all on lane 0), own (leased)")
    parser.add_argument("--before", default="", help="A/B: migrated up to these migrations (36,37) against fully")
    parser.add_argument("--rounds", type=int, default=3, help="with --before: interleaved rounds")
    parser.add_argument("--records", type=int, default=0, help="with --before: records in each trail first")
    args = parser.parse_args()
    asyncio.run(main([int(n) for n in args.writers.split(",")], args.seconds, args.processes, args.lanes.split(","),
                     [int(v) for v in args.before.split(",") if v], args.rounds, args.records))
