"""Single-node scenarios, side by side: govshare, PostGraphile 5 and the raw baseline over one node database.

All three servers read the same database (node 650100's); before any load, each scenario's answers
are compared in canonical form (benchmarks/answers.py) and the run stops if they differ. Rounds are
interleaved (every scenario, connection count and server once per round, servers in a rotating
order) and the median over rounds is reported, with the server process's CPU per request.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from govshare.federation.topology import Topology
from govshare.server.identity import mint_demo_token

from . import answers, measure, servers

NODE = "650100"
PURPOSE = "benchmark-all"
DEPARTMENT = "650000-MZ"  # holds the benchmark grant of all five CONDITIONAL population items (see __main__)
ROW_FIELDS = "citizenId name sex birthDate ethnicity address divisionCode phone householdType registeredOn"
RESOURCE_FIELDS = "code name provider { code name } dataItems { name shareClass }"
PG_RESOURCE_FIELDS = ("code nameZh departmentByProviderCode { code nameZh } "
                      "dataItemsByResourceCode(orderBy: POSITION_ASC) { nodes { name shareClass } }")
SERVERS = ("govshare", "postgraphile", "raw")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    levels: tuple[int, ...]
    govshare: str  # GraphQL document
    postgraphile: str  # GraphQL document
    raw: str  # path and query string of the baseline
    extract: dict[str, answers.Extract]


def _rows(first: int) -> Scenario:
    return Scenario(
        f"rows{first}", f"{first:,} population rows x 10 fields", (1, 8, 32),
        f'{{ population(first: {first}, purpose: "{PURPOSE}", filter: {{nodes: ["{NODE}"]}}) '
        f"{{ nodes {{ {ROW_FIELDS} }} }} }}",
        f'{{ allPopulations(first: {first}, condition: {{nodeCode: "{NODE}"}}, '
        f"orderBy: [NODE_CODE_ASC, ROW_ID_ASC]) {{ nodes {{ {ROW_FIELDS} }} }} }}",
        f"/rows?node={NODE}&first={first}",
        {"govshare": lambda a: a["data"]["population"]["nodes"],
         "postgraphile": lambda a: a["data"]["allPopulations"]["nodes"],
         "raw": lambda a: a["data"]["population"]["nodes"]})


def scenarios(citizen_id: str, resource_code: str) -> list[Scenario]:
    page: Callable[[dict[str, Any]], Any] = lambda a: [e["node"] for e in a["data"]["resources"]["edges"]]  # noqa: E731
    return [
        Scenario(
            "one_row", "one population row by key (granted fields)", (1, 8, 32),
            f'{{ population(first: 1, purpose: "{PURPOSE}", filter: {{nodes: ["{NODE}"], '
            f'citizenId: {{eq: "{citizen_id}"}}}}) {{ nodes {{ {ROW_FIELDS} }} }} }}',
            f'{{ populationByCitizenId(citizenId: "{citizen_id}") {{ {ROW_FIELDS} }} }}',
            f"/one_row?node={NODE}&key={citizen_id}",
            {"govshare": lambda a: a["data"]["population"]["nodes"],
             "postgraphile": lambda a: [a["data"]["populationByCitizenId"]],
             "raw": lambda a: a["data"]["population"]["nodes"]}),
        Scenario(
            "resource", "one catalog resource by code (with provider and items)", (1, 8, 32),
            f'{{ resource(code: "{resource_code}") {{ {RESOURCE_FIELDS} }} }}',
            f'{{ resourceByCode(code: "{resource_code}") {{ {PG_RESOURCE_FIELDS} }} }}',
            f"/resource?code={resource_code}",
            {"govshare": lambda a: a["data"]["resource"],
             "postgraphile": lambda a: answers.pg_resource(a["data"]["resourceByCode"]),
             "raw": lambda a: a["data"]["resource"]}),
        _rows(50),
        _rows(1000),
        Scenario(
            "page", "catalog page, 50 resources + provider + items, one node", (1, 8),
            f'{{ resources(first: 50, filter: {{nodes: ["{NODE}"]}}) {{ edges {{ node {{ {RESOURCE_FIELDS} }} }} }} }}',
            f'{{ allResources(first: 50, condition: {{nodeCode: "{NODE}"}}, orderBy: CODE_ASC) '
            f"{{ nodes {{ {PG_RESOURCE_FIELDS} }} }} }}",
            f"/page?node={NODE}&first=50",
            {"govshare": page,
             "postgraphile": lambda a: [answers.pg_resource(n) for n in a["data"]["allResources"]["nodes"]],
             "raw": page}),
    ]


async def sample_keys(topology: Topology) -> tuple[str, str]:
    """A citizen and a resource of the node, read from its database."""
    conn = await asyncpg.connect(topology.node(NODE).dsn or "")
    try:
        citizen = await conn.fetchval("select citizen_id from population where node_code = $1 "
                                      "order by row_id offset 100 limit 1", NODE)
        resource = await conn.fetchval("select code from resources where node_code = $1 order by code "
                                       "offset 3 limit 1", NODE)
    finally:
        await conn.close()
    return str(citizen), str(resource)


def kind(server: str) -> str:
    """Which of SERVERS a running server is ("raw x2" is the baseline with 2 processes)."""
    return server.split()[0]


class Runner:
    """Sends a scenario's request to one server: by HTTP once, or under wrk."""

    def __init__(self, running: dict[str, servers.Server], token: str, db_pid: int | None = None) -> None:
        self.running = running
        self.db_pid = db_pid
        self.gov_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.json_headers = {"Content-Type": "application/json"}

    def _request(self, server: str, scenario: Scenario) -> tuple[str, str, str | None, dict[str, str]]:
        base = self.running[server].url
        if kind(server) == "raw":
            return base + scenario.raw, "GET", None, {}
        ours = kind(server) == "govshare"
        document = scenario.govshare if ours else scenario.postgraphile
        headers = self.gov_headers if ours else self.json_headers
        return base, "POST", json.dumps({"query": document}), headers

    def answer(self, server: str, scenario: Scenario) -> dict[str, Any]:
        url, method, body, headers = self._request(server, scenario)
        response = httpx.request(method, url, content=body, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def load(self, server: str, scenario: Scenario, connections: int, duration: float) -> measure.Result:
        url, method, body, headers = self._request(server, scenario)
        return measure.run_wrk(url, connections, duration, self.running[server].pid, method, body, headers,
                               self.db_pid)


def run(topology: Topology, duration: float, rounds: int, only: list[str] | None = None, workers: int = 1,
        db_pid: int | None = None) -> str:
    import asyncio

    citizen, resource = asyncio.run(sample_keys(topology))
    chosen = [s for s in scenarios(citizen, resource) if only is None or s.key in only]
    running: dict[str, servers.Server] = {}
    try:
        running["govshare"] = servers.start_govshare(topology)
        running["postgraphile"] = servers.start_postgraphile(topology.node(NODE).dsn or "")
        running["raw"] = servers.start_raw(topology)
        names = list(SERVERS)
        if workers > 1:
            # each server with ``workers`` processes: how far the machine lets any of them scale (the
            # baseline and PostGraphile) beside how far govshare does
            for scaled in (servers.start_govshare(topology, workers),
                           servers.start_postgraphile(topology.node(NODE).dsn or "", workers),
                           servers.start_raw(topology, workers)):
                running[scaled.name] = scaled
                names.append(scaled.name)
        runner = Runner(running, mint_demo_token(servers.SECRET, DEPARTMENT), db_pid)
        for scenario in chosen:
            extract = {n: scenario.extract[kind(n)] for n in names}
            answers.compare({s: runner.answer(s, scenario) for s in names}, extract)
            print(f"{scenario.key}: the {len(names)} answers are identical")
            for server in names:  # warm-up (JIT, caches, pools), not measured
                runner.load(server, scenario, 8, min(2.0, duration))
        table: dict[tuple[str, str, int], list[measure.Result]] = {}
        loads: list[float] = []  # the 1-minute load average after each run: how busy the machine was
        for round_no in range(rounds):
            shift = round_no % len(names)
            order = names[shift:] + names[:shift]
            for scenario in chosen:
                for connections in scenario.levels:
                    for server in order:
                        result = runner.load(server, scenario, connections, duration)
                        table.setdefault((scenario.key, server, connections), []).append(result)
                        loads.append(os.getloadavg()[0])
                        print(f"round {round_no + 1} {scenario.key} c={connections} {server}: "
                              f"{result.rps:.0f} req/s, {result.cpu_per_request_ms:.2f} ms CPU/req", flush=True)
        # The answers once more after the load: a server that degraded under load would show here.
        for scenario in chosen:
            extract = {n: scenario.extract[kind(n)] for n in names}
            answers.compare({s: runner.answer(s, scenario) for s in names}, extract)
    finally:
        for process in running.values():
            process.stop()
    return report(chosen, table, duration, rounds, names, loads)


def scaling(chosen: list[Scenario], table: dict[tuple[str, str, int], list[measure.Result]],
            scaled: list[str]) -> str:
    """Each server with N processes against itself with one: requests/s and their ratio at each connection
    count. The baseline's and PostGraphile's ratios are what the machine allows (their servers share its
    cores with PostgreSQL and wrk); govshare's beside them is its own scaling."""
    def rps(scenario: Scenario, server: str, connections: int) -> float:
        return statistics.median(r.rps for r in table[(scenario.key, server, connections)])

    workers = scaled[0].split()[1]
    lines = [f"With {workers[1:]} worker processes each (govshare serve --workers, PostGraphile under Node's cluster "
             "module, the baseline under uvicorn --workers): requests/s at 1 / 8 / 32 connections, and the ratio to "
             "the same server with one process.", "",
             "| scenario | " + " | ".join(f"{n} | ratio" for n in scaled) + " |",
             "|---|" + "---|---|" * len(scaled)]
    for s in chosen:
        cells = []
        for n in scaled:
            single = kind(n)
            cells.append(" / ".join(f"{rps(s, n, c):.0f}" for c in s.levels))
            cells.append(" / ".join(f"{rps(s, n, c) / rps(s, single, c):.2f}x" for c in s.levels))
        lines.append(f"| {s.key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(chosen: list[Scenario], table: dict[tuple[str, str, int], list[measure.Result]], duration: float,
           rounds: int, names: list[str], loads: list[float] | None = None) -> str:
    def rps(scenario: Scenario, server: str) -> str:
        return " / ".join(f"{statistics.median(r.rps for r in table[(scenario.key, server, c)]):.0f}"
                          for c in scenario.levels)

    def cpu(scenario: Scenario, server: str) -> str:
        per_level = [statistics.median(r.cpu_per_request_ms for r in table[(scenario.key, server, c)])
                     for c in scenario.levels]
        low, high = min(per_level), max(per_level)
        return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f}"

    scaled = names[3:]
    lines = [
        f"Requests/s at 1 / 8 / 32 connections (the catalog page at 1 / 8), median of {rounds} interleaved "
        f"rounds of {duration:g} s; server CPU per request in ms (user + system of the server process, "
        "range over the connection counts, workers included). One node database (650100), one process each.",
        "",
        "| scenario | govshare | PostGraphile 5 | raw | govshare CPU/req | PostGraphile CPU/req | raw CPU/req |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in chosen:
        lines.append(f"| {s.title} | {rps(s, 'govshare')} | {rps(s, 'postgraphile')} | {rps(s, 'raw')} | "
                     f"{cpu(s, 'govshare')} | {cpu(s, 'postgraphile')} | {cpu(s, 'raw')} |")
    if scaled:
        lines += ["", scaling(chosen, table, scaled)]

    def total(scenario: Scenario, server: str) -> str:
        per_level = [statistics.median(r.cpu_per_request_ms + r.db_cpu_per_request_ms
                                       for r in table[(scenario.key, server, c)]) for c in scenario.levels]
        return f"{min(per_level):.2f}-{max(per_level):.2f}"

    if loads:
        lines += ["", f"1-minute load average after each run: {min(loads):.1f}-{max(loads):.1f} "
                      f"(median {statistics.median(loads):.1f}) on {os.cpu_count()} cores."]
    # On a machine whose cores also run PostgreSQL and wrk, throughput follows the CPU of both.
    lines += ["", "CPU per request of the server and PostgreSQL together, ms (range over the connection counts):", "",
              "| scenario | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for s in chosen:
        lines.append(f"| {s.key} | " + " | ".join(total(s, n) for n in names) + " |")
    lines += ["", "PostgreSQL's CPU per request (postmaster and all backends, every node database on the one server) "
              "in the last column.", "",
              "| scenario | server | connections | p50 ms | p99 ms | req/s | CPU ms/req | DB CPU ms/req |",
              "|---|---|---|---|---|---|---|---|"]
    for s in chosen:
        for c in s.levels:
            for server in names:
                results = table[(s.key, server, c)]
                lines.append(
                    f"| {s.key} | {server} | {c} | {statistics.median(r.p50_ms for r in results):.2f} | "
                    f"{statistics.median(r.p99_ms for r in results):.2f} | "
                    f"{statistics.median(r.rps for r in results):.0f} | "
                    f"{statistics.median(r.cpu_per_request_ms for r in results):.2f} | "
                    f"{statistics.median(r.db_cpu_per_request_ms for r in results):.2f} |")
    return "\n".join(lines) + "\n"
