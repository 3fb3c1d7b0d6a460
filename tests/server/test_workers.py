"""`govshare serve --workers 2` against the test cluster: two real worker processes share one rate limit,
one metrics view and one log format; a worker that dies leaves no live gauges behind."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from govshare.server.postgres import free_port

from ..conftest import TOPOLOGY, Cluster
from ..helpers import SECRET, audit_key_file, token

VERIFY = '{ verify(resource: "population", key: "650100190001010005", values: [{item: "name", value: "x"}]) { found } }'
DEPARTMENT = "650200-JY"  # its buckets are emptied before and after the run
VERIFY_PER_MINUTE = 6  # a block of 1: exact counts
BUDGET_PER_MINUTE = 40  # blocks of 4


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5).text


def _workers(text: str) -> set[str]:
    """The pids of the live workers, as their per-worker gauges show them."""
    return set(re.findall(r'govshare_schema_version\{pid="(\d+)"\} [1-9]', text))


def _wait(condition: object, what: str, deadline: float = 60) -> None:
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        try:
            if condition():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


async def _empty_buckets(cluster: Cluster) -> None:
    conn = await asyncpg.connect(cluster.dsn("650000"))
    try:
        await conn.execute("delete from rate_buckets where subject = $1", DEPARTMENT)
    finally:
        await conn.close()


@pytest.fixture
def service(cluster: Cluster) -> Iterator[Service]:
    asyncio.run(_empty_buckets(cluster))
    folder = Path(tempfile.mkdtemp(prefix="govshare-workers-", dir="/tmp"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVSHARE_", "PROMETHEUS_"))}
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in cluster.service_topology.databases})
    env.update({"GOVSHARE_TOPOLOGY": str(TOPOLOGY), "GOVSHARE_DEMO_JWT_SECRET": SECRET,
                "GOVSHARE_AUDIT_KEY_FILE": str(audit_key_file()), "GOVSHARE_DATA_DIR": str(folder),
                "GOVSHARE_VERIFY_PER_MINUTE": str(VERIFY_PER_MINUTE),
                "GOVSHARE_QUERY_BUDGET_PER_MINUTE": str(BUDGET_PER_MINUTE)})
    log = folder / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "govshare.server.cli", "serve", "--workers", "2", "--port",
                                    str(port)], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    running = Service(process, port, log)
    try:
        _wait(lambda: len(_workers(running.metrics())) == 2, "two workers in /metrics")
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
        asyncio.run(_empty_buckets(cluster))  # the other tests' limits start full


def _post(service: Service, query: str) -> httpx.Response:
    # a new connection each time, so the kernel hands requests to either worker
    return httpx.post(f"{service.url}/graphql", json={"query": query}, timeout=10,
                      headers={"Authorization": f"Bearer {token(DEPARTMENT)}", "Connection": "close"})


def _served_by(service: Service, responses: list[httpx.Response]) -> set[object]:
    ids = {r.headers["x-request-id"] for r in responses}
    return {line["pid"] for line in service.lines() if line.get("request_id") in ids}


@pytest.mark.slow
def test_two_workers_share_one_rate_limit_and_one_metrics_view(service: Service) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        verifications = list(pool.map(lambda _: _post(service, VERIFY), range(2 * VERIFY_PER_MINUTE)))
        budgeted = list(pool.map(lambda _: _post(service, "{ nodes { code } }"), range(BUDGET_PER_MINUTE)))
    elapsed = time.monotonic() - started
    assert len(_served_by(service, verifications + budgeted)) == 2  # both workers answered

    verified = [r.json()["data"]["verify"] for r in verifications if r.status_code == 200]
    allowed = sum(v is not None for v in verified)
    budget_refused = [r for r in verifications + budgeted if r.status_code == 429]
    # One verification allowance for the department, not one per worker (6 per minute: 0.1 earned per s).
    assert VERIFY_PER_MINUTE <= allowed <= VERIFY_PER_MINUTE + elapsed / 10 + 1, (allowed, elapsed)
    # The query budget (52 requests against 40 per minute): at most the bucket plus what it earned meanwhile;
    # at least the bucket minus the block (4) each worker may hold unspent.
    answered = len(verifications) + len(budgeted) - len(budget_refused)
    assert BUDGET_PER_MINUTE - 2 * 4 <= answered <= BUDGET_PER_MINUTE + elapsed * 40 / 60 + 1, (answered, elapsed)
    refusal = budget_refused[0]
    assert refusal.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert int(refusal.headers["retry-after"]) >= 1

    time.sleep(1.5)  # every worker adds its counts to the shared view once a second
    text = service.metrics()
    counted = sum(float(v) for v in re.findall(r'govshare_graphql_requests_total\{outcome="[^"]+"\} (\S+)', text))
    assert counted == len(verifications) + len(budgeted)  # whichever worker answered the scrape
    assert f'govshare_rate_limited_total{{limit="queries"}} {float(len(budget_refused))}' in text
    assert 'govshare_rate_limit_leases_total{limit="verification",outcome="granted"}' in text
    # 2 workers × (10 + 5 that force generic plans: federation/nodes.py GENERIC_PLANS)
    assert re.search(r'govshare_pool_connections\{database="650000",state="max"\} 30\.0', text)
    assert re.search(r'govshare_node_statement_seconds_count\{database="650000"\} [1-9]', text)
    assert re.search(r"govshare_audit_records_written_total [1-9]", text)
    assert 'govshare_node_up{database="650100"} 1.0' in text

    # JSON logs: every line one object; the access line of each request carries its id
    lines = service.lines()
    assert all(line["level"] in ("INFO", "WARNING", "ERROR") for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "govshare.access"}
    for answer in verifications:
        line = access[answer.headers["x-request-id"]]
        assert (line["method"], line["path"], line["status"]) == ("POST", "/graphql", answer.status_code)
        assert isinstance(line["duration_ms"], float) and line["client"] == "127.0.0.1"
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # ours replaces uvicorn's


@pytest.mark.slow
def test_a_dead_worker_leaves_no_live_gauges(service: Service) -> None:
    before = _workers(service.metrics())
    victim = sorted(before)[0]
    os.kill(int(victim), signal.SIGKILL)
    _wait(lambda: len(_workers(text := service.metrics())) == 2 and victim not in _workers(text),
          "the replacement worker, and the dead one's gauges gone")
    text = service.metrics()
    assert f'pid="{victim}"' not in text
    folder = Path(next(line.split("=", 1)[1] for line in (Path("/proc") / str(
        next(iter(_workers(text)))) / "environ").read_bytes().decode().split("\0")
        if line.startswith("PROMETHEUS_MULTIPROC_DIR=")))
    assert not any(folder.glob(f"gauge_live*_{victim}.db"))
    assert any(folder.glob(f"counter_{victim}.db"))  # its counts stay: totals never go backwards
