"""What a federation gateway in front of govshare costs on the catalog page.

Run ``.venv/bin/python -m benchmarks.gateway [--duration S] [--rounds N] [--resources N] [--data-dir DIR]``. It starts govshare (``govshare serve``
on an embedded, seeded PostgreSQL) and the gateway of the federation tests
(tests/federation_gateway/gateway.mjs: @graphql-hive/gateway-runtime with govshare as its subgraph),
checks both answer the same page, then loads them alternately with ``wrk`` and reports medians.
The gateway plans the query and forwards it whole to govshare (one subgraph fetch): the difference is
the gateway's own parse/plan/forward plus one more HTTP hop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from govshare.server.identity import mint_demo_token
from govshare.server.postgres import free_port

from . import measure, servers
from .__main__ import CATALOG_QUERY, prepare

GATEWAY = Path(__file__).resolve().parents[1] / "tests" / "federation_gateway"


def start_gateway(govshare_url: str, token: str) -> servers.Server:
    node = shutil.which("node")
    if node is None or not (GATEWAY / "node_modules" / "@graphql-hive").exists():
        raise RuntimeError("needs Node.js and `cd tests/federation_gateway && npm ci`")
    port = free_port()
    process = subprocess.Popen([node, str(GATEWAY / "gateway.mjs"), str(port), f"govshare={govshare_url}"],
                               cwd=GATEWAY, env={**os.environ, "GATEWAY_TOKEN": token},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"}, timeout=1)
            return servers.Server("gateway", process, port, "/graphql")
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gateway did not start")


def run(duration: float, rounds: int, resources: int, data_dir: Path, levels: list[int]) -> str:
    topology = asyncio.run(prepare(data_dir, resources))
    token = mint_demo_token(servers.SECRET, "650100-MZ")
    gov = servers.start_govshare(topology)
    gateway = start_gateway(gov.url, token)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = json.dumps({"query": CATALOG_QUERY})
        direct = httpx.post(gov.url, content=body, headers=headers).json()
        through = httpx.post(gateway.url, content=body, headers=headers).json()
        assert "errors" not in direct and direct["data"] == through["data"], "the gateway answers differently"
        table: dict[tuple[str, int], list[measure.Result]] = {}
        for _ in range(rounds):
            for connections in levels:
                table.setdefault(("direct", connections), []).append(
                    measure.run_wrk(gov.url, connections, duration, gov.pid, "POST", body, headers))
                table.setdefault(("gateway", connections), []).append(
                    measure.run_wrk(gateway.url, connections, duration, gateway.pid, "POST", body, headers))
    finally:
        gateway.stop()
        gov.stop()

    def med(name: str, c: int, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in table[(name, c)])

    lines = ["### Catalog page (50 resources with provider and items) direct and through the gateway", "",
             "| variant | connections | p50 ms | p99 ms | req/s | p50 vs direct | gateway CPU ms/req |",
             "|---|---|---|---|---|---|---|"]
    for c in levels:
        base = med("direct", c, "p50_ms")
        for name in ("direct", "gateway"):
            cpu = f"{med(name, c, 'cpu_per_request_ms'):.2f}" if name == "gateway" else "-"
            lines.append(f"| {name} | {c} | {med(name, c, 'p50_ms'):.1f} | {med(name, c, 'p99_ms'):.1f} | "
                         f"{med(name, c, 'rps'):.0f} | {med(name, c, 'p50_ms') / base:.2f}x | {cpu} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway")
    parser.add_argument("--duration", type=float, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--resources", type=int, default=5_000, help="catalog resources to seed (first run)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/govshare-bench-gateway"))
    args = parser.parse_args()
    measure.ensure_wrk()
    text = run(args.duration, args.rounds, args.resources, args.data_dir, [1, 8])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (Path(__file__).resolve().parent / "results" / "gateway.md").write_text(
        f"<!-- {stamp}, {os.cpu_count()} cores, wrk {args.duration:g}s x {args.rounds} interleaved rounds, medians; "
        "python -m benchmarks.gateway -->\n" + text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
