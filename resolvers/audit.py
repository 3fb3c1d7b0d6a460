"""The audit trail: group commit onto the keyed (HMAC-SHA256) hash chain of this process's lane, fail closed.

Appending: every request hands its record to the trail of its pools and waits. One flush runs at a
time; the records that arrive meanwhile form the next batch, appended in one statement (one
transaction) that continues the chain head. A request is answered only after its batch committed, so
"no audit record, no data" holds record by record, and the advisory lock is taken once per batch
instead of once per record. The HMAC key never reaches a database: hashes are computed here.

Gathering: a request says it will append soon (``expecting``) while its nodes answer. A batch about to
be written waits for such requests, at most about one batch's round trip: each of them would otherwise
wait for this batch to commit and then for a commit of its own, and every commit costs the region's
server (function call, chain head, WAL flush) and this process (a statement) the same whatever its size.
Nothing waits when no request is reading (one request at a time: no added latency); a record that finds
no batch in flight, none waiting and no request reading is written by its request directly (the same
batch of one, without the flusher task).

Lanes (migration 0028): each server process appends to a chain of its own (the lane it leased, see
audit_lanes), so worker processes do not rechain onto each other's heads; without a lease, lane 0.
Two writers on one lane are still correct: the append is conditional on the lane's head; a batch refused
for that is appended again holding the lane's lock from reading the head to the insert, which cannot lose.

The records and their hashing are in audit_records, anchoring the head in audit_checkpoints and
checking the chain in audit_verdicts.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg

from govshare.core.errors import AuditUnavailable, GovshareError, NodeUnavailable
from govshare.federation.deadlines import request_deadlines
from govshare.federation.nodes import NodePools, statement_log

from .audit_records import (
    LANES,
    AccessChanged,
    AuditRecord,
    Entry,
    chain_hash,
    detail_problem,
    entry,
    payload,
    record_fields,
    refused_value,
    utc_text,
)

# Requests import the record types from here, next to the append they hand them to.
__all__ = ["MAX_BATCH", "MAX_GATHER", "RETRIES", "AccessChanged", "AuditRecord", "AuditRef", "AuditTrail", "Head",
           "append", "append_ref", "expecting", "failures_recorded", "install", "key"]

logger = logging.getLogger("govshare.audit")
T = TypeVar("T")

MAX_BATCH = 500
RETRIES = 5
# The longest a batch waits for records of requests still reading (seconds); it waits for no longer than
# its recent round trips took either (GATHER_START before the first one was measured).
MAX_GATHER = 0.002
GATHER_START = 0.0005

HEAD = "select seq, hash from audit_head($1::integer)"
# The conditional append to one lane, after a check of the access version (migrations 0026, 0028); $5 null:
# no check. seqs: the global seqs the database gave the records.
APPEND_BATCH = """select last_seq, last_hash, appended, access_version, seqs
    from audit_append_lane($1, $2, $3, $4::jsonb, $5)"""
# The same over the records in binary (audit_records.entry, migration 0040): what the trail sends.
APPEND_ENTRIES = """select last_seq, last_hash, appended, access_version, seqs
    from audit_append_entries($1, $2, $3, $4::audit_entry[], $5)"""
# The lane's head and the access version, appending nothing (no head is -1), with the lane's row lock kept to
# the end of the transaction (the function takes it before reading the head): see AuditTrail._locked_append.
LOCK_HEAD = """select last_seq, last_hash, appended, access_version, seqs
    from audit_append_entries($1, -1, '', '{}'::audit_entry[], $2)"""


@dataclass(frozen=True)
class Head:
    seq: int  # the lane's lane_seq
    hash: str
    at: datetime


@dataclass(frozen=True)
class AuditRef:
    """Where a record landed. seq is the global index (not under the HMAC since 0028: it can be changed
    unnoticed across lanes); (lane, lane_seq, hash) name the record as the chain does, so whoever keeps a
    pointer to one record keeps these too and checks seq against them."""
    seq: int
    lane: int
    lane_seq: int
    hash: str


class AuditTrail:
    """One lane of the region's audit trail as one process appends to it (group commit)."""

    def __init__(self, pools: NodePools, key: bytes, lane: int = 0) -> None:
        if not 0 <= lane < LANES:
            raise ValueError(f"audit lane {lane} is not between 0 and {LANES - 1}")
        self.pools = pools
        self.key = key
        self.database = pools.topology.region.database_node
        self.lane = lane
        self.head: Head | None = None  # of self.lane, as last written or read by this process
        self._pending: list[tuple[AuditRecord, asyncio.Future[AuditRef]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._direct = False  # a request is writing its own record (see append_ref)
        self._direct_done: asyncio.Future[None] | None = None  # close() waiting for that record
        self._coming = 0  # requests that will append soon (reading their nodes now)
        self._arrival: asyncio.Future[None] | None = None  # the flusher waiting for one of them
        self._round_trip = GATHER_START  # recent batches' write time (seconds, moving average)
        self.batches = 0
        self.rechains = 0  # batches that found another process's head first and were chained again
        # records made durable / refused (fail closed) by this process, read by the app's metrics
        self.written = 0
        self.failed = 0

    async def append(self, record: AuditRecord) -> int:
        """Append ``record`` (group commit); its global seq once its batch committed."""
        return (await self.append_ref(record)).seq

    async def append_ref(self, record: AuditRecord) -> AuditRef:
        """Append ``record`` (group commit); where it landed once its batch committed."""
        log = statement_log.get()
        if log is not None:
            log.record(self.database, "audit.append")
        if record.detail is not None:  # checked when the record was made, but a detail can be changed after
            problem = detail_problem(record.detail)
            if problem is not None:
                raise ValueError(problem)
        if self._alone():
            # A request that starts reading in this turn of the loop still joins the batch (as it would
            # join the flusher's, which starts in the next turn).
            await asyncio.sleep(0)
        future: asyncio.Future[AuditRef] = asyncio.get_running_loop().create_future()
        if self._alone():
            # Alone: no batch in flight, none waiting, no request reading that would join one. The request
            # writes its record itself, the batch of one the flusher would write, without a task of its own
            # and the loop turn to wake this request. Records arriving meanwhile wait for the next batch, as
            # they would behind the flusher.
            self._direct = True
            # As the flusher: none of the request's statements, nor its node deadlines.
            log_token = statement_log.set(None)
            deadlines_token = request_deadlines.set(None)
            try:
                await self._flush_batch([(record, future)], record.access_version)
            finally:
                request_deadlines.reset(deadlines_token)
                statement_log.reset(log_token)
                self._direct = False
                if self._pending:
                    self._start_flusher()
                if self._direct_done is not None:  # made only by close(): nothing to pay when not closing
                    if not self._direct_done.done():
                        self._direct_done.set_result(None)
                    self._direct_done = None
            return await future  # settled or failed above: this does not wait
        self._pending.append((record, future))
        if not self._writing():
            self._start_flusher()
        return await future

    def _alone(self) -> bool:
        return self._coming <= 0 and not self._pending and not self._writing()

    def _writing(self) -> bool:
        """A batch is being written (one flush at a time per lane)."""
        return self._direct or (self._flusher is not None and not self._flusher.done())

    def _start_flusher(self) -> None:
        # A context of its own: the flush serves many requests and must not count as any one's statement.
        self._flusher = asyncio.create_task(self._flush(), context=contextvars.Context())

    @contextmanager
    def expecting(self) -> Iterator[None]:
        """While this is open, the request will append a record soon: a batch about to be written waits
        for it a little (see the module's doc). Close it right before the append, with no await between."""
        self._coming += 1
        try:
            yield
        finally:
            self._coming -= 1
            if self._arrival is not None and not self._arrival.done():
                self._arrival.set_result(None)

    async def _gather(self) -> None:
        """Wait while requests that will append soon are still reading, up to about one round trip."""
        if self._coming <= 0 or len(self._pending) >= MAX_BATCH:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(self._round_trip, MAX_GATHER)
        while self._coming > 0 and len(self._pending) < MAX_BATCH:
            self._arrival = loop.create_future()
            handle = loop.call_at(deadline, _wake, self._arrival)
            try:
                await self._arrival
            finally:
                handle.cancel()
                self._arrival = None
            if loop.time() >= deadline:
                return

    def use_lane(self, lane: int) -> None:
        """Append to ``lane`` from the next batch on (a lease taken or taken back, see audit_lanes)."""
        if not 0 <= lane < LANES:
            raise ValueError(f"audit lane {lane} is not between 0 and {LANES - 1}")
        if lane != self.lane:
            self.lane, self.head = lane, None

    def _next_batch(self) -> tuple[list[tuple[AuditRecord, asyncio.Future[AuditRef]]], int | None]:
        """Up to MAX_BATCH pending records that can be checked against one access version."""
        version = next((r.access_version for r, _ in self._pending if r.access_version is not None), None)
        batch: list[tuple[AuditRecord, asyncio.Future[AuditRef]]] = []
        rest: list[tuple[AuditRecord, asyncio.Future[AuditRef]]] = []
        for item in self._pending:
            fits = item[0].access_version is None or item[0].access_version == version
            (batch if fits and len(batch) < MAX_BATCH else rest).append(item)
        self._pending = rest
        return batch, version

    async def _flush(self) -> None:
        while self._pending:
            await self._gather()
            batch, version = self._next_batch()
            await self._flush_batch(batch, version)

    async def _flush_batch(self, batch: list[tuple[AuditRecord, asyncio.Future[AuditRef]]],
                           version: int | None) -> None:
        """Write one batch; each of its futures is settled or failed (or, for a record made before an
        access change without a version, queued again)."""
        try:
            last = await self._write([record for record, _ in batch], version)
        except Exception as exc:
            if not _nothing_written(exc):  # whatever failed, the data must not leave without a record
                self._fail(batch, type(exc).__name__)
                return
            if len(batch) == 1:
                self._fail(batch, "rejected by the database")
                return
            # One record the database refuses must not cost the others theirs, nor one statement each: the
            # records whose values it refuses fail alone, without a statement; the others are written together,
            # or (the cause not found) in halves, each half refused split again.
            refused = [item for item in batch if refused_value(item[0]) is not None]
            if refused:
                self._fail(refused, "rejected by the database: " + str(refused_value(refused[0][0])))
                await self._write_parts([item for item in batch if item not in refused], version, tried=False)
            else:
                await self._write_parts(batch, version, tried=True)
            return
        if isinstance(last, AccessChanged):
            self._stale(batch, last)
        else:
            self._settle(batch, last)

    async def _write_parts(self, batch: list[tuple[AuditRecord, asyncio.Future[AuditRef]]], version: int | None,
                           *, tried: bool) -> None:
        """Write ``batch`` (already refused as a whole when ``tried``): in halves while refused, so that one
        record the database refuses costs about 2 log2(n) statements of a batch of n, not n."""
        if not tried and batch:
            try:
                written = await self._write([record for record, _ in batch], version)
            except Exception as exc:
                if not _nothing_written(exc) or len(batch) == 1:
                    self._fail(batch, "rejected by the database" if len(batch) == 1 else type(exc).__name__)
                    return
            else:
                if isinstance(written, AccessChanged):
                    self._stale(batch, written)
                else:
                    self._settle(batch, written)
                return
        if len(batch) > 1:
            middle = len(batch) // 2
            await self._write_parts(batch[:middle], version, tried=False)
            await self._write_parts(batch[middle:], version, tried=False)

    def _stale(self, batch: list[tuple[AuditRecord, asyncio.Future[AuditRef]]], changed: AccessChanged) -> None:
        """Nothing of the batch was written: records made under the old version go back to their
        requests (to decide again), the others wait for the next batch."""
        requeue = []
        for record, future in batch:
            if record.access_version is None:
                requeue.append((record, future))
            elif not future.done():
                future.set_exception(AccessChanged(changed.version))
        self._pending[:0] = requeue

    def _settle(self, batch: list[tuple[AuditRecord, asyncio.Future[AuditRef]]], refs: list[AuditRef]) -> None:
        """Each request learns where its record landed (an export job keeps it)."""
        self.written += len(batch)
        for (_, future), ref in zip(batch, refs, strict=True):
            if not future.done():
                future.set_result(ref)

    def _fail(self, batch: list[tuple[AuditRecord, asyncio.Future[AuditRef]]], reason: str) -> None:
        self.failed += len(batch)
        logger.error("audit append failed for %d record(s): %s", len(batch), reason)
        for _, future in batch:
            if not future.done():
                future.set_exception(AuditUnavailable("the audit record could not be written, so no data is "
                                                      "returned; try again later"))

    async def _read_head(self, lane: int) -> Head:
        rows = await self.pools.fetch(self.database, "audit.head", HEAD, lane)
        return Head(int(rows[0]["seq"]), str(rows[0]["hash"]), datetime.now(UTC))

    async def _write(self, records: list[AuditRecord], version: int | None) -> list[AuditRef] | AccessChanged:
        """Append the records to this process's lane; where they landed, or AccessChanged (nothing
        written) when ``version`` is not the current access version."""
        lane = self.lane  # the whole batch goes to one lane, even if the lease moves meanwhile
        head = self.head or await self._read_head(lane)
        for attempt in range(RETRIES):
            try:
                if attempt == 0:  # the common case: one statement, conditional on the head this process knows
                    rows, at = self._rows(records, head, lane)
                    started = time.perf_counter()
                    result = await self.pools.fetch(self.database, "audit.append", APPEND_ENTRIES, lane, head.seq,
                                                    head.hash, rows, version)
                    self._round_trip = 0.8 * self._round_trip + 0.2 * (time.perf_counter() - started)
                    row = result[0]
                else:
                    row, rows, at = await self.pools.run(self.database, "audit.append.locked",
                                                         self._locked_append(records, lane, version))
            except BaseException:
                self.head = None  # unknown whether it committed: read the head next time
                raise
            head = Head(int(row["last_seq"]), str(row["last_hash"]), at)
            current = int(row["access_version"])
            if version is not None and current != version:
                self._keep(lane, head)
                return AccessChanged(current)
            if row["appended"]:
                self._keep(lane, head)
                self.batches += 1
                return [AuditRef(int(seq), lane, r[0], r[16]) for seq, r in zip(row["seqs"], rows, strict=True)]
            # Another writer on this lane appended first: rechain the batch, now under the lane's lock.
            self.rechains += 1
        self.head = None
        raise AuditUnavailable("the audit chain is too busy; try again")

    def _rows(self, records: list[AuditRecord], head: Head, lane: int) -> tuple[list[Entry], datetime]:
        """The records chained onto ``head`` (one time for the batch), as the append takes them."""
        at = datetime.now(UTC)
        at_text = utc_text(at)
        rows = []
        prev = head.hash
        for offset, record in enumerate(records):
            fields = record_fields(record)
            lane_seq = head.seq + 1 + offset
            digest = chain_hash(self.key, prev, payload(lane_seq, at_text, fields, lane))
            rows.append(entry(fields, lane_seq, at, prev, digest))
            prev = digest
        return rows, at

    def _locked_append(self, records: list[AuditRecord], lane: int, version: int | None) \
            -> Callable[[asyncpg.Connection], Awaitable[tuple[asyncpg.Record, list[Entry], datetime]]]:
        """The append of a batch that lost its lane to another writer: holding the lane's lock from reading
        its head to the insert (one transaction), so that no writer can append in between. Retried as a
        conditional append instead, it raced the other writer again and, while that one kept writing, lost
        every time ("too busy"). Only after a refusal: the common case stays one statement."""
        async def append(conn: asyncpg.Connection) -> tuple[asyncpg.Record, list[Entry], datetime]:
            async with conn.transaction():
                [locked] = await conn.fetch(LOCK_HEAD, lane, version)
                head = Head(int(locked["last_seq"]), str(locked["last_hash"]), datetime.now(UTC))
                if version is not None and int(locked["access_version"]) != version:
                    return locked, [], head.at  # nothing to write under this version
                rows, at = self._rows(records, head, lane)
                [row] = await conn.fetch(APPEND_ENTRIES, lane, head.seq, head.hash, rows, version)
                return row, rows, at

        return append

    def _keep(self, lane: int, head: Head) -> None:
        if lane == self.lane:
            self.head = head

    async def current_head(self) -> Head:
        """The head of this process's lane."""
        self.head = self.head or await self._read_head(self.lane)
        return self.head

    async def close(self) -> None:
        """Wait for every record being written: the flusher's batches and a record its request is writing
        itself (the app then anchors the head and closes the pools: a record in flight must be in both)."""
        while self._writing():
            if self._direct:
                if self._direct_done is None:
                    self._direct_done = asyncio.get_running_loop().create_future()
                await asyncio.shield(self._direct_done)
            elif self._flusher is not None:
                await asyncio.gather(self._flusher, return_exceptions=True)


def _wake(arrival: asyncio.Future[None]) -> None:
    if not arrival.done():
        arrival.set_result(None)


def _database_error(exc: BaseException) -> asyncpg.PostgresError | None:
    """The server's own error behind ``exc`` (the pools wrap every failure as NodeUnavailable)."""
    while exc is not None and not isinstance(exc, asyncpg.PostgresError):
        exc = exc.__cause__  # type: ignore[assignment]
    return exc


def _nothing_written(exc: BaseException) -> bool:
    """The batch failed on a value of one of its records, so nothing was written and its records may be
    tried apart: refused by the region's server, or not even sent (a text this process cannot encode, such as
    a lone surrogate, raised while the batch was hashed)."""
    return _refused_by_the_database(exc) or (isinstance(exc, (UnicodeError, TypeError, ValueError))
                                             and not isinstance(exc, GovshareError))


def _refused_by_the_database(exc: BaseException) -> bool:
    """The region's server refused a value of the batch (a data exception or a constraint, SQLSTATE classes
    22 and 23: a broken link is 22023): nothing was written, so its records may be tried again apart. Not
    after any other failure (a shutdown, a lost connection): the batch may have committed."""
    error = _database_error(exc)
    return error is not None and str(error.sqlstate or "")[:2] in ("22", "23")


_trails: weakref.WeakKeyDictionary[NodePools, AuditTrail] = weakref.WeakKeyDictionary()


def install(pools: NodePools, key: bytes, lane: int = 0) -> AuditTrail:
    """The audit trail requests on these pools append to (the app installs it at start, on lane 0 until
    its lease says otherwise)."""
    if len(key) < 32:
        raise ValueError("the audit key must be at least 32 bytes")
    trail = AuditTrail(pools, key, lane)
    _trails[pools] = trail
    return trail


def key(pools: NodePools) -> bytes:
    """The audit key of the trail on these pools (other keys derive from it); AuditUnavailable without one."""
    trail = _trails.get(pools)
    if trail is None:
        raise AuditUnavailable("the audit trail is not configured, so no data is returned")
    return trail.key


def expecting(pools: NodePools) -> AbstractContextManager[None]:
    """Open while a request reads the data it will then audit (see AuditTrail.expecting)."""
    trail = _trails.get(pools)
    return nullcontext() if trail is None else trail.expecting()


async def append(pools: NodePools, record: AuditRecord) -> int:
    """Write one record to the region's audit trail (its global seq); raise AuditUnavailable if that fails."""
    return (await append_ref(pools, record)).seq


async def append_ref(pools: NodePools, record: AuditRecord) -> AuditRef:
    """Write one record to the region's audit trail: where it landed, for a pointer kept to it."""
    trail = _trails.get(pools)
    if trail is None:  # no key configured: no record, so no data
        raise AuditUnavailable("the audit trail is not configured, so no data is returned")
    return await trail.append_ref(record)


async def failures_recorded(work: Awaitable[T], record: AuditRecord, pools: NodePools,
                            recorded: tuple[type[Exception], ...] = ()) -> T:
    """Await ``work``; if it fails unexpectedly (or with a node failure), append ``record`` before the
    error goes on. Refusals (``recorded``) are audited where they happen; an audit failure is not retried."""
    try:
        return await work
    except Exception as exc:
        if isinstance(exc, (AuditUnavailable, *recorded)) or \
                (isinstance(exc, GovshareError) and not isinstance(exc, NodeUnavailable)):
            raise  # bad input and the like: refused before any node was asked
        try:
            await append(pools, record)
        except AuditUnavailable:
            logger.error("the error record of request %s could not be written", record.request_id)
        raise

