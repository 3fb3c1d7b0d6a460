"""Run the benchmarks: ``./dev bench [--scenario single|catalog|all] [--duration S] [--rounds N]``.

``single``: govshare, PostGraphile 5 (Node 22, from the npm registry) and the raw baseline (starlette +
asyncpg + orjson, the same SQL) side by side over one node database, answers compared before the load
(benchmarks/single_node.py). ``catalog``: the catalog page over every node (15 nodes, 12 databases),
govshare against the raw fan-out. Load with ``wrk`` in interleaved rounds; medians are reported, with
the server process's CPU per request read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

from govshare.core.settings import DEFAULT_TOPOLOGY
from govshare.federation.topology import Topology
from govshare.seed.writer import SeedOptions, seed_all
from govshare.server.databases import migrate_all, provision_embedded
from govshare.server.identity import mint_demo_token
from govshare.server.postgres import LocalPostgres

from . import load, measure, servers, single_node
from .answers import compare

HERE = Path(__file__).resolve().parent
CATALOG_QUERY = """{ resources(first: 50) { edges { node { code name provider { code name }
  dataItems { name shareClass } } } pageInfo { hasNextPage endCursor } } }"""


async def prepare(data_dir: Path, resources: int) -> Topology:
    topology = Topology.load(DEFAULT_TOPOLOGY)
    _, topology = await provision_embedded(data_dir, topology)
    await migrate_all(topology)
    reports = await seed_all({n.code: n.dsn or "" for n in topology.databases}, topology,
                             SeedOptions(seed=11, persons=20_000, entities=4_000, resources=resources))
    if not all(r.skipped for r in reports):
        print(f"seeded {resources:,} catalog resources over {len(topology.databases)} databases")
    await ensure_bench_grants(topology)
    return topology


BENCH_GRANTS = [
    # (department, items, purpose): all five CONDITIONAL items, and only two of them (3 denied)
    ("650000-MZ", ["citizen_id", "birth_date", "ethnicity", "address", "phone"], "benchmark-all"),
    ("650000-WJ", ["citizen_id", "birth_date"], "benchmark-two"),
]


async def ensure_bench_grants(topology: Topology) -> None:
    import asyncpg

    conn = await asyncpg.connect(topology.node(topology.region.code).dsn or "")
    try:
        for department, items, purpose in BENCH_GRANTS:
            if not await conn.fetchval("select 1 from grants where purpose = $1", purpose):
                await conn.execute("""insert into grants (grantee_department, resource_code, items, purpose,
                    valid_from, valid_until, created_by) values ($1, '650000-B01-000001', $2, $3,
                    now() - interval '1 day', now() + interval '10 years', 'benchmark')""", department, items, purpose)
    finally:
        await conn.close()


def catalog_scenario(topology: Topology, duration: float, rounds: int, levels: list[int],
                     db_pid: int | None = None) -> str:
    """The catalog page over every node: govshare against the raw fan-out (PostGraphile serves one database)."""
    token = mint_demo_token(servers.SECRET, "650100-MZ")
    gov = servers.start_govshare(topology)
    base = servers.start_raw(topology)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = json.dumps({"query": CATALOG_QUERY})
        ours = httpx.post(gov.url, content=body, headers=headers).json()
        theirs = httpx.get(base.url + "/page").json()
        edges = lambda a: a["data"]["resources"]["edges"]  # noqa: E731
        compare({"govshare": ours, "raw": theirs}, {"govshare": edges, "raw": edges})
        table: dict[tuple[str, int], list[measure.Result]] = {}
        loads: list[float] = []  # the 1-minute load average after each run: how busy the machine was
        for _ in range(rounds):
            for connections in levels:
                table.setdefault(("govshare", connections), []).append(
                    measure.run_wrk(gov.url, connections, duration, gov.pid, "POST", body, headers, db_pid))
                table.setdefault(("raw", connections), []).append(
                    measure.run_wrk(base.url + "/page", connections, duration, base.pid, db_pid=db_pid))
                loads.append(os.getloadavg()[0])
    finally:
        gov.stop()
        base.stop()
    return report("Catalog page: 50 resources with provider and items over "
                  f"{len(topology.nodes)} nodes ({len(topology.databases)} databases)", table, levels, loads)


def report(title: str, table: dict[tuple[str, int], list[measure.Result]], levels: list[int],
           loads: list[float] | None = None) -> str:
    def med(name: str, c: int, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in table[(name, c)])

    lines = [f"### {title}", "", "| variant | connections | p50 ms | p99 ms | req/s | CPU ms/req | DB CPU ms/req "
             "| p50 vs raw |", "|---|---|---|---|---|---|---|---|"]
    for c in levels:
        base = med("raw", c, "p50_ms")
        for name in ["govshare", "raw"]:
            lines.append(f"| {name} | {c} | {med(name, c, 'p50_ms'):.1f} | {med(name, c, 'p99_ms'):.1f} | "
                         f"{med(name, c, 'rps'):.0f} | {med(name, c, 'cpu_per_request_ms'):.2f} | "
                         f"{med(name, c, 'db_cpu_per_request_ms'):.2f} | {med(name, c, 'p50_ms') / base:.2f}x |")
    if loads:
        lines += ["", f"1-minute load average after each run: {min(loads):.1f}-{max(loads):.1f} "
                      f"(median {statistics.median(loads):.1f}) on {os.cpu_count()} cores."]
    return "\n".join(lines) + "\n"


def postmaster(data_dir: Path) -> int | None:
    """The embedded PostgreSQL server's process (its backends are its children), for its CPU time."""
    pid_file = LocalPostgres(data_dir / "postgres").pgdata / "postmaster.pid"
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(prog="./dev bench")
    parser.add_argument("--scenario", choices=["single", "catalog", "load", "all"], default="all")
    parser.add_argument("--only", nargs="*", help="single-node scenario keys: one_row resource rows50 rows1000 page")
    parser.add_argument("--duration", type=float, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/govshare-bench"))
    parser.add_argument("--workers", type=int, default=1,
                        help="also load `govshare serve --workers N` in the single-node scenarios (N > 1)")
    parser.add_argument("--clients", type=int, default=64, help="load scenario: concurrent clients")
    parser.add_argument("--load-seconds", type=int, default=60, help="load scenario: seconds per round")
    parser.add_argument("--load-rounds", type=int, default=1, help="load scenario: rounds (RSS read after each)")
    parser.add_argument("--set", nargs="*", default=[], metavar="GOVSHARE_X=V",
                        help="load scenario: extra settings for the govshare process")
    args = parser.parse_args()
    measure.ensure_wrk()
    if args.scenario in ("single", "all"):
        servers.ensure_postgraphile()
    topology = asyncio.run(prepare(args.data_dir, args.resources))
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = (f"<!-- {stamp}, {os.cpu_count()} cores, wrk {args.duration:g}s x {args.rounds} interleaved rounds, "
              "medians; ./dev bench -->\n")
    if args.scenario in ("single", "all"):
        text = single_node.run(topology, args.duration, args.rounds, args.only, args.workers,
                               postmaster(args.data_dir))
        (HERE / "results" / "single_node.md").write_text(header + text)
        print(text)
    if args.scenario in ("catalog", "all"):
        text = catalog_scenario(topology, args.duration, args.rounds, [1, 8, 32], postmaster(args.data_dir))
        (HERE / "results" / "catalog.md").write_text(header + text)
        print(text)
    if args.scenario in ("load", "all"):
        env = dict(item.split("=", 1) for item in args.set)
        text, rounds = load.run(topology, args.clients, args.load_seconds, args.load_rounds, env)
        name = "load.md" if not env else "load-" + "-".join(f"{k.removeprefix('GOVSHARE_').lower()}{v}"
                                                           for k, v in env.items()) + ".md"
        (HERE / "results" / name).write_text(f"<!-- {stamp}, {os.cpu_count()} cores; ./dev bench --scenario load "
                                             f"{' '.join('--set ' + s for s in args.set)} -->\n" + text)
        print(text)
        if any(r.false_outages for r in rounds):
            print("FAILED: healthy nodes were reported NODE_UNAVAILABLE under load", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
