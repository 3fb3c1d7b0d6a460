"""`govshare demo` as a user runs it: embedded PostgreSQL as root, reuse on restart, clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server.postgres import LocalPostgres, free_port

FLAGS = ["--persons", "500", "--entities", "100", "--resources", "150"]


def _start_demo(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "GOVSHARE_DATA_DIR": str(data_dir), "GOVSHARE_PORT": str(port)}
    env = {k: v for k, v in env.items() if not k.startswith("GOVSHARE_DSN_")}
    return subprocess.Popen([sys.executable, "-m", "server.cli", "demo", *FLAGS], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_ready(process: subprocess.Popen[str], port: int, deadline: float = 120) -> None:
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("demo did not become ready")


def _token_from(output: str) -> str:
    line = next(li for li in output.splitlines() if '"Authorization": "Bearer ' in li)
    return line.split("Bearer ")[1].split('"')[0]


def _interrupt(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    return out


def test_demo_starts_serves_reuses_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    port = free_port()
    first = _start_demo(data_dir, port)
    _wait_ready(first, port)
    out = _interrupt(first)
    assert first.returncode == 0, out
    assert "seeded" in out and "stopping embedded PostgreSQL" in out
    assert not LocalPostgres(data_dir / "postgres").is_running()

    second = _start_demo(data_dir, port)
    try:
        _wait_ready(second, port)
    finally:
        out2 = _interrupt(second)
    assert "already present: reusing it" in out2
    query = {"query": '{ resource(code: "650000-B01-000001", lang: EN) { name } }'}
    third = _start_demo(data_dir, port)
    try:
        _wait_ready(third, port)
        response = httpx.post(f"http://127.0.0.1:{port}/graphql", json=query, timeout=10,
                              headers={"Authorization": f"Bearer {_token_from(out2)}"})
        assert response.json() == {"data": {"resource": {"name": "Population basic information"}}}
    finally:
        _interrupt(third)
    assert not LocalPostgres(data_dir / "postgres").is_running()
