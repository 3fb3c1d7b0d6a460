"""The embedded PostgreSQL requires a password and, as root, lives in a private directory of nobody's."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path

import asyncpg
import pytest

from govshare.core.errors import EmbeddedPostgresError
from govshare.server.postgres import PASSWORD_FILE, SERVICE_USER, LocalPostgres

from ..conftest import Cluster


async def test_a_password_is_required_and_kept_private(cluster: Cluster) -> None:
    server = cluster.servers["650100"]
    rules = [line.split() for line in (server.pgdata / "pg_hba.conf").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules and {rule[-1] for rule in rules} == {"scram-sha-256"}, "no trust (or md5) authentication"
    assert stat.S_IMODE((server.data_dir / PASSWORD_FILE).stat().st_mode) == 0o600
    for dsn in (f"postgresql://postgres@127.0.0.1:{server.port}/postgres",
                f"postgresql://postgres:not-the-password@127.0.0.1:{server.port}/postgres"):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(dsn)
    conn = await asyncpg.connect(server.dsn())
    assert await conn.fetchval("select current_setting('password_encryption')") == "scram-sha-256"
    await conn.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="the private directory is made only when started as root")
def test_as_root_the_server_has_a_directory_of_its_own(cluster: Cluster) -> None:
    server = cluster.servers["650100"]
    nobody = pwd.getpwnam(SERVICE_USER)
    info = server.server_dir.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (nobody.pw_uid, 0o700)
    assert not server.server_dir.is_relative_to(server.data_dir)
    # the data dir's parents were not opened up for the server user (mkdtemp made the root 0700)
    assert stat.S_IMODE(cluster.root.stat().st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="the private directory is made only when started as root")
def test_a_checkout_cloned_again_at_the_same_path_is_told_what_to_remove(tmp_path: Path) -> None:
    data_dir = tmp_path / "checkout" / ".govshare" / "postgres"
    first = LocalPostgres(data_dir, fsync=False)
    try:
        assert first.init()
        shutil.rmtree(tmp_path / "checkout")  # rm -rf the clone, then git clone to the same path
        again = LocalPostgres(data_dir, fsync=False)
        with pytest.raises(EmbeddedPostgresError) as refused:
            again.init()
        # The cluster outside the checkout is what must go (removing the checkout's folder alone did not help).
        assert f"remove {first.server_dir} and {data_dir}" in refused.value.message
    finally:
        first.destroy()
    assert not first.server_dir.exists()
