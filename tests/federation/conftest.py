"""Fault injection on the session's real PostgreSQL servers: freeze, thaw, lock, and a short-timeout app."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import replace
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from govshare.core.settings import Settings
from govshare.federation.topology import Topology
from govshare.server.app import create_app
from govshare.server.postgres import LocalPostgres

from ..conftest import Cluster
from ..helpers import token

NODE_TIMEOUT = 0.5
# Scheduling noise on a shared 2-core machine: a bound is the timeout plus this much.
SLACK = 1.0


def server_pids(server: LocalPostgres) -> list[int]:
    """The postmaster and every process it forked (backends, checkpointer, ...)."""
    postmaster = int((server.pgdata / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, ...
        if int(stat.rpartition(")")[2].split()[1]) == postmaster:
            pids.append(int(entry.name))
    return pids


def freeze(server: LocalPostgres) -> list[int]:
    pids = server_pids(server)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    return pids


def thaw(pids: list[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


@asynccontextmanager
async def locked(cluster: Cluster, node: str, table: str = "resources") -> AsyncIterator[asyncpg.Connection]:
    """Hold an ACCESS EXCLUSIVE lock on ``table`` of ``node``: the server accepts, but reads block."""
    conn = await cluster.connect(node)
    tx = conn.transaction()
    await tx.start()
    await conn.execute(f"lock table {table} in access exclusive mode")
    try:
        yield conn
    finally:
        if conn.is_closed():  # the server was stopped under the lock
            conn.terminate()
        else:
            await tx.rollback()
            await conn.close()


AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_client(cluster: Cluster) -> AppClient:
    """A fresh app (own pools, own lifespan) with a short node timeout, as an ASGI client."""
    @asynccontextmanager
    async def make(topology: Topology | None = None, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
        from ..helpers import SECRET, audit_key_file

        # The session's audit key, and checkpoints in the cluster's folder (not the checkout's .govshare).
        chosen: dict[str, object] = {"node_timeout": NODE_TIMEOUT, "request_timeout": 3.0, **overrides}
        settings = replace(Settings(), demo_jwt_secret=SECRET, audit_key_file=audit_key_file(),
                           data_dir=cluster.root, **chosen)  # type: ignore[arg-type]
        app: Starlette = create_app(settings, topology or cluster.service_topology)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://govshare.test",
            headers={"Authorization": f"Bearer {token()}"}, timeout=30,
        ) as http:
            http.app = app  # type: ignore[attr-defined]
            yield http

    return make
