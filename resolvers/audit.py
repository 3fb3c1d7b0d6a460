"""The audit trail: keyed (HMAC-SHA256) hash chain, group commit, fail closed; checkpoints; verification.

Appending: every request hands its record to the trail of its pools and waits. One flush runs at a
time; the records that arrive meanwhile form the next batch, appended in one statement (one
transaction) that continues the chain head. A request is answered only after its batch committed, so
"no audit record, no data" holds record by record, and the advisory lock is taken once per batch
instead of once per record. The HMAC key never reaches a database: hashes are computed here.

Anchoring: the head (seq, hash, time) is checkpointed, with its own HMAC, into the other node
databases and an append-only local file; ``verify_chain`` checks the chain and the checkpoints and
names the first record affected by a rewrite or truncation.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import json
import logging
import os
import weakref
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from govshare.core.errors import AuditUnavailable, GovshareError, NodeUnavailable
from govshare.federation.nodes import NodePools, statement_log

logger = logging.getLogger("govshare.audit")
T = TypeVar("T")

ZERO_HASH = "0" * 64
KEYED = "hmac-sha256"
MAX_BATCH = 500
RETRIES = 5

HEAD = "select seq, hash from audit_head()"
# audit_append_batch after a check of the access version (migration 0026); $4 null: no check
APPEND_BATCH = """select last_seq, last_hash, appended, access_version
    from audit_append_batch_at($1, $2, $3::jsonb, $4)"""
# Every record in order; unkeyed records of before migration 0008 are checked with the database's own
# SHA-256 functions, keyed ones here.
SELECT_CHAIN = """select seq, at, request_id, client_request_id, user_id, department, action, purpose, grant_ids,
    resource, items_returned, items_denied, row_count, nodes, outcome, prev_hash, hash, algorithm, detail,
    case when algorithm = 'sha256' then audit_hash(prev_hash, audit_payload(a)) end as legacy_hash
    from audit_log a order by seq"""
INSERT_CHECKPOINT = "insert into audit_checkpoints (chain, seq, hash, at, mac) values ($1, $2, $3, $4, $5)"
SELECT_CHECKPOINTS = "select chain, seq, hash, at, mac from audit_checkpoints where chain = $1 order by seq"


@dataclass
class AuditRecord:
    request_id: str
    user: str
    department: str
    action: str
    purpose: str | None
    resource: str
    grant_ids: Sequence[int] = ()
    items_returned: Sequence[str] = ()
    items_denied: Sequence[str] = ()
    # The reason each denied item was denied, in the order of items_denied (policies.decisions.Reason);
    # kept in the record's detail ("denied_reasons"), which the HMAC covers.
    denied_reasons: Sequence[str] = ()
    row_count: int = 0
    nodes: Sequence[str] = field(default_factory=list)
    outcome: str = "ok"
    client_request_id: str | None = None
    # Beyond a query's columns (an export's file digest, format, job, watermark); under the HMAC when set.
    detail: dict[str, Any] | None = None
    # The access version the decisions behind this record were made under (AccessDecider.version): the
    # record is written only while it is current. Not part of the record itself.
    access_version: int | None = None


class AccessChanged(Exception):
    """Rules or grants changed after the request decided: its record was not written; decide again."""

    def __init__(self, version: int) -> None:
        super().__init__(f"access version is now {version}")
        self.version = version


def _at(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload(seq: int, at: datetime, record: dict[str, Any]) -> bytes:
    """The canonical bytes a record's HMAC covers (every field but the hashes)."""
    body = {"seq": seq, "at": _at(at), "request_id": record["request_id"],
            "client_request_id": record["client_request_id"], "user_id": record["user_id"],
            "department": record["department"], "action": record["action"], "purpose": record["purpose"],
            "grant_ids": [int(g) for g in record["grant_ids"]], "resource": record["resource"],
            "items_returned": list(record["items_returned"]), "items_denied": list(record["items_denied"]),
            "row_count": int(record["row_count"]), "nodes": list(record["nodes"]), "outcome": record["outcome"]}
    detail = record.get("detail")
    if isinstance(detail, str):  # jsonb as read back from the database
        detail = json.loads(detail)
    if detail is not None:  # records without details hash exactly as before migration 0021
        body["detail"] = detail
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def chain_hash(key: bytes, prev_hash: str, body: bytes) -> str:
    return hmac.new(key, prev_hash.encode() + b"|" + body, hashlib.sha256).hexdigest()


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {"request_id": record.request_id, "client_request_id": record.client_request_id,
            "user_id": record.user, "department": record.department, "action": record.action,
            "purpose": record.purpose, "grant_ids": list(record.grant_ids), "resource": record.resource,
            "items_returned": list(record.items_returned), "items_denied": list(record.items_denied),
            "row_count": record.row_count, "nodes": list(record.nodes), "outcome": record.outcome,
            "detail": _detail(record)}


def _detail(record: AuditRecord) -> dict[str, Any] | None:
    if not record.denied_reasons:
        return record.detail
    return {**(record.detail or {}), "denied_reasons": list(record.denied_reasons)}


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    at: datetime


class AuditTrail:
    """The region's audit chain as one process appends to it (group commit)."""

    def __init__(self, pools: NodePools, key: bytes) -> None:
        self.pools = pools
        self.key = key
        self.database = pools.topology.region.database_node
        self.head: Head | None = None  # as last written or read by this process
        self._pending: list[tuple[AuditRecord, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0
        # records made durable / refused (fail closed) by this process, read by the app's metrics
        self.written = 0
        self.failed = 0

    async def append(self, record: AuditRecord) -> int:
        log = statement_log.get()
        if log is not None:
            log.record(self.database, "audit.append")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            # A context of its own: the flush serves many requests and must not count as any one's statement.
            self._flusher = asyncio.create_task(self._flush(), context=contextvars.Context())
        return await future

    def _next_batch(self) -> tuple[list[tuple[AuditRecord, asyncio.Future[int]]], int | None]:
        """Up to MAX_BATCH pending records that can be checked against one access version."""
        version = next((r.access_version for r, _ in self._pending if r.access_version is not None), None)
        batch: list[tuple[AuditRecord, asyncio.Future[int]]] = []
        rest: list[tuple[AuditRecord, asyncio.Future[int]]] = []
        for item in self._pending:
            fits = item[0].access_version is None or item[0].access_version == version
            (batch if fits and len(batch) < MAX_BATCH else rest).append(item)
        self._pending = rest
        return batch, version

    async def _flush(self) -> None:
        while self._pending:
            batch, version = self._next_batch()
            try:
                last = await self._write([record for record, _ in batch], version)
            except Exception as exc:
                if _database_error(exc) is None:  # whatever failed, the data must not leave without a record
                    self._fail(batch, type(exc).__name__)
                    continue
                if len(batch) == 1:
                    self._fail(batch, "rejected by the database")
                    continue
                # One record the database refuses must not cost the others theirs: one by one.
                for single in batch:
                    try:
                        written = await self._write([single[0]], single[0].access_version)
                        if isinstance(written, AccessChanged):
                            self._stale([single], written)
                        else:
                            self._settle([single], written)
                    except Exception:  # each record fails closed on its own
                        self._fail([single], "rejected by the database")
                continue
            if isinstance(last, AccessChanged):
                self._stale(batch, last)
            else:
                self._settle(batch, last)

    def _stale(self, batch: list[tuple[AuditRecord, asyncio.Future[int]]], changed: AccessChanged) -> None:
        """Nothing of the batch was written: records made under the old version go back to their
        requests (to decide again), the others wait for the next batch."""
        requeue = []
        for record, future in batch:
            if record.access_version is None:
                requeue.append((record, future))
            elif not future.done():
                future.set_exception(AccessChanged(changed.version))
        self._pending[:0] = requeue

    def _settle(self, batch: list[tuple[AuditRecord, asyncio.Future[int]]], last: int) -> None:
        self.written += len(batch)
        first = last - len(batch) + 1
        for offset, (_, future) in enumerate(batch):
            if not future.done():
                future.set_result(first + offset)

    def _fail(self, batch: list[tuple[AuditRecord, asyncio.Future[int]]], reason: str) -> None:
        self.failed += len(batch)
        logger.error("audit append failed for %d record(s): %s", len(batch), reason)
        for _, future in batch:
            if not future.done():
                future.set_exception(AuditUnavailable("the audit record could not be written, so no data is "
                                                      "returned; try again later"))

    async def _read_head(self) -> Head:
        rows = await self.pools.fetch(self.database, "audit.head", HEAD)
        return Head(int(rows[0]["seq"]), str(rows[0]["hash"]), datetime.now(UTC))

    async def _write(self, records: list[AuditRecord], version: int | None) -> int | AccessChanged:
        """Append the records; the last seq, or AccessChanged (nothing written) when ``version`` is not
        the current access version."""
        head = self.head or await self._read_head()
        for _attempt in range(RETRIES):
            at = datetime.now(UTC)
            rows = []
            prev = head.hash
            for offset, record in enumerate(records):
                fields = _fields(record)
                seq = head.seq + 1 + offset
                digest = chain_hash(self.key, prev, payload(seq, at, fields))
                rows.append({**fields, "seq": seq, "at": _at(at), "prev_hash": prev, "hash": digest})
                prev = digest
            try:
                result = await self.pools.fetch(self.database, "audit.append", APPEND_BATCH, head.seq, head.hash,
                                                json.dumps(rows, ensure_ascii=False), version)
            except BaseException:
                self.head = None  # unknown whether it committed: read the head next time
                raise
            row = result[0]
            head = Head(int(row["last_seq"]), str(row["last_hash"]), at)
            current = int(row["access_version"])
            if version is not None and current != version:
                self.head = head
                return AccessChanged(current)
            if row["appended"]:
                self.head = head
                self.batches += 1
                return head.seq
            # Another process appended first: rechain the batch onto the head the database returned.
        self.head = None
        raise AuditUnavailable("the audit chain is too busy; try again")

    async def current_head(self) -> Head:
        self.head = self.head or await self._read_head()
        return self.head

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)


def _database_error(exc: BaseException) -> asyncpg.PostgresError | None:
    """The server's own error behind ``exc`` (the pools wrap every failure as NodeUnavailable)."""
    while exc is not None and not isinstance(exc, asyncpg.PostgresError):
        exc = exc.__cause__  # type: ignore[assignment]
    return exc


_trails: weakref.WeakKeyDictionary[NodePools, AuditTrail] = weakref.WeakKeyDictionary()


def install(pools: NodePools, key: bytes) -> AuditTrail:
    """The audit trail requests on these pools append to (the app installs it at start)."""
    if len(key) < 32:
        raise ValueError("the audit key must be at least 32 bytes")
    trail = AuditTrail(pools, key)
    _trails[pools] = trail
    return trail


async def append(pools: NodePools, record: AuditRecord) -> int:
    """Write one record to the region's audit trail; raise AuditUnavailable if that fails."""
    trail = _trails.get(pools)
    if trail is None:  # no key configured: no record, so no data
        raise AuditUnavailable("the audit trail is not configured, so no data is returned")
    return await trail.append(record)


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


# --- checkpoints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    chain: str
    seq: int
    hash: str
    at: datetime
    mac: str
    source: str = ""

    @staticmethod
    def mac_of(key: bytes, chain: str, seq: int, digest: str, at: datetime) -> str:
        message = f"checkpoint|{chain}|{seq}|{digest}|{_at(at)}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.mac, self.mac_of(key, self.chain, self.seq, self.hash, self.at))


async def write_checkpoint(trail: AuditTrail, file: Path | None) -> tuple[Checkpoint, list[str]]:
    """Anchor the current head in every other node database and the local file; return the
    checkpoint and the places it reached (at least one is needed for it to count)."""
    head = await trail.current_head()
    chain = trail.pools.topology.region.code
    at = datetime.now(UTC)
    checkpoint = Checkpoint(chain, head.seq, head.hash, at, Checkpoint.mac_of(trail.key, chain, head.seq, head.hash, at))
    others = [n.code for n in trail.pools.topology.databases if n.code != trail.database]
    reached: list[str] = []

    async def one(database: str) -> None:
        try:
            await trail.pools.fetch(database, "audit.checkpoint", INSERT_CHECKPOINT, chain, head.seq, head.hash, at,
                                    checkpoint.mac)
            reached.append(database)
        except Exception as exc:  # one node down must not stop the others' checkpoints
            logger.warning("audit checkpoint not written to %s: %s", database, type(exc).__name__)

    await asyncio.gather(*(one(db) for db in others))
    if file is not None:
        try:
            append_checkpoint_file(file, checkpoint)
            reached.append(str(file))
        except OSError as exc:
            logger.warning("audit checkpoint not written to %s: %s", file, exc)
    if not reached:
        logger.error("audit checkpoint of seq %d reached no other place", head.seq)
    return checkpoint, sorted(reached)


def append_checkpoint_file(file: Path, checkpoint: Checkpoint) -> None:
    line = json.dumps({"chain": checkpoint.chain, "seq": checkpoint.seq, "hash": checkpoint.hash,
                       "at": _at(checkpoint.at), "mac": checkpoint.mac}, separators=(",", ":")) + "\n"
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint_file(file: Path, chain: str) -> list[Checkpoint]:
    if not file.exists():
        return []
    found = []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            raw = json.loads(line)
            if raw["chain"] == chain:
                found.append(Checkpoint(raw["chain"], int(raw["seq"]), str(raw["hash"]),
                                        datetime.fromisoformat(raw["at"].replace("Z", "+00:00")), str(raw["mac"]),
                                        str(file)))
        except (ValueError, KeyError, TypeError):
            found.append(Checkpoint(chain, -1, "", datetime.now(UTC), "", f"{file} (unreadable line)"))
    return found


async def read_checkpoints(conn: asyncpg.Connection, chain: str, source: str) -> list[Checkpoint]:
    return [Checkpoint(r["chain"], int(r["seq"]), r["hash"], r["at"], r["mac"], source)
            for r in await conn.fetch(SELECT_CHECKPOINTS, chain)]


# --- verification ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    kind: str  # rewritten | removed | truncated | checkpoint_forged | unreadable
    first_seq: int  # the first record affected
    detail: str


@dataclass
class Verdict:
    records: int = 0
    last_seq: int = 0
    keyed: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "problems"},
                "problems": [asdict(p) for p in self.problems]}


async def verify_chain(conn: asyncpg.Connection, key: bytes, checkpoints: Sequence[Checkpoint]) -> Verdict:
    """Walk the chain in order (HMAC and links), then hold it against the checkpoints."""
    verdict = Verdict()
    wanted = {c.seq for c in checkpoints}
    hashes: dict[int, str] = {}
    previous = ZERO_HASH
    previous_seq: int | None = None
    async with conn.transaction(readonly=True):
        async for row in conn.cursor(SELECT_CHAIN, prefetch=2000):
            seq = int(row["seq"])
            verdict.records += 1
            verdict.last_seq = seq
            if seq in wanted:
                hashes[seq] = row["hash"]
            if row["prev_hash"] != previous:
                verdict.problems.append(Problem(
                    "removed", previous_seq + 1 if previous_seq is not None else seq,
                    f"record {seq} does not link to the record before it "
                    f"({'records removed' if previous_seq is None or seq != previous_seq + 1 else 'altered link'})"))
            if row["algorithm"] == KEYED:
                verdict.keyed += 1
                expected = chain_hash(key, row["prev_hash"], payload(seq, row["at"], dict(row)))
                if not hmac.compare_digest(expected, row["hash"]):
                    verdict.problems.append(Problem("rewritten", seq, f"record {seq}: its HMAC does not match its "
                                                    "content (altered, or written without the audit key)"))
            elif row["legacy_hash"] != row["hash"]:
                verdict.problems.append(Problem("rewritten", seq, f"record {seq} (unkeyed, before migration 8): "
                                                "hash does not match its content"))
            previous = row["hash"]
            previous_seq = seq
    for checkpoint in sorted(checkpoints, key=lambda c: c.seq):
        verdict.checkpoints += 1
        if not checkpoint.valid(key):
            verdict.problems.append(Problem("checkpoint_forged", max(checkpoint.seq, 0),
                                            f"checkpoint of seq {checkpoint.seq} in {checkpoint.source} does not "
                                            "carry a valid HMAC"))
        elif checkpoint.seq > verdict.last_seq:
            verdict.problems.append(Problem(
                "truncated", verdict.last_seq + 1,
                f"records after seq {verdict.last_seq} are missing: {checkpoint.source} holds a checkpoint of seq "
                f"{checkpoint.seq} taken at {_at(checkpoint.at)}"))
        elif checkpoint.seq > 0 and hashes.get(checkpoint.seq) != checkpoint.hash:
            verdict.problems.append(Problem(
                "rewritten", _first_after(verdict, checkpoints, checkpoint, hashes),
                f"record {checkpoint.seq} differs from the checkpoint in {checkpoint.source} "
                f"taken at {_at(checkpoint.at)}: the chain was rewritten"))
    verdict.problems.sort(key=lambda p: p.first_seq)
    return verdict


def _first_after(verdict: Verdict, checkpoints: Sequence[Checkpoint], broken: Checkpoint,
                 chain: dict[int, str]) -> int:
    """The first record a rewrite can have touched: the first broken link if one is found, else the
    record after the newest earlier checkpoint that still matches."""
    found = [p.first_seq for p in verdict.problems if p.kind in ("rewritten", "removed")]
    if found:
        return min(found)
    earlier = [c.seq for c in checkpoints if c.seq < broken.seq and chain.get(c.seq) == c.hash]
    return (max(earlier) + 1) if earlier else 1
