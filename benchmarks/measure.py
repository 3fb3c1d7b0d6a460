"""Load with wrk and read the server's CPU time from /proc: requests/s, latency, CPU per request."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    p50_ms: float
    p99_ms: float
    rps: float
    requests: int
    cpu_ms: float  # server CPU (user + system of the process and its workers) during the run
    db_cpu_ms: float = float("nan")  # PostgreSQL's CPU (postmaster and every backend) during the run

    @property
    def cpu_per_request_ms(self) -> float:
        return self.cpu_ms / self.requests if self.requests else float("nan")

    @property
    def db_cpu_per_request_ms(self) -> float:
        return self.db_cpu_ms / self.requests if self.requests else float("nan")


def cpu_ms(pid: int) -> float:
    """User + system CPU of a process so far (its threads and its exited, reaped children included), in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    # After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (proc(5)). An
    # exited backend's time moves into its parent's cutime/cstime, so the sum over a tree stays whole.
    return sum(int(value) for value in fields[11:15]) * TICK_MS


def descendants(pid: int) -> list[int]:
    """The process and all its descendants (a supervisor and its workers)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    queue.extend(int(child) for child in f.read().split())
        except FileNotFoundError:
            continue
    return found


def tree_cpu_ms(pid: int) -> float:
    total = 0.0
    for member in descendants(pid):
        try:
            total += cpu_ms(member)
        except FileNotFoundError:
            continue
    return total


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise RuntimeError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(out: str) -> tuple[float, float, float, int]:
    if "Non-2xx" in out:  # a refused or failed request: the figures would not be about answers
        raise RuntimeError(f"errors during the run:\n{out}")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors is not None and any(int(n) for n in socket_errors.groups()):
        print(f"warning: {socket_errors.group(0)} (requests slower than wrk's timeout are not counted)")
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"^\s*(\d+) requests in", out, re.MULTILINE)
    if p50 is None or p99 is None or rps is None or count is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return _ms(p50.group(1)), _ms(p99.group(1)), float(rps.group(1)), int(count.group(1))


def run_wrk(url: str, connections: int, duration: float, pid: int, method: str = "GET",
            body: str | None = None, headers: dict[str, str] | None = None, db_pid: int | None = None) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        lines = [f'wrk.method = "{method}"']
        if body is not None:
            lines.append(f"wrk.body = [==[{body}]==]")
        for name, value in (headers or {}).items():
            lines.append(f'wrk.headers["{name}"] = "{value}"')
        script.write("\n".join(lines))
    threads = 1 if connections == 1 else 2
    try:
        before, db_before = tree_cpu_ms(pid), tree_cpu_ms(db_pid) if db_pid else 0.0
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
                              "--timeout", "10s", "--latency", "-s", script.name, url],
                             capture_output=True, text=True, check=True).stdout
        used = tree_cpu_ms(pid) - before
        db_used = tree_cpu_ms(db_pid) - db_before if db_pid else float("nan")
    finally:
        os.unlink(script.name)
    p50, p99, rps, count = parse_wrk(out)
    return Result(p50, p99, rps, count, used, db_used)


def ensure_wrk() -> None:
    """wrk is a Debian package: install it when missing."""
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
