"""Data exchange at scale: export 1,000,000 population rows and report rows/s and memory.

    .venv/bin/python -m benchmarks.exchange [--persons 1000000]

Provisions a private embedded PostgreSQL with one database (the region, hosting Urumqi), seeds the persons, grants a
department the EXCHANGE mode, then runs one export job per format through the same code the service
runs (resolvers/exchange_runs.py) while a thread samples the process's resident set every 10 ms.
Prints rows/s, file size and the peak RSS above the level before the export (flat memory: the peak
does not grow with the row count).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from govshare.federation.nodes import NodePools
from govshare.federation.topology import Topology
from govshare.policies.decisions import PolicyEngine
from govshare.resolvers import audit, exchange_runs, exchanges
from govshare.resolvers.exchange_formats import parquet_available
from govshare.resolvers.exchange_runs import RunEnv
from govshare.resolvers.groups import load_memberships
from govshare.resolvers.specs import authorise, load_catalogs
from govshare.seed.writer import SeedOptions, seed_all
from govshare.server.databases import migrate_all
from govshare.server.postgres import LocalPostgres

TOPOLOGY = """[defaults]
timeout_seconds = 30.0

[[nodes]]
code = "650000"
level = "region"
name_zh = "新疆维吾尔自治区"
name_en = "Xinjiang Uyghur Autonomous Region"

[[nodes]]
code = "650100"
level = "prefecture"
name_zh = "乌鲁木齐市"
name_en = "Urumqi"
hosted_by = "650000"
"""
DEPARTMENT = "650000-MZ"
POPULATION = "650000-B01-000001"


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Sampler:
    """The peak resident set while running, sampled every 10 ms in a thread."""

    def __init__(self) -> None:
        self.peak = rss_kib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_kib())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Result:
    format: str
    rows: int
    seconds: float
    bytes: int
    baseline_mib: float
    peak_mib: float


async def measure(root: Path, persons: int) -> list[Result]:
    server = LocalPostgres(root / "postgres", fsync=False)
    server.init()
    server.start()
    try:
        conn = await asyncpg.connect(server.dsn())
        await conn.execute("create database govshare")
        await conn.close()
        (root / "topology.toml").write_text(TOPOLOGY, encoding="utf-8")
        topology = Topology.load(root / "topology.toml", {"650000": server.dsn("govshare")})
        await migrate_all(topology)
        started = time.perf_counter()
        await seed_all({"650000": server.dsn("govshare")}, topology,
                       SeedOptions(seed=7, persons=persons, entities=100, resources=10))
        print(f"seeded {persons:,} persons in {time.perf_counter() - started:.1f} s")
        conn = await asyncpg.connect(server.dsn("govshare"))
        now = datetime.now(UTC)
        grant_id = await conn.fetchval(
            """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
               status, created_by, share_modes) values ($1, $2, $3, 'benchmark', $4, $5, 'active', 'bench',
               array['exchange']) returning id""", DEPARTMENT, POPULATION, ["citizen_id", "birth_date"],
            now - timedelta(days=1), now + timedelta(days=1))
        await conn.execute("vacuum analyze population")
        await conn.close()
        pools = NodePools(topology, timeout=30.0)
        await pools.open()
        audit.install(pools, b"benchmark-audit-key-not-for-production-0123456789")
        engine = await PolicyEngine.load(pools.pool("650000"), await load_memberships(pools))
        catalogs, _ = await load_catalogs(pools)
        specs = authorise(topology, {db: tuple(s) for db, s in catalogs.items()}).specs
        results = []
        for fmt in ("csv", "ndjson", *(["parquet"] if parquet_available() else [])):
            exporter = exchanges.Exporter("bench", "bench", DEPARTMENT, pools, engine, specs, datetime.now(UTC))
            await exchanges.start(exporter, exchanges.ExportOrder(grant_id, fmt))
            env = RunEnv(pools, lambda: engine, lambda: specs, root / "exchange", "bench")
            job = await exchange_runs.claim(env)
            assert job is not None
            baseline = rss_kib()
            started = time.perf_counter()
            with Sampler() as sampler:
                await exchange_runs.run(env, job)
            seconds = time.perf_counter() - started
            done = await exchanges.job(pools, DEPARTMENT, job.id)
            assert done.state == "done", done.error
            results.append(Result(fmt, done.rows_done, seconds, done.file_bytes or 0, baseline / 1024,
                                  sampler.peak / 1024))
            (root / "exchange" / (done.file_name or "")).unlink()
        await pools.close()
        return results
    finally:
        server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="govshare-exchange-bench-", dir="/tmp"))
    try:
        results = asyncio.run(measure(root, args.persons))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("| format | rows | seconds | rows/s | file MB | RSS before MiB | peak RSS MiB | peak - before MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.format} | {r.rows:,} | {r.seconds:.1f} | {r.rows / r.seconds:,.0f} | {r.bytes / 1e6:.0f} | "
              f"{r.baseline_mib:.0f} | {r.peak_mib:.0f} | {r.peak_mib - r.baseline_mib:.0f} |")


if __name__ == "__main__":
    main()
