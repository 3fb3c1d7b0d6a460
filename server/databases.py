"""Where the node databases are: configured DSNs, or an embedded PostgreSQL we start ourselves."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import asyncpg

from govshare.core.errors import GovshareError, MigrationError, NodeUnavailable
from govshare.core.settings import Settings
from govshare.federation.answers import LimitedConnection
from govshare.federation.topology import Topology
from govshare.migrations.runner import migrate
from govshare.policies.adapter import bootstrap

from .postgres import LocalPostgres

CREATE_DATABASE_EXISTS = "select 1 from pg_database where datname = $1"
HAS_GRANT_FUNCTION = "select to_regprocedure('govshare_grant_service()') is not null"
GRANT_SERVICE = "select govshare_grant_service()"
SERVICE_LOGIN = "govshare_app"
ROLE_EXISTS = "select 1 from pg_roles where rolname = $1"
# DDL takes no parameters: the server quotes the name and password itself (format %I / %L).
CREATE_LOGIN = "select format('create role %I login password %L in role govshare_service', $1::text, $2::text)"
SET_PASSWORD = "select format('alter role %I password %L', $1::text, $2::text)"


def database_name(node_code: str) -> str:
    return f"govshare_{node_code}"


async def provision_embedded(data_dir: Path, topology: Topology) -> tuple[LocalPostgres | None, Topology]:
    """Start (or reuse) the embedded server and create one database per self-hosted node.

    Returns the server only when this call started it (the caller then stops it); a server that
    was already running belongs to someone else, e.g. a demo in another terminal.
    """
    server = LocalPostgres(data_dir / "postgres")
    started = await asyncio.to_thread(server.ensure_started)
    conn = await asyncpg.connect(server.dsn(), connection_class=LimitedConnection)
    try:
        for node in topology.databases:
            name = database_name(node.code)
            if not await conn.fetchval(CREATE_DATABASE_EXISTS, name):
                # Identifiers cannot be parameters; the name is built from a validated 6-digit code.
                await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    dsns = {n.code: server.dsn(database_name(n.code)) for n in topology.databases}
    return (server if started else None), topology.with_dsns(dsns)


async def migrate_all(topology: Topology) -> dict[str, list[int]]:
    """Apply pending migrations to every node database concurrently."""
    async def one(code: str, dsn: str) -> tuple[str, list[int]]:
        try:
            # a node's server answers within the size limits of federation/answers.py, as to the service
            conn = await asyncpg.connect(dsn, timeout=10, connection_class=LimitedConnection)
        except (OSError, asyncpg.PostgresError) as exc:
            raise NodeUnavailable(code, f"cannot connect to migrate: {exc}") from exc
        try:
            applied = await migrate(conn)
            # Tables added by any migration get the service role's grants (migration 0009).
            if await conn.fetchval(HAS_GRANT_FUNCTION):
                await conn.execute(GRANT_SERVICE)
            await bootstrap(conn)
            return code, applied
        except MigrationError as exc:
            exc.extensions["node"] = code
            exc.message = f"node {code}: {exc.message}"
            raise
        except asyncpg.InsufficientPrivilegeError as exc:
            # Typically the service's own login (DEPLOYMENT.md): it reads and appends, it never creates.
            raise MigrationError(f"node {code}: the login of GOVSHARE_DSN_{code} may not change the database "
                                 f"({exc}): migrate and seed need the owner's login, serve the service's",
                                 node=code) from exc
        except asyncpg.PostgresError as exc:  # the connection lost too (or closed by the size limit)
            raise MigrationError(f"node {code}: cannot migrate: {exc}", node=code) from exc
        finally:
            await conn.close()

    results = await asyncio.gather(*(one(n.code, n.dsn or "") for n in topology.databases))
    return dict(results)


def load_topology(settings: Settings) -> Topology:
    return Topology.load(settings.topology_path, settings.dsns)


async def resolve(settings: Settings) -> tuple[Topology, LocalPostgres | None]:
    """The node databases as configured, or the embedded server (started if needed; returned only when
    this call started it, for the caller to stop)."""
    topology = load_topology(settings)
    if topology.needs_embedded:
        server, topology = await provision_embedded(settings.data_dir, topology)
        return topology, server
    missing = [n.code for n in topology.databases if not n.dsn]
    if missing:
        raise GovshareError(f"no DSN for node(s) {', '.join(missing)}: set GOVSHARE_DSN_<code> for every "
                            "self-hosted node, or none at all to use the embedded PostgreSQL")
    return topology, None


async def ensure_service_login(conn: asyncpg.Connection, name: str, password: str) -> None:
    """A login role that is a member of govshare_service (migration 0007), with this password."""
    statement = SET_PASSWORD if await conn.fetchval(ROLE_EXISTS, name) else CREATE_LOGIN
    try:
        await conn.execute(await conn.fetchval(statement, name, password))
    except asyncpg.DuplicateObjectError:
        await conn.execute(await conn.fetchval(SET_PASSWORD, name, password))  # created concurrently


async def service_topology(data_dir: Path, topology: Topology) -> Topology:
    """The embedded databases as the service connects to them: as govshare_app, a member of the
    least-privilege role govshare_service, never as the superuser that migrates and seeds."""
    path = data_dir / "postgres" / "service-password"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    password = path.read_text().strip()
    server = LocalPostgres(data_dir / "postgres")
    conn = await asyncpg.connect(server.dsn(), connection_class=LimitedConnection)
    try:
        await ensure_service_login(conn, SERVICE_LOGIN, password)
    except asyncpg.UndefinedObjectError as exc:  # the role govshare_service comes with migration 0007
        raise MigrationError("the embedded databases are not migrated yet: run `govshare migrate` first "
                             "(or `./dev demo`, which migrates and seeds)") from exc
    finally:
        await conn.close()
    return topology.with_dsns({n.code: f"postgresql://{SERVICE_LOGIN}:{password}@127.0.0.1:{server.port}/"
                                       f"{database_name(n.code)}" for n in topology.databases})
