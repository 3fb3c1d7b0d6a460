"""Audit checkpoints: the chain head (seq, hash, time), with its own HMAC, anchored outside the chain.

A checkpoint goes into every other node database and an append-only local file, so a rewrite or
truncation of the chain in its own database can be told from the copies (audit_verdicts).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from .audit import AuditTrail
from .audit_records import utc_text

logger = logging.getLogger("govshare.audit")

INSERT_CHECKPOINT = "insert into audit_checkpoints (chain, seq, hash, at, mac) values ($1, $2, $3, $4, $5)"
SELECT_CHECKPOINTS = "select chain, seq, hash, at, mac from audit_checkpoints where chain = $1 order by seq"


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
        message = f"checkpoint|{chain}|{seq}|{digest}|{utc_text(at)}".encode()
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
                       "at": utc_text(checkpoint.at), "mac": checkpoint.mac}, separators=(",", ":")) + "\n"
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
