"""Audit verification: walk the chain (HMAC and links) and hold it against the checkpoints, naming the
first record affected by a rewrite, removal or truncation.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from .audit_checkpoints import Checkpoint
from .audit_records import KEYED, ZERO_HASH, chain_hash, payload, utc_text

# Every record in order; unkeyed records of before migration 0008 are checked with the database's own
# SHA-256 functions, keyed ones here.
SELECT_CHAIN = """select seq, at, request_id, client_request_id, user_id, department, action, purpose, grant_ids,
    resource, items_returned, items_denied, row_count, nodes, outcome, prev_hash, hash, algorithm, detail,
    case when algorithm = 'sha256' then audit_hash(prev_hash, audit_payload(a)) end as legacy_hash
    from audit_log a order by seq"""


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
                f"{checkpoint.seq} taken at {utc_text(checkpoint.at)}"))
        elif checkpoint.seq > 0 and hashes.get(checkpoint.seq) != checkpoint.hash:
            verdict.problems.append(Problem(
                "rewritten", _first_after(verdict, checkpoints, checkpoint, hashes),
                f"record {checkpoint.seq} differs from the checkpoint in {checkpoint.source} "
                f"taken at {utc_text(checkpoint.at)}: the chain was rewritten"))
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
