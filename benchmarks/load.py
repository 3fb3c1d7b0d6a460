"""Overload: 64 clients for 60 s against one govshare process, with every node idle and healthy.

``./dev bench --scenario load [--clients 64] [--load-seconds 60] [--rounds 1]``. wrk rotates a mix of
queries (a catalog page over every database with providers and items, 100 population rows, one
resource by code) and inspects every answer: a NODE_UNAVAILABLE while all databases are up is a
*false outage* (the node timeout counted time spent queueing in our own process); the table also
reports 503s (admission control shedding load, each with Retry-After), socket errors and the
server's RSS after each round. A false outage fails the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from govshare.federation.topology import Topology
from govshare.server.identity import mint_demo_token

from . import measure, servers

QUERIES = [
    """{ resources(first: 50) { edges { node { code name provider { code name }
         dataItems { name shareClass } } } pageInfo { hasNextPage endCursor } unavailableNodes } }""",
    """{ population(first: 100) { unavailableNodes nodes { name sex divisionCode } } }""",
    """{ resource(code: "650000-B01-000001") { code name dataItems { name shareClass } } }""",
]

# Per thread counters, summed in done(): wrk runs one Lua state per thread.
SCRIPT = """
local bodies = {%(bodies)s}
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) outages = 0; shed = 0; failed = 0; answers = 0 end
function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter %% #bodies) + 1])
end
function response(status, headers, body)
  answers = answers + 1
  if status == 503 then shed = shed + 1
  elseif status ~= 200 then failed = failed + 1
  elseif string.find(body, "NODE_UNAVAILABLE", 1, true) then outages = outages + 1
  elseif string.find(body, '"errors"', 1, true) then failed = failed + 1 end
end
function done(summary, latency, requests)
  local o, s, f, a = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("outages"); s = s + t:get("shed"); f = f + t:get("failed"); a = a + t:get("answers")
  end
  io.write(string.format("GOVSHARE answers=%%d outages=%%d shed=%%d failed=%%d\\n", a, o, s, f))
end
"""


@dataclass
class Round:
    rps: float
    p50_ms: float
    p99_ms: float
    answers: int
    false_outages: int
    shed_503: int
    other_errors: int
    socket_errors: int
    rss_mb: float


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        match = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def one_round(url: str, pid: int, token: str, clients: int, seconds: int) -> Round:
    bodies = ", ".join("[==[" + orjson.dumps({"query": q}).decode() + "]==]" for q in QUERIES)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(SCRIPT % {"bodies": bodies, "token": token})
    try:
        # --timeout: a client gives up after 30 s (wrk's default of 2 s would count slow answers as errors)
        out = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "--latency",
                              "-s", script.name, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    counts = re.search(r"GOVSHARE answers=(\d+) outages=(\d+) shed=(\d+) failed=(\d+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if counts is None or p50 is None or p99 is None or rps is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(g) for g in sockets.groups()) if sockets else 0
    answers, outages, shed, failed = (int(g) for g in counts.groups())
    return Round(float(rps.group(1)), measure._ms(p50.group(1)), measure._ms(p99.group(1)), answers, outages, shed,
                 failed, socket_errors, rss_mb(pid))


def run(topology: Topology, clients: int, seconds: int, rounds: int,
        env: Mapping[str, str] | None = None) -> tuple[str, list[Round]]:
    token = mint_demo_token(servers.SECRET, "650100-MZ")
    gov = servers.start_govshare(topology, settings=env)
    try:
        results = [one_round(gov.url, gov.pid, token, clients, seconds) for _ in range(rounds)]
    finally:
        gov.stop()
    settings = ", ".join(f"{k}={v}" for k, v in (env or {}).items()) or "default settings"
    lines = [f"### Overload: {clients} clients x {seconds} s, one govshare process ({settings})", "",
             "| round | req/s | p50 ms | p99 ms | answers | false outages | 503 (shed) | other errors | "
             "socket errors | RSS MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(results, 1):
        lines.append(f"| {i} | {r.rps:.1f} | {r.p50_ms:.0f} | {r.p99_ms:.0f} | {r.answers} | {r.false_outages} | "
                     f"{r.shed_503} | {r.other_errors} | {r.socket_errors} | {r.rss_mb:.0f} |")
    return "\n".join(lines) + "\n", results
