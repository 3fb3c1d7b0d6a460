"""Apply the numbered SQL files in this folder to a database.

Each migration runs in its own transaction and is recorded with its SHA-256. A session-level
advisory lock serialises concurrent runners; a landed migration whose file changed is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from govshare.core.errors import MigrationChecksumMismatch, MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parent
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Arbitrary constant shared by every govshare runner: "govshare" in ASCII, folded to 63 bits.
LOCK_KEY = 0x676F7673686172

CREATE_TABLE = """
create table if not exists schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
)"""
SELECT_APPLIED = "select version, name, checksum from schema_migrations order by version"
INSERT_APPLIED = "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)"
LOCK = "select pg_advisory_lock($1)"
UNLOCK = "select pg_advisory_unlock($1)"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


async def applied_versions(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    if not exists:
        return {}
    return {r["version"]: (r["name"], r["checksum"]) for r in await conn.fetch(SELECT_APPLIED)}


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply pending migrations; return the versions applied by this call."""
    migrations = discover() if migrations is None else migrations
    await conn.execute(LOCK, LOCK_KEY)
    try:
        await conn.execute(CREATE_TABLE)
        applied = await applied_versions(conn)
        known = {m.version: m for m in migrations}
        for version, (name, checksum) in applied.items():
            migration = known.get(version)
            if migration is None:
                raise MigrationError(
                    f"database has migration {version:04d}_{name} that this code does not know; "
                    "upgrade govshare before running it against this database")
            if migration.checksum != checksum:
                raise MigrationChecksumMismatch(
                    f"migration {version:04d}_{name}.sql was edited after it was applied "
                    f"(recorded sha256 {checksum[:12]}, file {migration.checksum[:12]}); "
                    "landed migrations are never edited: add a new numbered file instead",
                    version=version)
        done: list[int] = []
        for migration in migrations:
            if migration.version in applied:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(INSERT_APPLIED, migration.version, migration.name, migration.checksum)
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}",
                    version=migration.version) from exc
            done.append(migration.version)
        return done
    finally:
        if not conn.is_closed():
            await conn.execute(UNLOCK, LOCK_KEY)


async def current_version(conn: asyncpg.Connection) -> int:
    applied = await applied_versions(conn)
    return max(applied, default=0)


def latest_version() -> int:
    return max((m.version for m in discover()), default=0)
