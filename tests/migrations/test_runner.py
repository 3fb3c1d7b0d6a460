"""The migration runner against a real PostgreSQL: fresh, re-run, edited, concurrent, unknown."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from govshare.core.errors import MigrationChecksumMismatch, MigrationError
from govshare.migrations.runner import MIGRATIONS_DIR, discover, latest_version, migrate

from ..conftest import Cluster


@pytest.fixture
async def fresh_dsn(cluster: Cluster) -> AsyncIterator[str]:
    """A brand-new empty database on the region's server."""
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(cluster.servers["650000"].dsn())
    await admin.execute(f"create database {name}")
    try:
        yield cluster.servers["650000"].dsn(name)
    finally:
        await admin.execute(f"drop database {name} with (force)")
        await admin.close()


async def test_fresh_apply_records_every_migration(fresh_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_dsn)
    try:
        applied = await migrate(conn)
        assert applied == [m.version for m in discover()]
        rows = await conn.fetch("select version, checksum from schema_migrations order by version")
        assert [(r["version"], r["checksum"]) for r in rows] == [(m.version, m.checksum) for m in discover()]
        tables = {r["tablename"] for r in await conn.fetch("select tablename from pg_tables where schemaname='public'")}
        assert {"departments", "resources", "data_items", "population", "legal_entities", "grants",
                "policy_rules", "audit_log"} <= tables
    finally:
        await conn.close()


async def test_rerun_is_a_no_op(fresh_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await migrate(conn)
        before = await conn.fetch("select version, applied_at from schema_migrations order by version")
        assert await migrate(conn) == []
        after = await conn.fetch("select version, applied_at from schema_migrations order by version")
        assert before == after
    finally:
        await conn.close()


async def test_edited_landed_migration_is_refused(fresh_dsn: str, tmp_path: Path) -> None:
    edited = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, edited, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await migrate(conn, discover(edited))
        target = edited / "0002_shared_data.sql"
        target.write_text(target.read_text() + "\n-- an innocent-looking edit\n")
        with pytest.raises(MigrationChecksumMismatch) as caught:
            await migrate(conn, discover(edited))
        assert "0002_shared_data.sql was edited" in caught.value.message
        assert caught.value.extensions == {"code": "MIGRATION_EDITED", "version": 2}
        # A new numbered file is the way forward, and it applies.
        (edited / "0002_shared_data.sql").write_text((MIGRATIONS_DIR / "0002_shared_data.sql").read_text())
        (edited / "9001_extra.sql").write_text("create table extra_for_test (id int);")
        assert await migrate(conn, discover(edited)) == [9001]
    finally:
        await conn.close()


async def test_failing_migration_rolls_back_alone(fresh_dsn: str, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("create table ok_table (id int);")
    (folder / "0002_broken.sql").write_text("create table half_done (id int); select * from no_such_table;")
    conn = await asyncpg.connect(fresh_dsn)
    try:
        with pytest.raises(MigrationError, match="0002_broken failed"):
            await migrate(conn, discover(folder))
        assert await conn.fetchval("select array_agg(version) from schema_migrations") == [1]
        assert await conn.fetchval("select to_regclass('half_done')") is None
        assert await conn.fetchval("select to_regclass('ok_table')") is not None
    finally:
        await conn.close()


async def test_concurrent_runs_do_not_collide(fresh_dsn: str) -> None:
    conns = [await asyncpg.connect(fresh_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = sorted(v for result in results for v in result)
        assert applied == [m.version for m in discover()]  # each applied exactly once
        assert await conns[0].fetchval("select count(*) from schema_migrations") == len(discover())
        assert await conns[0].fetchval("select max(version) from schema_migrations") == latest_version()
    finally:
        for conn in conns:
            await conn.close()


async def test_database_newer_than_code_is_refused(fresh_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await migrate(conn)
        await conn.execute("insert into schema_migrations (version, name, checksum) values (9999, 'future', 'x')")
        with pytest.raises(MigrationError, match="9999_future"):
            await migrate(conn)
    finally:
        await conn.close()
