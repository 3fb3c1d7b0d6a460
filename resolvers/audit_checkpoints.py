"""Audit checkpoints: each lane's head (lane_seq, hash, time), with its own HMAC, anchored outside the chain.

A checkpoint goes into every other node database and an append-only local file, so a rewrite or
truncation of a lane in its own database can be told from the copies (audit_verdicts). Lane 0's chain
is named by the region code, as the single chain's was before migration 0028 (its old checkpoints still
count); lane n's is ``<region>#<n>``. Every lane's head is read from the database and anchored, not only
the writer's own, so a lane deleted whole after a checkpoint shows as truncation.
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

from govshare.core.errors import LimitExceeded

from .audit import AuditTrail, Head
from .audit_records import LANES, utc_text

logger = logging.getLogger("govshare.audit")

INSERT_CHECKPOINTS = """insert into audit_checkpoints (chain, seq, hash, at, mac)
    select * from unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::text[])"""
# The region's checkpoints, every lane's (lane 0's chain is the bare region code).
SELECT_CHECKPOINTS = """select chain, seq, hash, at, mac from audit_checkpoints where split_part(chain, '#', 1) = $1
    order by chain, seq"""
# The head of every lane that has records: one probe of the (lane, lane_seq) index per lane.
SELECT_HEADS = """select l.lane, h.lane_seq, h.hash from generate_series(0, $1::integer - 1) as l(lane)
    cross join lateral (select a.lane_seq, a.hash from audit_log a where a.lane = l.lane
                        order by a.lane_seq desc limit 1) h
    order by l.lane"""


def chain_name(region: str, lane: int) -> str:
    return region if lane == 0 else f"{region}#{lane}"


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

    @property
    def lane(self) -> int:
        """The lane whose head this is (its lane_seq is ``seq``); -1 for a chain name that names none."""
        _, sep, number = self.chain.partition("#")
        if not sep:
            return 0
        return int(number) if number.isdigit() and 0 < int(number) < LANES else -1


async def read_heads(trail: AuditTrail) -> dict[int, Head]:
    """Every lane's head as the database has it now (lanes without records left out)."""
    rows = await trail.pools.fetch(trail.database, "audit.heads", SELECT_HEADS, LANES)
    now = datetime.now(UTC)
    return {int(r["lane"]): Head(int(r["lane_seq"]), str(r["hash"]), now) for r in rows}


async def write_checkpoints(trail: AuditTrail, file: Path | None,
                            heads: dict[int, Head]) -> tuple[list[Checkpoint], list[str]]:
    """Anchor the given lanes' heads in every other node database and the local file; return the
    checkpoints and the places they reached (at least one is needed for them to count)."""
    region = trail.pools.topology.region.code
    at = datetime.now(UTC)
    checkpoints = [Checkpoint(chain_name(region, lane), head.seq, head.hash, at,
                              Checkpoint.mac_of(trail.key, chain_name(region, lane), head.seq, head.hash, at))
                   for lane, head in sorted(heads.items())]
    if not checkpoints:
        return [], []
    others = [n.code for n in trail.pools.topology.databases if n.code != trail.database]
    reached: list[str] = []
    columns = ([c.chain for c in checkpoints], [c.seq for c in checkpoints], [c.hash for c in checkpoints],
               [c.at for c in checkpoints], [c.mac for c in checkpoints])

    async def one(database: str) -> None:
        try:
            await trail.pools.fetch(database, "audit.checkpoint", INSERT_CHECKPOINTS, *columns)
            reached.append(database)
        except Exception as exc:  # one node down must not stop the others' checkpoints
            logger.warning("audit checkpoint not written to %s: %s", database, type(exc).__name__)

    await asyncio.gather(*(one(db) for db in others))
    if file is not None:
        try:
            append_checkpoint_file(file, *checkpoints)
            reached.append(str(file))
        except OSError as exc:
            logger.warning("audit checkpoint not written to %s: %s", file, exc)
    if not reached:
        logger.error("audit checkpoint of %d lane head(s) reached no other place", len(checkpoints))
    return checkpoints, sorted(reached)


def append_checkpoint_file(file: Path, *checkpoints: Checkpoint) -> None:
    lines = "".join(json.dumps({"chain": c.chain, "seq": c.seq, "hash": c.hash, "at": utc_text(c.at), "mac": c.mac},
                               separators=(",", ":")) + "\n" for c in checkpoints)
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, lines.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint_file(file: Path, chain: str) -> list[Checkpoint]:
    """The checkpoints of region ``chain``'s lanes in the file."""
    if not file.exists():
        return []
    found = []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            raw = json.loads(line)
            if raw["chain"].partition("#")[0] == chain:
                found.append(Checkpoint(raw["chain"], int(raw["seq"]), str(raw["hash"]),
                                        datetime.fromisoformat(raw["at"].replace("Z", "+00:00")), str(raw["mac"]),
                                        str(file)))
        except (ValueError, KeyError, TypeError, AttributeError):
            found.append(Checkpoint(chain, -1, "", datetime.now(UTC), "", f"{file} (unreadable line)"))
    return found


# Checkpoints read per round trip: each batch is one answer, so a node's copy of a long-running region's
# checkpoints is read whole however many there are, while any one answer stays far below the size limit
# of what a node may send (federation/answers.py: `audit verify` reads every node's copy through it).
CHECKPOINT_BATCH = 2000


async def read_checkpoints(conn: asyncpg.Connection, chain: str, source: str,
                           limit: int | None = None) -> list[Checkpoint]:
    """The checkpoints of region ``chain``'s lanes held in the database of ``conn``, read in batches;
    LimitExceeded past ``limit`` of them (a node's copy comes from a server its owner controls)."""
    found: list[Checkpoint] = []
    async with conn.transaction():
        async for r in conn.cursor(SELECT_CHECKPOINTS, chain, prefetch=CHECKPOINT_BATCH):
            if limit is not None and len(found) >= limit:
                raise LimitExceeded(f"{source}: more than {limit} checkpoints", limit="checkpoints")
            found.append(Checkpoint(r["chain"], int(r["seq"]), r["hash"], r["at"], r["mac"], source))
    return found
