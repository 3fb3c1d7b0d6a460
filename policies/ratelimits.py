"""Per-department rate limits: verification (a verifier answers yes/no questions, so it is an oracle to
ration) and the query budget.

``SharedRateLimiter`` keeps the allowance in the region database (migration 0019), so all worker
processes and hosts draw on one bucket per department: adding workers does not multiply anyone's
allowance. The request path stays off the database: a process leases a block of tokens with one
statement and spends it from memory, going back only when the block is spent or its lease expired.
Tokens are debited when leased, so the processes together never spend more than the bucket allows; what
leasing costs is that up to one block per process may sit unspent while another process is refused
(returned with that process's next lease of the same bucket). A lease lasts as long as the bucket takes
to earn a block, so no process spends tokens earned long ago.

When the database cannot be reached, a limiter either fails closed (``RateLimitUnavailable``: the
verification limit, whose database is also the audit's, without which no verification is answered
anyway) or falls back to an in-process bucket at the same rate (the query budget: an outage of the
limiter must not take catalog reads of every node down with it; each process then allows the full rate,
N processes N times it, which is logged and counted). Either way the database is not tried again for
``RETRY_SECONDS``, so an outage costs no request a timeout.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from govshare.core.errors import RateLimitUnavailable

logger = logging.getLogger("govshare.ratelimits")

# One round trip per block: (granted, seconds until a token when none was granted).
LEASE = "select granted, wait_seconds from rate_lease($1, $2, $3, $4, $5, $6)"
RETRY_SECONDS = 5.0  # after the database failed, how long it is left alone
BLOCKS_PER_MINUTE = 10  # a block is a tenth of the per-minute allowance (at least one token)

# (limit, subject, capacity, per_second, block, returned) -> (granted, wait_seconds)
LeaseCall = Callable[[str, str, float, float, int, int], Awaitable[tuple[int, float]]]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """An in-process token bucket per key (the fallback of a shared limit whose database is down)."""

    def __init__(self, per_minute: int, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else per_minute)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float | None:
        """Spend one token; None when allowed, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(self.capacity, now))
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate if self.rate > 0 else float("inf")


@dataclass
class _Lease:
    remaining: int
    expires: float


class SharedRateLimiter:
    """``per_minute`` tokens per subject per minute (also the burst), shared through the database."""

    def __init__(self, name: str, per_minute: int, lease: LeaseCall, *, fail_closed: bool,
                 block: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("a shared rate limit needs at least one token per minute")
        self.name = name
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.block = block if block is not None else max(1, per_minute // BLOCKS_PER_MINUTE)
        self.lease_seconds = self.block / self.rate  # the time the bucket takes to earn one block
        self.fail_closed = fail_closed
        self._lease = lease
        self._clock = clock
        self._local = RateLimiter(per_minute, clock=clock)
        self._leases: dict[str, _Lease] = {}
        self._empty_until: dict[str, float] = {}  # the database said "none left" until then
        self._renewing: dict[str, asyncio.Task[tuple[int, float]]] = {}
        self._down_until = 0.0
        # read by the metrics (running totals)
        self.refused = 0
        self.leases: Counter[str] = Counter()

    async def take(self, subject: str) -> float | None:
        """Spend one token; None when allowed, else the seconds until one may be available.
        Raises ``RateLimitUnavailable`` when failing closed without the database."""
        while True:
            now = self._clock()
            lease = self._leases.get(subject)
            if lease is not None and lease.remaining > 0 and now < lease.expires:
                lease.remaining -= 1  # the common case: no database, no await
                return None
            if now < self._down_until:
                return self._without_database(subject)
            empty_until = self._empty_until.get(subject)
            if empty_until is not None and now < empty_until:
                return self._refuse(empty_until - now)
            try:
                granted, wait = await self._renew(subject)
            except Exception as exc:
                self._down_until = self._clock() + RETRY_SECONDS
                self.leases["unavailable"] += 1
                logger.warning("rate limit %s: its database did not answer (%s); %s for %.0f s", self.name,
                               type(exc).__name__, "refusing" if self.fail_closed else "limiting per process",
                               RETRY_SECONDS)
                return self._without_database(subject)
            if granted == 0:
                self._empty_until[subject] = self._clock() + wait
                return self._refuse(wait)
            # granted: loop and spend from the lease (a concurrent request may have spent it first)

    def _refuse(self, wait: float) -> float:
        self.refused += 1
        return max(wait, 0.001)

    def _without_database(self, subject: str) -> float | None:
        if self.fail_closed:
            self.refused += 1
            raise RateLimitUnavailable(f"the {self.name} limit cannot be checked (its database is unavailable); "
                                       "try again later", retryAfterSeconds=RETRY_SECONDS)
        wait = self._local.take(subject)
        if wait is not None:
            self.refused += 1
        return wait

    def _renew(self, subject: str) -> asyncio.Task[tuple[int, float]]:
        """One lease at a time per subject; concurrent requests wait for the same one."""
        task = self._renewing.get(subject)
        if task is None:
            # Its own context: the lease serves many requests, so it is none's statement and none's deadline.
            task = asyncio.create_task(self._lease_block(subject), context=contextvars.Context())
            self._renewing[subject] = task
            task.add_done_callback(lambda _: self._renewing.pop(subject, None))
        return task

    async def _lease_block(self, subject: str) -> tuple[int, float]:
        old = self._leases.pop(subject, None)
        returned = old.remaining if old is not None else 0
        try:
            granted, wait = await self._lease(self.name, subject, self.capacity, self.rate, self.block, returned)
        except BaseException:
            if old is not None:
                self._leases[subject] = old  # not returned after all: still ours until it expires
            raise
        self.leases["granted" if granted else "empty"] += 1
        if granted:
            self._empty_until.pop(subject, None)
            self._leases[subject] = _Lease(granted, self._clock() + self.lease_seconds)
        return granted, wait
