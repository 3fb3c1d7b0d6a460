"""Real PostgreSQL servers for the whole session: one per self-hosted node of tests/topology.toml."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg
import httpx
import pytest

from govshare.core.settings import Settings
from govshare.federation.topology import Topology
from govshare.seed.writer import SeedOptions, seed_all
from govshare.server.app import create_app
from govshare.server.databases import SERVICE_LOGIN, ensure_service_login, migrate_all
from govshare.server.postgres import LocalPostgres

from .helpers import SECRET, audit_key_file, token

TESTS = Path(__file__).resolve().parent
TOPOLOGY = TESTS / "topology.toml"
SCALE = SeedOptions(seed=7, persons=3_000, entities=600, resources=400)
DATABASE = "govshare"
SERVICE_PASSWORD = "test-service-password"


@dataclass
class Cluster:
    servers: dict[str, LocalPostgres]
    topology: Topology
    root: Path
    extra: list[LocalPostgres] = field(default_factory=list)  # new_server's, destroyed with the cluster

    @property
    def service_topology(self) -> Topology:
        """The DSNs the app uses: the login role in govshare_service (least privilege), not the owner."""
        return self.topology.with_dsns({c: f"postgresql://{SERVICE_LOGIN}:{SERVICE_PASSWORD}@127.0.0.1:{s.port}/"
                                           f"{DATABASE}" for c, s in self.servers.items()})

    def dsn(self, node: str) -> str:
        return self.servers[node].dsn(DATABASE)

    def stop(self, node: str, mode: str = "immediate") -> None:
        self.servers[node].stop(mode)

    def start(self, node: str) -> None:
        self.servers[node].start()

    async def connect(self, node: str) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn(node))

    def new_server(self, name: str) -> LocalPostgres:
        server = LocalPostgres(self.root / name, fsync=False)
        server.init()
        server.start()
        self.extra.append(server)
        return server


def _start(path: Path) -> LocalPostgres:
    server = LocalPostgres(path, fsync=False)
    server.init()
    server.start()
    return server


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="govshare-tests-", dir="/tmp"))
    base = Topology.load(TOPOLOGY)
    codes = [n.code for n in base.databases]
    with ThreadPoolExecutor(len(codes)) as pool:
        servers = dict(zip(codes, pool.map(lambda c: _start(root / c), codes), strict=True))

    async def prepare() -> Topology:
        for server in servers.values():
            conn = await asyncpg.connect(server.dsn())
            await conn.execute(f"create database {DATABASE}")
            await conn.close()
        topology = base.with_dsns({c: s.dsn(DATABASE) for c, s in servers.items()})
        await migrate_all(topology)
        await seed_all({n.code: n.dsn or "" for n in topology.databases}, topology, SCALE)
        for server in servers.values():
            conn = await asyncpg.connect(server.dsn())
            await ensure_service_login(conn, SERVICE_LOGIN, SERVICE_PASSWORD)
            # The servers run with synchronous_commit off: a fault test's immediate stop would otherwise lose
            # the fixture's last commits (the login's password among them) still in the WAL buffers.
            await conn.execute("checkpoint")
            await conn.close()
        return topology

    topology = asyncio.run(prepare())
    cluster = Cluster(servers, topology, root)
    try:
        yield cluster
    finally:
        # destroy: as root each server has a private directory of its own outside ``root``
        for server in [*servers.values(), *cluster.extra]:
            server.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    # A fixed audit key (never in a database) and a private checkpoint file for the session.
    folder = Path(tempfile.mkdtemp(prefix="govshare-settings-", dir="/tmp"))
    yield replace(Settings(), demo_jwt_secret=SECRET, node_timeout=1.0, topology_path=TOPOLOGY, data_dir=folder,
                  audit_key_file=audit_key_file(), audit_checkpoint_file=folder / "audit-checkpoints.jsonl")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def client(cluster: Cluster, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, cluster.service_topology)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://govshare.test",
        headers={"Authorization": f"Bearer {token()}"},
    ) as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


def cli_environment(monkeypatch: pytest.MonkeyPatch, cluster: Cluster) -> None:
    """The environment a `govshare` command reads, pointed at the test cluster's databases."""
    monkeypatch.setenv("GOVSHARE_TOPOLOGY", str(TOPOLOGY))
    monkeypatch.setenv("GOVSHARE_DEMO_JWT_SECRET", SECRET)
    for node in cluster.topology.databases:
        monkeypatch.setenv(f"GOVSHARE_DSN_{node.code}", node.dsn or "")
