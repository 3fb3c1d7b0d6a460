"""Run the benchmarks: ``./dev bench [--duration S] [--rounds N] [--scenario catalog]``.

Each scenario starts govshare and its hand-written baseline as separate uvicorn processes on the same
PostgreSQL data, checks that both answer the same rows, then loads them alternately with ``wrk`` at
1, 8 and 32 connections and reports the median over rounds of p50/p99 latency and requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.settings import DEFAULT_TOPOLOGY
from federation.topology import Topology
from seed.writer import SeedOptions, seed_all
from server.databases import migrate_all, provision_embedded
from server.identity import mint_demo_token
from server.postgres import free_port

HERE = Path(__file__).resolve().parent
SECRET = "benchmark-secret-0123456789-abcdefghij"
CATALOG_QUERY = """{ resources(first: 50) { edges { node { code name provider { code name }
  dataItems { name shareClass } } } pageInfo { hasNextPage endCursor } } }"""


@dataclass
class Result:
    p50_ms: float
    p99_ms: float
    rps: float


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise RuntimeError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(url: str, connections: int, duration: int, method: str = "GET", body: str | None = None,
            headers: dict[str, str] | None = None) -> Result:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115 - wrk reads it by name
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = [==[{body}]==]")
    for name, value in (headers or {}).items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    script.write("\n".join(lines))
    script.close()
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
                          script.name, url], capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"errors during the run:\n{out}")
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Result(p50, p99, rps)


def start_server(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", *args, "--port", str(port), "--log-level",
                                "warning", "--no-access-log"], env=env, cwd=HERE.parent)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


async def prepare(data_dir: Path, resources: int) -> Topology:
    topology = Topology.load(DEFAULT_TOPOLOGY)
    _, topology = await provision_embedded(data_dir, topology)
    await migrate_all(topology)
    reports = await seed_all({n.code: n.dsn or "" for n in topology.databases}, topology,
                             SeedOptions(seed=11, persons=20_000, entities=4_000, resources=resources))
    if not all(r.skipped for r in reports):
        print(f"seeded {resources:,} catalog resources over {len(topology.databases)} databases")
    return topology


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def catalog_scenario(topology: Topology, duration: int, rounds: int, levels: list[int]) -> str:
    env = {**os.environ, "GOVSHARE_DEMO_JWT_SECRET": SECRET}
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in topology.databases})
    env["BASELINE_HOSTED"] = ",".join(f"{n.code}={n.hosted_by}" for n in topology.nodes if n.hosted_by)
    gov_port, base_port = free_port(), free_port()
    token = mint_demo_token(SECRET, "650100-MZ")
    gov = start_server(["--factory", "server.app:app_factory"], env, gov_port)
    base = start_server(["--factory", "benchmarks.baseline:create_app"], env, base_port)
    try:
        gov_url, base_url = f"http://127.0.0.1:{gov_port}/graphql", f"http://127.0.0.1:{base_port}/page"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = json.dumps({"query": CATALOG_QUERY})
        ours = httpx.post(gov_url, content=body, headers=headers).json()
        theirs = httpx.get(base_url).json()
        assert "errors" not in ours, ours
        assert ours["data"]["resources"]["edges"] == theirs["data"]["resources"]["edges"], "answers differ"
        table: dict[tuple[str, int], list[Result]] = {}
        for _ in range(rounds):
            for connections in levels:
                table.setdefault(("govshare", connections), []).append(
                    run_wrk(gov_url, connections, duration, "POST", body, headers))
                table.setdefault(("baseline", connections), []).append(run_wrk(base_url, connections, duration))
    finally:
        gov.terminate()
        base.terminate()
        gov.wait()
        base.wait()
    return report("Catalog page: 50 resources with provider and items over "
                  f"{len(topology.nodes)} nodes ({len(topology.databases)} databases)", table, levels)


ROWS_QUERY = """{ population(first: 1000, purpose: "%s", filter: {nodes: ["650100"]}) { nodes {
  citizenId name sex birthDate ethnicity address divisionCode phone householdType registeredOn } } }"""
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


def rows_scenario(topology: Topology, duration: int, rounds: int, levels: list[int]) -> str:
    asyncio.run(ensure_bench_grants(topology))
    env = {**os.environ, "GOVSHARE_DEMO_JWT_SECRET": SECRET}
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in topology.databases})
    env["BASELINE_HOSTED"] = ",".join(f"{n.code}={n.hosted_by}" for n in topology.nodes if n.hosted_by)
    gov_port, base_port = free_port(), free_port()
    gov = start_server(["--factory", "server.app:app_factory"], env, gov_port)
    base = start_server(["--factory", "benchmarks.baseline:create_app"], env, base_port)
    variants = {
        "govshare": (mint_demo_token(SECRET, "650000-MZ"), ROWS_QUERY % "benchmark-all"),
        "govshare, 3 denied": (mint_demo_token(SECRET, "650000-WJ"), ROWS_QUERY % "benchmark-two"),
    }
    try:
        gov_url, base_url = f"http://127.0.0.1:{gov_port}/graphql", f"http://127.0.0.1:{base_port}/rows"
        theirs = httpx.get(base_url).json()["data"]["population"]["nodes"]
        for name, (token, query) in variants.items():
            ours = httpx.post(gov_url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}).json()
            got = ours["data"]["population"]["nodes"]
            assert len(got) == len(theirs) == 1000, name
            assert [r["name"] for r in got] == [r["name"] for r in theirs], f"{name}: rows differ"
            denied = [e["extensions"]["item"] for e in ours.get("errors", [])]
            assert len(denied) == (3 if "denied" in name else 0), denied
        table: dict[tuple[str, int], list[Result]] = {}
        for _ in range(rounds):
            for connections in levels:
                for name, (token, query) in variants.items():
                    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                    table.setdefault((name, connections), []).append(
                        run_wrk(gov_url, connections, duration, "POST", json.dumps({"query": query}), headers))
                table.setdefault(("baseline", connections), []).append(run_wrk(base_url, connections, duration))
    finally:
        for process in (gov, base):
            process.terminate()
            process.wait()
    return report("Shared data: 1,000 rows x 10 permitted fields from one node", table, levels,
                  ["govshare", "govshare, 3 denied"])


def report(title: str, table: dict[tuple[str, int], list[Result]], levels: list[int],
           names: list[str] | None = None) -> str:
    def med(name: str, c: int, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in table[(name, c)])

    lines = [f"### {title}", "", "| variant | connections | p50 ms | p99 ms | req/s | p50 vs baseline |",
             "|---|---|---|---|---|---|"]
    for c in levels:
        base = med("baseline", c, "p50_ms")
        for name in [*(names or ["govshare"]), "baseline"]:
            lines.append(f"| {name} | {c} | {med(name, c, 'p50_ms'):.1f} | {med(name, c, 'p99_ms'):.1f} | "
                         f"{med(name, c, 'rps'):.0f} | {med(name, c, 'p50_ms') / base:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="./dev bench")
    parser.add_argument("--scenario", choices=["catalog", "rows", "all"], default="all")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/govshare-bench"))
    args = parser.parse_args()
    ensure_wrk()
    topology = asyncio.run(prepare(args.data_dir, args.resources))
    scenarios = {"catalog": catalog_scenario, "rows": rows_scenario}
    chosen = list(scenarios) if args.scenario == "all" else [args.scenario]
    stamp = time.strftime("%Y-%m-%d %H:%M")
    for name in chosen:
        text = scenarios[name](topology, args.duration, args.rounds, [1, 8, 32])
        out = HERE / "results" / f"{name}.md"
        out.write_text(f"<!-- {stamp}, {os.cpu_count()} cores, wrk {args.duration}s x {args.rounds} interleaved "
                       f"rounds, medians -->\n" + text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
