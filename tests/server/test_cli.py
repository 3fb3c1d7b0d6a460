"""`govshare demo` as a user runs it: embedded PostgreSQL as root, reuse on restart, clean Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import jwt
import pytest

from govshare.server.cli import COMMANDS, build_parser, main
from govshare.server.postgres import LocalPostgres, free_port
from govshare.server.usages import command_table

from ..conftest import TOPOLOGY, Cluster, cli_environment
from ..helpers import SECRET

FLAGS = ["--persons", "500", "--entities", "100", "--resources", "150"]


def _start_demo(data_dir: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GOVSHARE_DATA_DIR": str(data_dir), "GOVSHARE_PORT": str(port)}
    env = {k: v for k, v in env.items() if not k.startswith("GOVSHARE_DSN_")}
    return subprocess.Popen([sys.executable, "-m", "govshare.server.cli", "demo", *FLAGS, *extra], env=env, text=True,
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


def _interrupt(process: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> str:
    process.send_signal(sig)
    out, _ = process.communicate(timeout=60)
    return out


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    """Outside pytest's tmp root: concurrent pytest runs reset that root to 0700, which the embedded
    server's unprivileged user then cannot traverse."""
    root = Path(tempfile.mkdtemp(prefix="govshare-demo-", dir="/tmp"))
    yield root / "demo"
    LocalPostgres(root / "demo" / "postgres").destroy()  # its private directory lives outside ``root``
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow  # three demo starts, one with two worker processes: about 30 s
def test_demo_starts_serves_reuses_and_stops_cleanly(demo_dir: Path) -> None:
    data_dir = demo_dir
    port = free_port()
    first = _start_demo(data_dir, port)
    _wait_ready(first, port)
    out = _interrupt(first)
    assert first.returncode == 0, out
    assert "seeded" in out and "stopping embedded PostgreSQL" in out
    steps = [line.split("] ", 1)[1].split(" ")[0] for line in out.splitlines() if line.startswith("[")]
    # (the seeding meter may add lines of its own between "seeding" and "seeded")
    assert [step for step, _ in itertools.groupby(steps)] == [
        "starting", "migrating", "databases", "seeding", "seeded", "starting"], out
    assert not LocalPostgres(data_dir / "postgres").is_running()

    second = _start_demo(data_dir, port)
    try:
        _wait_ready(second, port)
        # answers do not name the server's stack
        assert "server" not in httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).headers
    finally:
        out2 = _interrupt(second, signal.SIGTERM)  # kill, systemd, docker stop: stops like Ctrl-C
    assert "already present: reusing it" in out2
    assert second.returncode == 0, out2
    assert "stopping embedded PostgreSQL" in out2
    assert not LocalPostgres(data_dir / "postgres").is_running()
    query = {"query": '{ resource(code: "650000-B01-000001", lang: EN) { name } }'}
    # two worker processes behind one port, each building the app from the environment
    third = _start_demo(data_dir, port, "--workers", "2")
    try:
        _wait_ready(third, port)
        response = httpx.post(f"http://127.0.0.1:{port}/graphql", json=query, timeout=10,
                              headers={"Authorization": f"Bearer {_token_from(out2)}"})
        assert response.json() == {"data": {"resource": {"name": "Population basic information"}}}
        assert "server" not in response.headers
    finally:
        out3 = _interrupt(third)
    assert out3.count("Application startup complete") == 2, out3
    # the address is in the log once, whether one process serves or a supervisor of two
    for out_n, workers in ((out2, "1 worker process"), (out3, "2 worker processes")):
        said = [line for line in out_n.splitlines() if "listening on" in line]
        assert len(said) == 1 and f"listening on http://127.0.0.1:{port}/graphql ({workers})" in said[0], out_n
    assert not LocalPostgres(data_dir / "postgres").is_running()


# --- the parser, exit codes and one-line errors (in-process: no server starts) ---

README = Path(__file__).resolve().parents[2] / "README.md"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _all_parsers(child)
    return found


def test_every_command_and_option_has_help_text() -> None:
    parsers = _all_parsers(build_parser())
    assert len(parsers) >= 12
    for parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                assert set(helps) == set(action.choices), f"{parser.prog}: commands without help"
                assert all(helps.values()), parser.prog
            elif action.help != argparse.SUPPRESS:
                assert action.help, f"{parser.prog} {action.option_strings or action.dest} has no help"


def test_help_lists_every_command_and_version_prints(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("    ")}
    assert listed == set(COMMANDS)
    code, out, _ = _run(capsys, "--version")
    assert (code, out) == (0, f"govshare {version('govshare')}\n")


@pytest.mark.parametrize("group", ["audit", "grant"])
def test_a_command_group_alone_prints_its_usage(capsys: pytest.CaptureFixture[str], group: str) -> None:
    code, out, err = _run(capsys, group)
    assert code == 2 and out == ""
    assert err.startswith(f"usage: govshare {group} ") and "commands:" in err


def test_readme_command_table_is_the_parsers() -> None:
    table = command_table(build_parser())
    assert table in README.read_text(), f"README's command table differs; generated:\n{table}"


def test_a_port_out_of_range_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVSHARE_PORT", "99999")
    assert _run(capsys, "serve") == (2, "", "govshare: GOVSHARE_PORT must be between 1 and 65535, got 99999\n")
    code, _, err = _run(capsys, "serve", "--port", "70000")
    assert code == 2 and err.endswith("argument --port: port must be between 1 and 65535, got 70000\n")


def test_a_port_in_use_is_one_line_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _run(capsys, "serve", "--port", str(port)) == (
            3, "", f"govshare: cannot listen on 127.0.0.1:{port}: address already in use\n")


def test_a_port_in_use_stops_the_demo_before_anything_starts(tmp_path: Path) -> None:
    """The whole process, as a user sees it: one line, exit 3, no traceback, no PostgreSQL started."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _start_demo(tmp_path / "demo", port)
        out, _ = process.communicate(timeout=60)
    assert (process.returncode, out) == (3, f"govshare: cannot listen on 127.0.0.1:{port}: address already in use\n")
    assert not (tmp_path / "demo" / "postgres").exists()


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["token", "650100-GA", "--ttl", "0"], {}, "--ttl must be a positive number of seconds, got 0"),
    (["token", "650100-GA", "--ttl", "-5"], {}, "--ttl must be a positive number of seconds, got -5"),
    (["token", "650100-GA"], {"GOVSHARE_DEMO_JWT_SECRET": "x" * 31},
     "GOVSHARE_DEMO_JWT_SECRET must be at least 32 bytes (RFC 7518 3.2)"),
    (["token", "GA-650100"], {}, "not a department code: 'GA-650100' (expected <node>-<kind>, e.g. 650100-GA "
                                 "or 650100-CA-MZ for a county bureau)"),
    (["token", "659999-GA"], {}, "unknown department 659999-GA: no node 659999 in the topology"),
])
def test_token_refuses_bad_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                 tmp_path: Path, argv: list[str], env: dict[str, str], message: str) -> None:
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _run(capsys, *argv) == (2, "", f"govshare: {message}\n")


def test_token_checks_the_catalog_when_it_answers(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                  cluster: Cluster) -> None:
    cli_environment(monkeypatch, cluster)
    assert _run(capsys, "token", "650100-QQ") == (
        2, "", "govshare: unknown department 650100-QQ: not in node 650100's catalog\n")
    # a hosted prefecture's departments are in its host's database
    code, out, err = _run(capsys, "token", "654300-GA", "--ttl", "60")
    assert (code, err) == (0, "")
    claims = jwt.decode(out.strip(), SECRET, algorithms=["HS256"], audience="govshare")
    assert claims["dept"] == "654300-GA" and claims["exp"] - claims["iat"] == 60


def test_token_refuses_a_department_row_naming_another_node(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch, cluster: Cluster) -> None:
    # 650200's database listing 650200-ZD under node 650100: not a department it hosts (README trust model)
    cli_environment(monkeypatch, cluster)

    async def run(sql: str) -> None:
        conn = await cluster.connect("650200")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run("""insert into departments (code, node_code, level, division_code, name_zh)
                       values ('650200-ZD', '650100', 'prefecture', '650100', '冒名')"""))
    try:
        answer = _run(capsys, "token", "650200-ZD")
    finally:
        asyncio.run(run("delete from departments where code = '650200-ZD'"))
    assert answer == (2, "", "govshare: unknown department 650200-ZD: not in node 650200's catalog\n")


def test_token_without_a_reachable_catalog_checks_the_format_and_says_so(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path))
    code, out, err = _run(capsys, "token", "650100-CA-MZ")
    assert code == 0 and out.count(".") == 2
    assert err == "govshare: catalog of node 650100 not reachable: checked the department code's format only\n"


def test_a_setting_the_app_refuses_stops_serve_with_workers_in_one_line(cluster: Cluster, tmp_path: Path) -> None:
    """With --workers the app is built in each worker: a setting it refuses must still be one line and exit 2
    from the command, not workers dying with tracebacks that the supervisor restarts forever."""
    short_key = tmp_path / "audit-key"
    short_key.write_bytes(b"x" * 10)
    short_key.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in cluster.service_topology.databases})
    env.update({"GOVSHARE_TOPOLOGY": str(TOPOLOGY), "GOVSHARE_DEMO_JWT_SECRET": SECRET,
                "GOVSHARE_AUDIT_KEY_FILE": str(short_key), "GOVSHARE_DATA_DIR": str(tmp_path)})
    process = subprocess.run([sys.executable, "-m", "govshare.server.cli", "serve", "--workers", "2", "--port",
                              str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert (process.returncode, process.stdout) == (2, "")
    assert process.stderr == f"govshare: the audit key in {short_key} is shorter than 32 bytes\n"


def test_migrate_with_the_service_login_is_one_line_and_exit_4(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                cluster: Cluster) -> None:
    cli_environment(monkeypatch, cluster)
    for node in cluster.service_topology.databases:  # the login `serve` uses, which may not create anything
        monkeypatch.setenv(f"GOVSHARE_DSN_{node.code}", node.dsn or "")
    code, out, err = _run(capsys, "migrate")
    assert (code, out) == (4, "")
    assert err.startswith("govshare: node ") and err.count("\n") == 1
    assert "may not change the database" in err and "migrate and seed need the owner's login" in err


def test_serve_on_embedded_databases_never_migrated_says_so(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("GOVSHARE_DSN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVSHARE_DEMO_JWT_SECRET", SECRET)
    code, out, err = _run(capsys, "serve", "--port", str(free_port()))
    assert (code, out) == (4, "")
    assert err == ("govshare: the embedded databases are not migrated yet: run `govshare migrate` first "
                   "(or `./dev demo`, which migrates and seeds)\n")
    assert not LocalPostgres(tmp_path / "postgres").is_running()  # the server it started is stopped again
