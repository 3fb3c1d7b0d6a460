"""Shared rate limits: one bucket per department in the region database, leased in blocks.

Each ``SharedRateLimiter`` here stands for one worker process; they share the real region database of
the test cluster (migration 0019), as the workers of ``govshare serve --workers N`` do.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from govshare.core.errors import RateLimitUnavailable
from govshare.policies.ratelimits import LEASE, RETRY_SECONDS, LeaseCall, SharedRateLimiter

from ..conftest import Cluster


class Region:
    """The lease call against the region database, counting the round trips (and able to fail)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.calls = 0
        self.down = False

    async def lease(self, *args: object) -> tuple[int, float]:
        self.calls += 1
        if self.down:
            raise ConnectionRefusedError("region database stopped")
        row = await self.pool.fetchrow(LEASE, *args)
        assert row is not None
        return int(row["granted"]), float(row["wait_seconds"])


@pytest.fixture
async def region(cluster: Cluster) -> AsyncIterator[Region]:
    pool = await asyncpg.create_pool(cluster.dsn("650000"), min_size=1, max_size=2)
    try:
        yield Region(pool)
    finally:
        await pool.close()


def _subject() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # a bucket no other test touches


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_two_processes_share_one_allowance(region: Region) -> None:
    lease: LeaseCall = region.lease
    first, second = (SharedRateLimiter("verification", 12, lease, fail_closed=True) for _ in range(2))
    subject = _subject()
    allowed = 0
    for _ in range(12):  # alternating between the processes, as a load balancer would
        for limiter in (first, second):
            allowed += await limiter.take(subject) is None
    # 12 per minute in all, not 12 per process (a token may be earned while the test runs: 0.2/s)
    assert 12 <= allowed <= 13
    wait = await first.take(subject)
    assert wait is not None and 0 < wait <= 5
    assert first.refused + second.refused >= 11


async def test_blocks_keep_the_database_off_the_request_path(region: Region) -> None:
    limiter = SharedRateLimiter("queries", 600, region.lease, fail_closed=False)
    assert limiter.block == 60
    subject = _subject()
    for _ in range(180):
        assert await limiter.take(subject) is None
    assert region.calls == 3  # one statement per block of 60
    assert limiter.leases == {"granted": 3}


async def test_a_block_held_by_one_process_is_the_most_the_others_lose(region: Region) -> None:
    clock = Clock()
    first, second = (SharedRateLimiter("queries", 100, region.lease, fail_closed=False, clock=clock)
                     for _ in range(2))
    subject = _subject()
    assert await first.take(subject) is None  # leases a block of 10, spends 1
    allowed = 0
    while await second.take(subject) is None:
        allowed += 1
    assert 90 - 1 <= allowed <= 90 + 1  # the bucket minus first's block (a token may be earned meanwhile)
    # first spends its block and no more; nothing was ever spent beyond the bucket
    spent = 1 + sum([await first.take(subject) is None for _ in range(12)])
    assert spent == 10 or spent == 11


async def test_an_expired_lease_gives_its_unspent_tokens_back(region: Region) -> None:
    clock = Clock()
    first = SharedRateLimiter("queries", 60, region.lease, fail_closed=False, clock=clock)
    second = SharedRateLimiter("queries", 60, region.lease, fail_closed=False, clock=clock)
    subject = _subject()
    assert await first.take(subject) is None  # block of 6: 5 left unspent
    clock.now += first.lease_seconds + 0.1  # its lease expires
    assert await first.take(subject) is None  # renews: returns 5, leases 6, spends 1
    allowed = 0
    while await second.take(subject) is None:
        allowed += 1
    # 60 - 2 spent - 5 held by first; without the return it would be 53 - 5
    assert 53 <= allowed <= 54


async def test_verification_fails_closed_without_its_database(region: Region) -> None:
    clock = Clock()
    limiter = SharedRateLimiter("verification", 30, region.lease, fail_closed=True, clock=clock)
    subject = _subject()
    region.down = True
    with pytest.raises(RateLimitUnavailable) as refused:
        await limiter.take(subject)
    assert refused.value.extensions["code"] == "RATE_LIMIT_UNAVAILABLE"
    with pytest.raises(RateLimitUnavailable):
        await limiter.take(subject)
    assert region.calls == 1  # not tried again for RETRY_SECONDS: an outage costs no request a timeout
    assert limiter.leases == {"unavailable": 1}
    region.down = False
    clock.now += RETRY_SECONDS
    assert await limiter.take(subject) is None


async def test_the_query_budget_limits_per_process_without_its_database(region: Region) -> None:
    clock = Clock()
    limiter = SharedRateLimiter("queries", 30, region.lease, fail_closed=False, clock=clock)
    subject = _subject()
    region.down = True
    outcomes = [await limiter.take(subject) for _ in range(31)]
    assert outcomes[:30] == [None] * 30  # the full rate, from this process's own bucket
    assert outcomes[30] is not None and outcomes[30] > 0
    assert region.calls == 1 and limiter.refused == 1


async def test_a_refused_subject_does_not_ask_again_until_a_token_is_earned(region: Region) -> None:
    limiter = SharedRateLimiter("verification", 1, region.lease, fail_closed=True)
    subject = _subject()
    assert await limiter.take(subject) is None
    calls = region.calls
    waits = [await limiter.take(subject) for _ in range(20)]
    assert all(w is not None and 0 < w <= 60 for w in waits)
    assert region.calls == calls + 1  # one "empty" answer, then refused from memory


def test_the_request_path_costs_microseconds() -> None:
    """A token spent from a leased block: measured, the figure in notes/signals.md."""
    import asyncio

    async def never(*args: object) -> tuple[int, float]:
        return 10**9, 0.0

    async def run() -> float:
        limiter = SharedRateLimiter("queries", 10**9, never, fail_closed=False)
        await limiter.take("d")
        started = time.perf_counter()
        for _ in range(20_000):
            await limiter.take("d")
        return (time.perf_counter() - started) / 20_000

    assert asyncio.run(run()) < 50e-6  # typically ~1 µs; the bound only catches a database trip
