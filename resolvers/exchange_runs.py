"""Running one export job: stream the rows from PostgreSQL into a file, in bounded memory.

Each database holding the resource is read in one read-only REPEATABLE READ transaction on a connection
of its own (not a pool's: an export outlives any request timeout), first a count (the job's total), then
the rows through a server-side cursor, ``BATCH`` rows at a time, ordered by (node_code, row_id). Progress
is written to the job every ``PROGRESS_SECONDS``; that statement also extends the lease and tells the run
whether the job was cancelled (or claimed by someone else) meanwhile, and the run stops then.

Before anything is read the grant and the decisions are checked again (a grant revoked or a rule added
since the start fails the job). When the file is complete its SHA-256 is known; the audit record (items,
row count, purpose, grant, digest, format, watermark) is appended, and only after it committed is the job
marked done and its file offered. No record, no file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from govshare.core.errors import GovshareError, NodeUnavailable
from govshare.federation.answers import LimitedConnection
from govshare.federation.nodes import PINNED_SEARCH_PATH, NodePools
from govshare.policies.decisions import PolicyEngine

from . import audit
from .data_plans import _apply_scopes, _q, _targets, _where
from .data_requests import SCOPE_ITEM, DataRequest
from .exchange_formats import encoder
from .exchange_grants import decider_for, spec_of, usable_grant
from .exchanges import JOB_COLUMNS, Job, change_column, stored_conditions
from .shared_data import _Expected, _own_rows
from .specs import DataResourceSpec

logger = logging.getLogger("govshare.exchange")

BATCH = 5000
PROGRESS_SECONDS = 1.0
# Rows changed up to this long before a watermark are sent again: a writer whose transaction began before
# the export's snapshot but committed after it stamped its rows earlier than the watermark.
WATERMARK_OVERLAP = timedelta(seconds=60)

PROGRESS = """update exchange_jobs set rows_done = $3, rows_total = $4,
    lease_until = clock_timestamp() + make_interval(secs => $5) where id = $1 and lease_owner = $2
    returning state"""
FINISH = """update exchange_jobs set state = 'done', rows_done = $3, rows_total = $3, finished_at = clock_timestamp(),
    expires_at = clock_timestamp() + make_interval(secs => $4), file_name = $5, file_bytes = $6, digest = $7,
    next_watermark = $8, audit_seq = $9, audit_lane = $10, audit_lane_seq = $11, audit_hash = $12, lease_until = null
    where id = $1 and lease_owner = $2 and state = 'running' returning id"""
FAIL = """update exchange_jobs set state = 'failed', finished_at = clock_timestamp(), error = $3, lease_until = null
    where id = $1 and lease_owner = $2 and state = 'running'"""
SNAPSHOT_TIME = "select now() as at"
NODE_FAILURES = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


@dataclass
class RunEnv:
    """What a run needs from the process: pools, the current rules and catalog, where files go."""

    pools: NodePools
    engine: Callable[[], PolicyEngine]
    specs: Callable[[], Sequence[DataResourceSpec]]
    directory: Path
    owner: str
    lease_seconds: float = 15.0
    link_seconds: float = 3600.0


class Stopped(Exception):
    """The job was cancelled, or its lease passed to another process: stop quietly."""


class JobFailed(GovshareError):
    code = "EXCHANGE_FAILED"


class HashingFile:
    """A binary file that hashes and counts what is written to it (pyarrow writes through it too)."""

    def __init__(self, path: Path) -> None:
        # Personal data: readable by the service's own user only (not by every account on the host).
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        self.digest = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self.digest.update(data)
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self.closed = True

    def tell(self) -> int:
        return self.bytes

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


class Progress:
    def __init__(self, env: RunEnv, job: Job) -> None:
        self.env = env
        self.job = job
        self.done = 0
        self.total = 0
        self._last = 0.0

    async def report(self, force: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if not force and loop.time() - self._last < PROGRESS_SECONDS:
            return
        self._last = loop.time()
        pools = self.env.pools
        rows = await pools.fetch(pools.topology.region.database_node, "exchange.progress", PROGRESS, self.job.id,
                                 self.env.owner, self.done, self.total, self.env.lease_seconds)
        if not rows or rows[0]["state"] != "running":
            raise Stopped


async def run(env: RunEnv, job: Job) -> None:
    """Run a claimed job to its end: done, failed (with the reason), or stopped (cancelled/lost)."""
    part = env.directory / f"{job.id}-{secrets.token_hex(16)}.{job.extension}"
    temporary = part.with_name(part.name + ".part")
    try:
        await _run(env, job, temporary, part)
    except Stopped:
        logger.info("export job %d stopped (cancelled, or claimed by another process)", job.id)
        _discard(temporary)
    except asyncio.CancelledError:
        _discard(temporary)
        raise
    except Exception as exc:
        _discard(temporary, part)
        reason = exc.message if isinstance(exc, GovshareError) else f"internal error ({type(exc).__name__})"
        if not isinstance(exc, GovshareError):
            logger.exception("export job %d failed", job.id)
        try:
            await env.pools.fetch(env.pools.topology.region.database_node, "exchange.fail", FAIL, job.id,
                                  env.owner, reason)
        except Exception:  # the lease runs out and the job is claimed again (or given up)
            logger.warning("export job %d: its failure could not be recorded", job.id)


async def _run(env: RunEnv, job: Job, temporary: Path, final: Path) -> None:
    pools = env.pools
    now = datetime.now(UTC)
    grant_row = await usable_grant(pools, job.department, job.grant_id, "exchange", now)
    spec = spec_of(env.specs(), job.resource)
    conditions = stored_conditions(spec, job)
    request = DataRequest(spec, job.items, conditions, nodes=job.nodes, purpose=job.purpose)
    decider = decider_for(env.engine(), job.department, grant_row, now)
    used = dict.fromkeys([*job.items, *(c.item for c in conditions)])
    decisions = await decider.decide([spec.policy(n) for n in used], "read", job.purpose)
    decisions, scope = _apply_scopes(spec, request, decisions)
    denied = [n for n in used if not decisions[n].allowed]
    if denied:
        raise JobFailed(f"no longer permitted since the export started: {', '.join(denied)}")
    since_column = await change_column(pools, spec) if job.since is not None else None
    if job.since is not None and since_column is None:
        raise JobFailed(f"register {spec.table} no longer declares an update-timestamp column")
    targets = _targets(pools, spec, job.nodes, scope)
    env.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    env.directory.chmod(0o700)  # also a folder made before by an earlier version
    progress = Progress(env, job)
    await progress.report(force=True)
    out = HashingFile(temporary)
    watermarks: list[datetime] = []
    nodes: list[str] = []
    connections: list[asyncpg.Connection] = []
    try:
        fmt = encoder(job.format, out, job.items,  # type: ignore[arg-type]
                      [spec.item(n).data_type for n in job.items])
        out.write(fmt.begin())
        plans = []
        for db, only in targets.items():
            where = _where(request, only, scope, None)
            if job.since is not None and since_column is not None:
                where.add(_q(since_column) + " > {}", job.since - WATERMARK_OVERLAP)
            conn = await _connect(pools, db)
            connections.append(conn)
            try:
                await conn.transaction(isolation="repeatable_read", readonly=True).start()
                count = await conn.fetchval("select count(*) from " + _q(spec.table) + " where " + where.sql(),
                                            *where.args)
                watermarks.append(await conn.fetchval(SNAPSHOT_TIME))
            except NODE_FAILURES as exc:
                raise JobFailed(f"node {db} failed ({type(exc).__name__}): try again later") from exc
            progress.total += int(count)
            plans.append((db, only, conn, where))
            nodes.extend(only or list(pools.topology.hosted_on(db)))
        await progress.report(force=True)
        # row_id and node_code first (as data pages read them), and the row-scope item last under a scoped
        # grant: each batch is checked in the service, since the node and scope filters ran on the server
        # they are meant to hold; only the job's items are written.
        wanted = ["row_id", "node_code", *job.items, *([SCOPE_ITEM] if scope is not None else [])]
        columns = ", ".join(_q(c) for c in wanted)
        end = 2 + len(job.items)
        expected = _Expected(scope_at=len(wanted) - 1 if scope is not None else None, scope=frozenset(scope or ()),
                             region=pools.topology.region.code)
        for db, only, conn, where in plans:
            sql = "select " + columns + " from " + _q(spec.table) + " where " + where.sql() + \
                " order by node_code, row_id"
            try:
                cursor = await conn.cursor(sql, *where.args)
                while True:
                    rows = await cursor.fetch(BATCH)
                    if not rows:
                        break
                    try:
                        _own_rows(db, only, rows, expected)
                    except NodeUnavailable as exc:
                        # Fails the run as a node failing mid-export does: a file missing one node's rows
                        # would pass for a complete export (and the rows written so far are suspect).
                        raise JobFailed(f"node {db} answered rows of nodes it does not hold or outside the "
                                        "grant's divisions: the export stopped") from exc
                    out.write(fmt.batch([tuple(r)[2:end] for r in rows]))
                    progress.done += len(rows)
                    await progress.report()
            except NODE_FAILURES as exc:
                raise JobFailed(f"a node failed during the export ({type(exc).__name__}): try again later") from exc
        out.write(fmt.end())
    finally:
        await asyncio.to_thread(out.close)  # the fsync of a large file must not hold the event loop
        for conn in connections:
            try:
                await conn.close(timeout=5)
            except Exception:  # a node gone mid-export: drop the connection without waiting
                conn.terminate()
    await progress.report(force=True)
    digest = out.digest.hexdigest()
    watermark = min(watermarks) if watermarks else now
    detail = {"job": job.id, "format": job.format, "sha256": digest, "bytes": out.bytes,
              "since": job.since.isoformat() if job.since else None, "watermark": watermark.isoformat(),
              "row_scope": scope}
    # No record, no file: the record commits before the job can be fetched.
    ref = await audit.append_ref(pools, audit.AuditRecord(
        job.request_id, job.user, job.department, "exchange", job.purpose, spec.code, grant_ids=[job.grant_id],
        items_returned=job.items, items_denied=job.items_denied, row_count=progress.done, nodes=sorted(nodes),
        detail=detail))
    _publish(temporary, final)
    done = await pools.fetch(pools.topology.region.database_node, "exchange.finish", FINISH, job.id, env.owner,
                             progress.done, env.link_seconds, final.name, out.bytes, digest, watermark, ref.seq,
                             ref.lane, ref.lane_seq, ref.hash)  # the record as the chain names it, not only seq
    if not done:
        _discard(final)
        raise Stopped


def _publish(temporary: Path, final: Path) -> None:
    temporary.rename(final)


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


async def _connect(pools: NodePools, database: str) -> asyncpg.Connection:
    dsn = pools.topology.node(database).dsn
    try:
        # size-limited as the pools' connections (federation/answers.py): each cursor batch is one answer
        return await asyncpg.connect(dsn, timeout=pools.timeout, connection_class=LimitedConnection,
                                     server_settings={"application_name": "govshare-exchange",
                                                      "search_path": PINNED_SEARCH_PATH})
    except NODE_FAILURES as exc:
        raise JobFailed(f"node {database} is unavailable ({type(exc).__name__}): the export stopped, try again "
                        "later") from exc


# A job whose lease ran out is claimed again from its first row; after max_attempts it is failed instead.
GIVE_UP = """update exchange_jobs set state = 'failed', finished_at = clock_timestamp(), lease_until = null,
    error = 'the export was interrupted ' || attempts || ' times (the processes running it stopped); start it again'
    where state in ('queued', 'running') and coalesce(lease_until, '-infinity') < clock_timestamp()
      and attempts >= max_attempts returning id"""
CLAIM = f"""update exchange_jobs set state = 'running', lease_owner = $1, attempts = attempts + 1, rows_done = 0,
    lease_until = clock_timestamp() + make_interval(secs => $2), started_at = coalesce(started_at, clock_timestamp())
    where id = (select id from exchange_jobs where state in ('queued', 'running')
                  and coalesce(lease_until, '-infinity') < clock_timestamp() and attempts < max_attempts
                order by id limit 1 for update skip locked)
    returning {JOB_COLUMNS}"""
# Files past their link's expiry are removed; the job stays, marked expired.
EXPIRE = """update exchange_jobs set state = 'expired' where state = 'done' and expires_at < clock_timestamp()
    returning id, file_name"""
# On a clean shutdown the process's jobs are handed back at once (claimed by the next process to look).
RELEASE = """update exchange_jobs set lease_until = null where lease_owner = $1 and state = 'running'"""


async def background(pools: NodePools, sql: str, *args: object) -> list[asyncpg.Record]:
    """A statement of the process's own background work on the region database: straight from its pool,
    outside any request's accounting (statement counts, deadlines); failures are NODE_UNAVAILABLE."""
    region = pools.topology.region.database_node
    try:
        async with asyncio.timeout(pools.timeout), pools.pool(region).acquire() as conn:
            return list(await conn.fetch(sql, *args))
    except (KeyError, *NODE_FAILURES) as exc:  # KeyError: the pools are closed (shutdown)
        raise NodeUnavailable(region, type(exc).__name__) from exc


async def claim(env: RunEnv) -> Job | None:
    for given_up in await background(env.pools, GIVE_UP):
        logger.warning("export job %d failed: interrupted too often", given_up["id"])
    rows = await background(env.pools, CLAIM, env.owner, env.lease_seconds)
    return Job.from_row(rows[0]) if rows else None


async def expire_files(env: RunEnv) -> int:
    rows = await background(env.pools, EXPIRE)
    for row in rows:
        if row["file_name"]:
            (env.directory / row["file_name"]).unlink(missing_ok=True)
    return len(rows)


async def release(env: RunEnv) -> None:
    await background(env.pools, RELEASE, env.owner)
