"""The audit key (held outside every database) and the checkpoints of the lanes' heads.

The key comes from ``GOVSHARE_AUDIT_KEY_FILE``; without it, a key is created once in the data
directory (mode 0600), as for the demo JWT secret. Checkpoints of every lane whose head moved (whoever
wrote it) are written every ``GOVSHARE_AUDIT_CHECKPOINT_SECONDS`` by one process of the region, and once
more by each process on shutdown. At start, before serving, a legacy lane 0 is sealed (audit_seals).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from govshare.core.errors import ConfigurationError
from govshare.core.settings import Settings
from govshare.resolvers.audit import AuditTrail
from govshare.resolvers.audit_checkpoints import read_heads, write_checkpoints
from govshare.resolvers.audit_homes import record_homes
from govshare.resolvers.audit_seals import seal_legacy_lane

logger = logging.getLogger("govshare.checkpoints")
KEY_FILE = "audit-key"
CHECKPOINT_FILE = "audit-checkpoints.jsonl"
SHUTDOWN_SECONDS = 5.0


def audit_key(settings: Settings, *, create: bool = True) -> bytes:
    path = settings.audit_key_file
    if path is None:
        path = settings.data_dir / KEY_FILE
        if not path.exists() and create:
            _create_key(path)
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the audit key {path}: {exc.strerror}; set GOVSHARE_AUDIT_KEY_FILE "
                                 "to a file holding at least 32 bytes") from exc
    if len(key) < 32:
        raise ConfigurationError(f"the audit key in {path} is shorter than 32 bytes")
    return key


def _create_key(path: Path) -> None:
    """Write a new key unless another process (a sibling worker) wins the race: exactly one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48))
    try:
        os.link(staging, path)  # atomic: fails if the key exists by now
        logger.warning("created an audit key in %s; production keeps it apart from the data "
                       "(GOVSHARE_AUDIT_KEY_FILE)", path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()


async def seal_audit_trail(trail: AuditTrail, timeout: float) -> None:
    """At start, before serving: seal lane 0 if it ends with the unkeyed records of before migration 0008
    (resolvers/audit_seals). A region that does not answer now leaves it unsealed, which verify reports
    ('unsealed') until a start seals it; the service still fails closed on its own appends."""
    try:
        async with asyncio.timeout(timeout):
            await seal_legacy_lane(trail)
    except Exception as exc:  # not sealed this time: reported by verify, done at the next start
        logger.error("audit lane 0 not sealed at start (%s): `govshare audit verify` reports it as unsealed "
                     "until a start seals it", type(exc).__name__)


def checkpoint_file(settings: Settings) -> Path:
    return settings.audit_checkpoint_file or settings.data_dir / CHECKPOINT_FILE


class Checkpointer:
    """Anchors the lanes' heads at a fixed interval (those that moved) and on shutdown.

    One process per region anchors at intervals: ``elect`` (LaneLease.checkpointer, a session advisory lock
    tried before each round on the lease connection) says whether this process is the one. Every process
    anchoring every lane wrote W x W rows per interval into each node for W workers. Chosen over "the
    lowest lane's holder" because the lock needs no view of the other processes, and over skipping heads
    already anchored because those sit in the other nodes' databases. When the holder dies, its connection
    and lock go with it and the next process's round takes over; a process that cannot tell (no lease
    connection) anchors anyway. On shutdown every process anchors what moved, so that the last records of
    a stopping service are anchored whoever held the role.
    """

    def __init__(self, trail: AuditTrail, file: Path, interval: float,
                 elect: Callable[[], Awaitable[bool | None]] | None = None) -> None:
        self.trail = trail
        self.file = file
        self.interval = interval
        self.elect = elect
        self.rounds = 0  # interval rounds this process anchored (as the region's checkpointer)
        self._task: asyncio.Task[None] | None = None
        self._anchored: dict[int, int] = {}  # lane -> the lane_seq last anchored by this process

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def checkpoint(self) -> None:
        heads = {lane: head for lane, head in (await read_heads(self.trail)).items()
                 if head.seq != self._anchored.get(lane)}
        if not heads:
            return
        _, reached = await write_checkpoints(self.trail, self.file, heads)
        if reached:
            self._anchored.update((lane, head.seq) for lane, head in heads.items())
        try:  # the command line's --by lookup (audit_homes.py): a failure costs it only a longer read
            await record_homes(self.trail, heads)
        except Exception as exc:
            logger.warning("audit user homes not recorded: %s", type(exc).__name__)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if self.elect is not None and await self.elect() is False:
                    continue  # another process anchors the region's lanes
                self.rounds += 1
                await self.checkpoint()
            except Exception as exc:  # the next interval tries again
                logger.warning("audit checkpoint failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await self.trail.close()
                await self.checkpoint()
        except Exception as exc:  # shutdown goes on; verify reports what is missing
            logger.warning("final audit checkpoint failed: %s", type(exc).__name__)
