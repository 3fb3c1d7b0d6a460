"""Audit appends per second: ``python -m benchmarks.audit_appends [--writers 1,8,32,64] [--seconds 5]``.

Starts one PostgreSQL server (fsync on, as in production: every record is durable before its answer
leaves), migrates a region database, then runs N concurrent writers, each appending one record at a
time through ``resolvers.audit`` exactly as a request does, and reports appends/s per N. The chain is
checked after every run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import asyncpg

from govshare.federation.nodes import NodePools
from govshare.federation.topology import Node, Topology
from govshare.migrations.runner import migrate
from govshare.resolvers import audit, audit_verdicts
from govshare.server.postgres import LocalPostgres

KEY = b"benchmark-audit-key-0123456789-abcdef"


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


async def main(writer_counts: list[int], seconds: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="govshare-audit-bench-", dir="/tmp"))
    server = LocalPostgres(root / "pg", fsync=True)
    server.init()
    server.start()
    try:
        conn = await asyncpg.connect(server.dsn())
        await migrate(conn)
        await conn.close()
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
    args = parser.parse_args()
    asyncio.run(main([int(n) for n in args.writers.split(",")], args.seconds))
