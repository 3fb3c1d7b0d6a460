"""Export jobs in a running process: claim and run them in the background, expire old files, and serve
the files through authenticated links that expire.

Every process runs the same loop: claim a job whose lease ran out (a new job has none; one whose process
stopped has an expired one), run it, look again. A new job wakes the loop of the process that stored it,
so it starts at once; other processes find it within ``POLL_SECONDS``. At most ``MAX_RUNNING`` exports
run at once per process. A download needs the link (signed, expiring) and a bearer token of the job's
department; it is audited before the first byte is sent (no record, no file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from govshare.core.callers import Caller
from govshare.core.errors import GovshareError, NotFound
from govshare.federation.nodes import NodePools
from govshare.resolvers import audit, exchange_links, exchange_runs, exchanges
from govshare.resolvers.exchange_runs import RunEnv

logger = logging.getLogger("govshare.exchange")

POLL_SECONDS = 2.0
MAX_RUNNING = 2
EXPIRE_SECONDS = 60.0
MEDIA = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
STATUS = {"UNAUTHENTICATED": 401, "NOT_FOUND": 404, "NODE_UNAVAILABLE": 503, "AUDIT_UNAVAILABLE": 503}


class ExchangeRunner:
    def __init__(self, env: RunEnv, poll_seconds: float = POLL_SECONDS) -> None:
        self.env = env
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._last_expiry = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()  # before looking: a job stored while we look wakes the next round
            try:
                while len(self._running) < MAX_RUNNING:
                    job = await exchange_runs.claim(self.env)
                    if job is None:
                        break
                    task = loop.create_task(exchange_runs.run(self.env, job))
                    self._running.add(task)
                    task.add_done_callback(self._finished)
                if loop.time() - self._last_expiry >= EXPIRE_SECONDS:
                    self._last_expiry = loop.time()
                    await exchange_runs.expire_files(self.env)
            except GovshareError as exc:  # the region database is away: look again later
                logger.warning("export jobs not claimed: %s", exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a slot is free

    async def stop(self, timeout: float) -> None:
        """Stop claiming, stop the runs (their files are removed) and hand their jobs back."""
        tasks = [t for t in [self._task, *self._running] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with asyncio.timeout(timeout):
                await exchange_runs.release(self.env)
        except (TimeoutError, GovshareError):  # the leases run out by themselves
            logger.warning("export jobs of this process not handed back; they are claimed when their lease ends")


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(object())}"


class Downloads:
    """GET /exchange/{id}?expires=…&signature=… with the department's bearer token."""

    def __init__(self, pools: NodePools, directory: Path, key: bytes,
                 authenticate: Callable[[str | None], Awaitable[Caller]]) -> None:
        self.pools = pools
        self.directory = directory
        self.key = key
        self.authenticate = authenticate

    async def endpoint(self, request: Request) -> Response:
        try:
            return await self._serve(request)
        except GovshareError as exc:
            status = STATUS.get(exc.extensions["code"], 403 if exc.extensions["code"] == "FORBIDDEN" else 400)
            return JSONResponse({"errors": [{"message": exc.message, "extensions": exc.extensions}]}, status)

    async def _serve(self, request: Request) -> Response:
        caller = await self.authenticate(request.headers.get("authorization"))
        try:
            job_id = int(request.path_params["job"])
        except ValueError as exc:
            raise NotFound("no such export job") from exc
        exchange_links.check_link(self.key, job_id, caller.department, request.query_params.get("expires"),
                             request.query_params.get("signature"))
        found = await exchanges.job(self.pools, caller.department, job_id)
        path = self.directory / (found.file_name or "")
        if found.state != "done" or not found.file_name or not path.is_file():
            raise NotFound(f"export job {job_id} has no file to fetch (it is {found.state})", state=found.state)
        await audit.append(self.pools, audit.AuditRecord(
            uuid.uuid4().hex, caller.user, caller.department, "exchange.download", found.purpose, found.resource,
            grant_ids=[found.grant_id], items_returned=found.items, row_count=found.rows_done,
            detail={"job": found.id, "sha256": found.digest, "bytes": found.file_bytes}))
        return FileResponse(path, media_type=MEDIA[found.format],
                            filename=f"{found.resource}-{found.id}.{found.format}",
                            headers={"X-Govshare-Sha256": found.digest or "", "Cache-Control": "no-store"})
