"""Where the node databases are: configured DSNs, or an embedded PostgreSQL we start ourselves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from core.errors import GovshareError, MigrationError, NodeUnavailable
from core.settings import Settings
from federation.topology import Topology
from migrations.runner import migrate
from policies.adapter import bootstrap

from .postgres import LocalPostgres

CREATE_DATABASE_EXISTS = "select 1 from pg_database where datname = $1"


def database_name(node_code: str) -> str:
    return f"govshare_{node_code}"


async def provision_embedded(data_dir: Path, topology: Topology) -> tuple[LocalPostgres | None, Topology]:
    """Start (or reuse) the embedded server and create one database per self-hosted node.

    Returns the server only when this call started it (the caller then stops it); a server that
    was already running belongs to someone else, e.g. a demo in another terminal.
    """
    server = LocalPostgres(data_dir / "postgres")
    started = await asyncio.to_thread(server.ensure_started)
    conn = await asyncpg.connect(server.dsn())
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
            conn = await asyncpg.connect(dsn, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            raise NodeUnavailable(code, f"cannot connect to migrate: {exc}") from exc
        try:
            applied = await migrate(conn)
            await bootstrap(conn)
            return code, applied
        except MigrationError as exc:
            exc.extensions["node"] = code
            exc.message = f"node {code}: {exc.message}"
            raise
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
