"""Group commit gathers the records of requests still reading their nodes (audit.expecting): fewer commits
of the region's server per record, never a record written later than about one round trip for it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.federation.nodes import StatementLog, statement_log
from govshare.resolvers import audit, shared_data

from ..audit_databases import REGION, fresh_region, record, region_pools
from ..conftest import Cluster
from ..helpers import AUDIT_KEY, gql

KEY = AUDIT_KEY.encode()


async def test_a_batch_waits_for_a_request_still_reading(cluster: Cluster) -> None:
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 1)
        await trail.append(record("warm"))
        before = trail.batches

        async def reading() -> int:
            with trail.expecting():
                await asyncio.sleep(0)  # its node answers after the first record was handed in
            return await trail.append(record("reader"))

        first, second = await asyncio.gather(trail.append(record("first")), reading())
        assert trail.batches - before == 1, "both records in one transaction"
        assert second == first + 1

        # Without a request reading, a record is written at once (one record per batch, nothing waited for).
        await trail.append(record("alone"))
        assert trail.batches - before == 2
        await trail.close()


async def test_a_lone_record_is_written_by_its_request_one_flush_at_a_time(cluster: Cluster) -> None:
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 1)
        in_flight, most = 0, 0
        fetch = pools.fetch

        async def counted(database_node: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                return await fetch(database_node, name, sql, *args, **kwargs)
            finally:
                in_flight -= 1

        pools.fetch = counted  # type: ignore[method-assign]
        log = StatementLog()
        token = statement_log.set(log)
        try:
            warm = await trail.append(record("warm"))  # reads the head too: neither counts as the request's
        finally:
            statement_log.reset(token)
        assert log.entries == [(REGION, "audit.append")], "the request's statements as behind the flusher"
        assert trail._flusher is None, "a record alone is written without the flusher task"
        before = trail.batches

        async def arriving() -> tuple[int, int]:
            await asyncio.sleep(0)
            await asyncio.sleep(0)  # the lone record's statement is on its way
            return await asyncio.gather(trail.append(record("second")), trail.append(record("third")))

        lone, (second, third) = await asyncio.gather(trail.append(record("lone")), arriving())
        assert trail._flusher is not None, "records arriving meanwhile are the flusher's next batch"
        assert trail.batches - before == 2 and most == 1, "one flush at a time"
        assert (lone, second, third) == (warm + 1, warm + 2, warm + 3)
        await trail.close()


async def test_a_slow_reader_holds_a_batch_for_about_one_round_trip_only(cluster: Cluster) -> None:
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 1)
        await trail.append(record("warm"))
        released = asyncio.Event()

        async def slow_reader() -> int:
            with trail.expecting():
                await released.wait()  # a node that takes its time
            return await trail.append(record("slow"))

        reader = asyncio.create_task(slow_reader())
        await asyncio.sleep(0)
        started = time.perf_counter()
        await asyncio.wait_for(trail.append(record("other")), 1.0)
        waited = time.perf_counter() - started
        assert not reader.done(), "written while the slow request was still reading"
        assert waited < audit.MAX_GATHER + 0.5  # the wait is bounded; the rest is the round trip of a loaded machine
        released.set()
        await reader
        await trail.close()


async def test_a_reader_that_fails_is_not_waited_for(cluster: Cluster) -> None:
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 1)
        with pytest.raises(RuntimeError), trail.expecting():
            raise RuntimeError("the node failed")
        assert trail._coming == 0
        await trail.append(record("after"))
        await trail.close()


async def test_a_data_query_is_expected_while_its_nodes_answer(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    trail = audit._trails[client.app.state.pools]  # type: ignore[attr-defined]
    seen: list[int] = []
    own_rows = shared_data._own_rows

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(trail._coming)
        return own_rows(*args, **kwargs)

    monkeypatch.setattr(shared_data, "_own_rows", watched)
    body, _ = await gql(client, "{ population(first: 1) { nodes { name } } }")
    assert "errors" not in body
    assert seen and all(n >= 1 for n in seen), "expected while its nodes answer"
    assert trail._coming == 0, "no longer expected once its record was handed in"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug while the nodes answer")

    monkeypatch.setattr(shared_data, "_own_rows", broken)
    body, _ = await gql(client, "{ population(first: 1) { nodes { name } } }")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INTERNAL"]
    assert trail._coming == 0, "a failed read is not waited for"


async def test_close_waits_for_a_lone_record_being_written(cluster: Cluster) -> None:
    """review-s8 finding 4. At shutdown the app closes the trail, anchors the lanes' heads and closes the pools:
    close() must wait for a record its request is writing itself (no flusher task), as for the flusher's
    batches, or the final checkpoint misses it and the pools are closed under it."""
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 5)
        await trail.append(record("warm"))
        holder = await asyncpg.connect(dsn)
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute("select 1 from audit_lanes where lane = 5 for update")  # the lone write waits
            lone = asyncio.ensure_future(trail.append(record("lone")))
            for _ in range(100):
                if await holder.fetchval("select count(*) from pg_locks where not granted") > 0:
                    break
                await asyncio.sleep(0.01)
            assert trail._direct and trail._flusher is None, "the record is its request's own write, waiting"
            closing = asyncio.ensure_future(trail.close())
            await asyncio.sleep(0.1)
            assert not closing.done(), "close() returned while a record was still being written"
            await tx.rollback()
            await asyncio.wait_for(closing, 10)
            assert lone.done(), "closed once the record was written"
            written = await lone
            head = await holder.fetchrow("select seq, hash from audit_head(5)")
            assert await holder.fetchval("select seq from audit_log where lane = 5 and lane_seq = $1",
                                         head["seq"]) == written, "the head close() leaves is the lone record's"
        finally:
            await holder.close()
