"""Pool connections go back to the pool without a reset round trip, and without leftover transactions."""

from __future__ import annotations

import asyncio
import logging
import sys
import tomllib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import asyncpg.pool
import pytest

from govshare.core.errors import NodeUnavailable
from govshare.federation import nodes
from govshare.federation.nodes import NodePools
from govshare.server.metrics import Metrics

from ..conftest import Cluster

# The last statement of one backend (the pool's connection, found by its pid: other govshare pools of the
# test session may be connected to the same database).
LAST_STATEMENTS = "select query from pg_stat_activity where pid = $1"


@pytest.fixture
async def pools(cluster: Cluster) -> AsyncIterator[NodePools]:
    """Pools of one connection per database: every statement of a test shares it."""
    opened = NodePools(cluster.topology, min_size=0, max_size=1)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_released_connection_sends_no_reset_statement(cluster: Cluster, pools: NodePools) -> None:
    region = cluster.topology.region.code
    observer = await cluster.connect(region)
    try:
        marker = "select pg_backend_pid() as pid, 'pool-reset-marker' as marker"
        rows = await pools.fetch(region, "test.marker", marker)
        assert rows[0]["marker"] == "pool-reset-marker"
        # The backend's last statement is ours: asyncpg's default reset (RESET ALL; UNLISTEN *; ...)
        # would have followed it on release.
        assert [r["query"] for r in await observer.fetch(LAST_STATEMENTS, rows[0]["pid"])] == [marker]
    finally:
        await observer.close()


async def test_a_transaction_left_open_is_rolled_back_on_release(cluster: Cluster, pools: NodePools) -> None:
    region = cluster.topology.region.code
    pool = pools.pool(region)
    conn: asyncpg.Connection = await pool.acquire()  # type: ignore[assignment]
    await conn.execute("begin")
    await conn.execute("create temporary table left_open (x int) on commit drop")
    await pool.release(conn)
    async with pool.acquire() as again:
        assert not again.is_in_transaction()
        assert await again.fetchval("select to_regclass('pg_temp.left_open')") is None


async def test_custom_plans_are_asked_for_one_statement_only(cluster: Cluster, pools: NodePools) -> None:
    region = cluster.topology.region.code
    mode = "select current_setting('plan_cache_mode') as mode, pg_backend_pid() as pid"
    plain = await pools.fetch(region, "test.mode", mode)
    custom = await pools.fetch(region, "test.mode", mode, custom_plans=True)
    after = await pools.fetch(region, "test.mode", mode)
    by_each = await pools.fetch_each([region], "test.mode", mode, custom_plans=True)
    assert plain[0]["pid"] == custom[0]["pid"] == after[0]["pid"]
    # PostgreSQL's default for key lookups and pages; a keyword search plans for its own values
    assert [plain[0]["mode"], custom[0]["mode"], after[0]["mode"]] == ["auto", "force_custom_plan", "auto"]
    assert [r["mode"] for r in by_each[region]] == ["force_custom_plan"]  # type: ignore[union-attr]


async def test_an_idle_connection_is_back_in_its_pool_when_the_statement_returns(cluster: Cluster,
                                                                                 pools: NodePools) -> None:
    region = cluster.topology.region.code
    pool = pools.pool(region)
    for _ in range(3):
        assert (await pools.fetch(region, "test.one", "select 1 as one"))[0]["one"] == 1
        # released on the spot (no background task to wait for), and reusable at once
        assert pool.get_idle_size() == 1 and not pools._releases


async def test_statements_take_and_return_connections_as_the_pool_does(cluster: Cluster, pools: NodePools) -> None:
    """The pools' own acquire and release are bypassed for idle connections (nodes._acquired_now and
    _released_now): the connection, its holder and its inactivity timer end up as asyncpg leaves them."""
    region = cluster.topology.region.code
    pool = pools.pool(region)
    pids = {(await pools.fetch(region, "test.pid", "select pg_backend_pid() as pid"))[0]["pid"] for _ in range(5)}
    assert len(pids) == 1 and pool.get_size() == 1 and pool.get_idle_size() == 1
    (holder,) = pool._holders  # type: ignore[attr-defined]
    assert holder._in_use is None and holder._proxy is None and holder._inactive_callback is not None
    # asyncpg's own acquire still gets the same connection, and a proxy handed back cannot be used again
    async with pool.acquire() as conn:
        assert await conn.fetchval("select pg_backend_pid()") in pids
        assert holder._inactive_callback is None
    with pytest.raises(asyncpg.InterfaceError):
        await conn.fetchval("select 1")


async def test_a_busy_pool_is_waited_for_through_asyncpg(cluster: Cluster, pools: NodePools) -> None:
    """With its only connection taken, a statement queues in asyncpg's pool and runs once it is back."""
    region = cluster.topology.region.code
    pool = pools.pool(region)
    held = await pool.acquire()
    waiting = asyncio.ensure_future(pools.fetch(region, "test.one", "select 1 as one"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await pool.release(held)
    assert (await waiting)[0]["one"] == 1 and pool.get_idle_size() == 1


async def test_a_connection_in_a_transaction_is_released_through_asyncpg(cluster: Cluster, pools: NodePools) -> None:
    """A statement that leaves its connection in a transaction is not handed back on the spot: asyncpg's
    release rolls it back first (in the background)."""
    region = cluster.topology.region.code
    await pools._run(region, "test.begin", lambda conn: conn.execute("begin"), None)
    assert pools._releases  # the background release
    await asyncio.gather(*pools._releases)
    async with pools.pool(region).acquire() as conn:
        assert not conn.is_in_transaction()


async def test_pools_close_after_statements_on_the_fast_path(cluster: Cluster) -> None:
    opened = NodePools(cluster.topology, min_size=0, max_size=2)
    await opened.open()
    region = cluster.topology.region.code
    await asyncio.gather(*(opened.fetch(region, "test.one", "select 1 as one") for _ in range(4)))
    pool = opened.pool(region)
    await asyncio.wait_for(opened.close(), 5)
    assert pool.is_closing()


async def _login(cluster: Cluster, node: str, role: str, password: str, limit: int) -> str:
    """A login role of the test (no privileges but CONNECT) on ``node``'s server; its DSN."""
    admin = await cluster.connect(node)
    try:
        await admin.execute(f"drop role if exists {role}")
        await admin.execute(f"create role {role} login password '{password}' connection limit {limit}")
        await admin.execute(f"grant connect on database {admin._params.database} to {role}")
    finally:
        await admin.close()
    server = urlsplit(cluster.dsn(node))
    return f"postgresql://{role}:{password}@{server.hostname}:{server.port}{server.path}"


async def test_a_refused_connection_names_its_cause_in_the_warning(cluster: Cluster,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """DEPLOYMENT's connection formula exceeded: PostgreSQL refuses the connection (too many connections,
    SQLSTATE 53300), and the one warning says so, without the password."""
    region = cluster.topology.region.code
    password = "fixops-secret-pw"
    dsn = await _login(cluster, region, "govshare_test_no_slots", password, 0)
    pools = NodePools(cluster.topology.with_dsns({region: dsn}), min_size=0, max_size=1)
    metrics = Metrics()
    pools.observer = metrics.node_observed
    await pools.open()
    try:
        with caplog.at_level(logging.INFO, logger="govshare.nodes"):
            for _ in range(2):
                with pytest.raises(NodeUnavailable):
                    await pools.fetch(region, "test.one", "select 1 as one")
    finally:
        await pools.close()
    stopped = [r.getMessage() for r in caplog.records if "stopped answering" in r.getMessage()]
    assert stopped == [
        f"node database {region} stopped answering (TooManyConnectionsError (SQLSTATE 53300): too many connections "
        f'for role "govshare_test_no_slots"): its rows are left out of answers until it answers again']
    assert all(password not in r.getMessage() for r in caplog.records)


async def test_a_refusal_by_postgresql_is_one_line_and_a_python_bug_a_traceback(
        cluster: Cluster, caplog: pytest.LogCaptureFixture) -> None:
    """A restore still granting privileges (InsufficientPrivilegeError) is expected and transient: one
    line with its SQLSTATE; an error of ours keeps its traceback."""
    region = cluster.topology.region.code
    dsn = await _login(cluster, region, "govshare_test_unprivileged", "fixops-pw", -1)
    pools = NodePools(cluster.topology.with_dsns({region: dsn}), min_size=0, max_size=1)
    await pools.open()

    async def bug(conn: asyncpg.Connection) -> None:
        raise KeyError("no such column in our own mapping")

    try:
        with caplog.at_level(logging.INFO, logger="govshare.nodes"):
            with pytest.raises(NodeUnavailable, match="InsufficientPrivilegeError"):
                await pools.fetch(region, "data.page", "select count(*) from audit_log")
            with pytest.raises(NodeUnavailable, match="KeyError"):
                await pools._run(region, "test.bug", bug, None)
    finally:
        await pools.close()
    refused, failed = [r for r in caplog.records if r.name == "govshare.nodes" and "failed on" in r.getMessage()
                       and "probe" not in r.getMessage()]  # open()'s probe is refused the same way
    assert refused.getMessage() == (f"node {region} failed on data.page: InsufficientPrivilegeError "
                                    "(SQLSTATE 42501): permission denied for table audit_log")
    assert refused.exc_info is None and refused.levelname == "WARNING"
    assert failed.getMessage() == f"node {region} failed on test.bug with an unexpected error"
    assert failed.exc_info is not None and failed.exc_info[0] is KeyError


class _Renamed:
    """A PoolConnectionHolder attribute as a differently laid out asyncpg would have it: asyncpg's own code
    still reads it, federation/nodes.py (which reaches into asyncpg's private layout) finds it missing."""

    def __init__(self, slot: Any, name: str) -> None:
        self.slot, self.name = slot, name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        if sys._getframe(1).f_globals.get("__name__") == nodes.__name__:
            raise AttributeError(f"'PoolConnectionHolder' object has no attribute '{self.name}'")
        return self.slot.__get__(obj, owner)

    def __set__(self, obj: Any, value: Any) -> None:
        self.slot.__set__(obj, value)


def _renamed(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    holder = asyncpg.pool.PoolConnectionHolder
    monkeypatch.setattr(nodes, "_fast", True)  # put back as it was when the test ends (it turns them off)
    monkeypatch.setattr(holder, name, _Renamed(holder.__dict__[name], name))


@pytest.mark.parametrize("name", ["_setup", "_max_queries", "_setup_inactive_callback"])
async def test_an_asyncpg_laid_out_otherwise_falls_back_to_its_pool_and_loses_no_connection(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, name: str) -> None:
    """One holder attribute the fast paths read missing (acquire: _setup; release: _max_queries before
    anything is changed, _setup_inactive_callback after the holder is released): the statement is answered
    through asyncpg's own acquire and release, the fast paths are off from then on (logged once), and the
    pool of one connection keeps it (review-s7 findings 2-3)."""
    opened = NodePools(cluster.topology, min_size=0, max_size=1)
    await opened.open()
    region = cluster.topology.region.code
    pool = opened.pool(region)
    try:
        await opened.fetch(region, "warm", "select 1 as one")  # one idle, connected connection
        _renamed(monkeypatch, name)
        with caplog.at_level(logging.WARNING, logger="govshare.nodes"):
            for _ in range(3):
                assert (await opened.fetch(region, "one", "select 1 as one", timeout=2))[0]["one"] == 1
        assert nodes._fast is False
        warnings = [r for r in caplog.records if "not laid out as federation/nodes.py expects" in r.getMessage()]
        assert len(warnings) == 1
        monkeypatch.undo()
        for _ in range(3):  # the same asyncpg as the suite's again: the pool has its connection
            assert (await opened.fetch(region, "two", "select 1 as one", timeout=1))[0]["one"] == 1
        await asyncio.sleep(0.1)  # a background release, when one ran
        assert pool.get_size() == 1 and pool._queue.qsize() == 1  # type: ignore[attr-defined]
    finally:
        await asyncio.wait_for(opened.close(timeout=2), 10)


async def test_generic_plan_statements_of_an_asyncpg_laid_out_otherwise_are_that_node_s_rows(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generic-plans pool's fast acquire runs within the statement's try: the node's rows, never a raw
    error leaving fetch_each, and the request deadline's begin() matched by end()."""
    opened = NodePools(cluster.topology, min_size=0, max_size=2)  # a generic pool of one connection
    await opened.open()
    region = cluster.topology.region.code
    try:
        await opened.fetch(region, "data.count", "select 1 as one")
        _renamed(monkeypatch, "_setup")
        results = await opened.fetch_each([region], "data.count", "select 1 as one")
        assert not isinstance(results[region], Exception), results
        assert results[region][0]["one"] == 1
    finally:
        monkeypatch.undo()
        await asyncio.wait_for(opened.close(timeout=2), 10)


def test_the_fast_paths_are_on_for_the_asyncpg_pyproject_pins() -> None:
    """pyproject pins the asyncpg whose layout the fast paths use (0.32: init_size too), and at import
    they found it as expected; an asyncpg of another version, or missing an attribute, turns them off."""
    deps = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "asyncpg>=0.32,<0.33" in deps["project"]["dependencies"]
    assert asyncpg.__version__.startswith("0.32.") and nodes._fits_fast_paths()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncpg, "__version__", "0.33.0")
        assert not nodes._fits_fast_paths()
    with pytest.MonkeyPatch.context() as patch:
        patch.delattr(asyncpg.pool.PoolConnectionHolder, "_setup")
        assert not nodes._fits_fast_paths()


async def test_a_value_the_driver_cannot_send_does_not_count_as_the_node_failing(
        cluster: Cluster, pools: NodePools, caplog: pytest.LogCaptureFixture) -> None:
    """trial-s7 F13: a date-time beyond year 9999 in UTC fails in asyncpg's encoder (a DataError) before
    anything is sent. Only this statement fails: the node is not reported down
    (govshare_node_up, "stopped answering"), and it answers the next statement."""
    region = cluster.topology.region.code
    seen: list[tuple[str, bool]] = []
    pools.observer = lambda database, _seconds, answered, *_cause: seen.append((database, answered))
    beyond = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))
    with caplog.at_level(logging.WARNING, logger="govshare.nodes"), pytest.raises(NodeUnavailable) as raised:
        await pools.fetch(region, "test.beyond", "select $1::timestamptz as at", beyond)
    assert isinstance(raised.value.__cause__, asyncpg.DataError)
    assert raised.value.extensions["reason"] == "a value of the request could not be sent to it (DataError)"
    assert seen == []  # no failure observed
    assert "could not be sent to node" in caplog.text and "unexpected error" not in caplog.text
    assert (await pools.fetch(region, "test.after", "select 1 as one"))[0]["one"] == 1
    assert seen == [(region, True)]
    # a data exception of the server's own is still the node's failure, as before
    with pytest.raises(NodeUnavailable):
        await pools.fetch(region, "test.server", "select 1 / (random() * 0)::int as zero")
    assert seen[-1] == (region, False)
