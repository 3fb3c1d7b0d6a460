"""Audit verification: walk every lane's chain (HMAC, links, lane_seq contiguity) and hold each lane against
its checkpoints, naming the global seq (and the lane) of the first record affected by a rewrite, removal,
move between lanes or truncation.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from .audit_checkpoints import Checkpoint
from .audit_records import KEYED, ZERO_HASH, chain_hash, payload, utc_text

# Every record, lane by lane in lane order; unkeyed records of before migration 0008 (all lane 0) are
# checked with the database's own SHA-256 functions, keyed ones here.
SELECT_CHAIN = """select seq, lane, lane_seq, at, request_id, client_request_id, user_id, department, action, purpose,
    grant_ids, resource, items_returned, items_denied, row_count, nodes, outcome, prev_hash, hash, algorithm, detail,
    case when algorithm = 'sha256' then audit_hash(prev_hash, audit_payload(a)) end as legacy_hash
    from audit_log a order by lane, lane_seq"""


@dataclass(frozen=True)
class Problem:
    kind: str  # rewritten | removed | renumbered | truncated | checkpoint_forged | unreadable
    # The first record affected, by global seq: the record itself where it exists; where records are
    # missing, the seq right after the lane's last intact record (the missing ones came after it).
    first_seq: int
    detail: str
    lane: int = 0


@dataclass
class _Lane:
    """What the walk keeps of one lane: its last record and the records checkpoints name."""
    first_seq: int = 0
    last_seq: int = 0  # global seq of the lane's last record
    last_lane_seq: int = 0
    keyed: bool = False  # a keyed record seen: an unkeyed one after it cannot be of before migration 0008
    hashes: dict[int, str] = field(default_factory=dict)  # lane_seq -> hash, for checkpointed lane_seqs
    seqs: dict[int, int] = field(default_factory=dict)  # lane_seq -> global seq, for those and the next


@dataclass
class Verdict:
    records: int = 0
    last_seq: int = 0
    keyed: int = 0
    lanes: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "problems"},
                "problems": [asdict(p) for p in self.problems]}


async def verify_chain(conn: asyncpg.Connection, key: bytes, checkpoints: Sequence[Checkpoint]) -> Verdict:
    """Walk every lane in order (HMAC, links, lane_seq), then hold each lane against its checkpoints."""
    verdict = Verdict()
    wanted = {(c.lane, c.seq) for c in checkpoints}
    lanes: dict[int, _Lane] = {}
    lane: _Lane | None = None
    lane_no = -1
    previous = ZERO_HASH
    async with conn.transaction(readonly=True):
        async for row in conn.cursor(SELECT_CHAIN, prefetch=2000):
            seq, lane_seq = int(row["seq"]), int(row["lane_seq"])
            if lane is None or int(row["lane"]) != lane_no:
                lane_no = int(row["lane"])
                lane = lanes[lane_no] = _Lane(first_seq=seq)
                previous = ZERO_HASH
            verdict.records += 1
            verdict.last_seq = max(verdict.last_seq, seq)
            if (lane_no, lane_seq) in wanted:
                lane.hashes[lane_seq] = row["hash"]
            if (lane_no, lane_seq) in wanted or (lane_no, lane_seq - 1) in wanted:
                lane.seqs[lane_seq] = seq
            keyed = row["algorithm"] == KEYED
            # Keyed records count 1, 2, 3... in their lane; unkeyed ones (before 0008) kept the seq they had.
            gap = keyed and lane_seq != lane.last_lane_seq + 1
            if row["prev_hash"] != previous or gap:
                verdict.problems.append(Problem(
                    "removed", lane.last_seq + 1 if lane.last_seq else seq,
                    f"record {seq} (lane {lane_no}, lane_seq {lane_seq}) does not link to the record before it in its lane "
                    f"({'records removed' if lane_seq != lane.last_lane_seq + 1 else 'altered link'})",
                    lane_no))
            if keyed:
                verdict.keyed += 1
                expected = chain_hash(key, row["prev_hash"], payload(lane_seq, row["at"], dict(row), lane_no))
                if not hmac.compare_digest(expected, row["hash"]):
                    verdict.problems.append(Problem(
                        "rewritten", seq, f"record {seq}: its HMAC does not match its content or lane (altered, "
                        "moved from another lane, or written without the audit key)", lane_no))
            elif row["legacy_hash"] != row["hash"] or lane_no != 0:
                verdict.problems.append(Problem("rewritten", seq, f"record {seq} (unkeyed, before migration 8): "
                                                "hash does not match its content", lane_no))
            elif lane.keyed:
                # anyone who can INSERT can compute an unkeyed hash: only a prefix written before 0008 counts
                verdict.problems.append(Problem("rewritten", seq, f"record {seq} (lane {lane_no}, lane_seq {lane_seq}) "
                                                "is unkeyed but follows keyed records: written without the audit key",
                                                lane_no))
            # The database numbers a lane's records under the lane's lock, in lane_seq order: the global seq
            # is not under the HMAC, but within a lane it can only grow.
            if lane.last_seq and seq <= lane.last_seq:
                verdict.problems.append(Problem(
                    "renumbered", seq, f"record {seq} (lane {lane_no}, lane_seq {lane_seq}) has a global seq below "
                    f"the record before it in its lane ({lane.last_seq}): seqs were changed", lane_no))
            lane.keyed = lane.keyed or keyed
            previous = row["hash"]
            lane.last_seq, lane.last_lane_seq = seq, lane_seq
    verdict.lanes = len(lanes)
    for checkpoint in sorted(checkpoints, key=lambda c: (c.lane, c.seq)):
        verdict.checkpoints += 1
        _hold(verdict, checkpoints, checkpoint, key, lanes)
    verdict.problems.sort(key=lambda p: (p.first_seq, p.lane))
    return verdict


def _hold(verdict: Verdict, checkpoints: Sequence[Checkpoint], checkpoint: Checkpoint, key: bytes,
          lanes: dict[int, _Lane]) -> None:
    """One checkpoint against its lane: forged, truncated (the lane ends before it, or is gone), rewritten."""
    lane = lanes.get(checkpoint.lane, _Lane())
    if checkpoint.lane < 0 or not checkpoint.valid(key):
        verdict.problems.append(Problem("checkpoint_forged", max(lane.seqs.get(checkpoint.seq, checkpoint.seq), 0),
                                        f"checkpoint of {checkpoint.chain} seq {checkpoint.seq} in {checkpoint.source} does not "
                                        "carry a valid HMAC", max(checkpoint.lane, 0)))
    elif checkpoint.seq > lane.last_lane_seq:
        missing = (f"records after seq {lane.last_seq} are missing (lane {checkpoint.lane}, after lane_seq "
                   f"{lane.last_lane_seq})" if lane.last_seq else f"every record of lane {checkpoint.lane} is missing")
        verdict.problems.append(Problem(
            "truncated", lane.last_seq + 1 if lane.last_seq else 1,
            f"{missing}: {checkpoint.source} holds a checkpoint of lane_seq {checkpoint.seq} taken at "
            f"{utc_text(checkpoint.at)}", checkpoint.lane))
    elif checkpoint.seq > 0 and lane.hashes.get(checkpoint.seq) != checkpoint.hash:
        verdict.problems.append(Problem(
            "rewritten", _first_after(verdict, checkpoints, checkpoint, lane),
            f"record {lane.seqs.get(checkpoint.seq)} (lane {checkpoint.lane}, lane_seq {checkpoint.seq}) differs from the "
            f"checkpoint in {checkpoint.source} taken at {utc_text(checkpoint.at)}: the chain was rewritten",
            checkpoint.lane))


def _first_after(verdict: Verdict, checkpoints: Sequence[Checkpoint], broken: Checkpoint, lane: _Lane) -> int:
    """The first record of the lane a rewrite can have touched: the first broken link found in it, else
    the record after the newest earlier checkpoint of the lane that still matches."""
    found = [p.first_seq for p in verdict.problems if p.kind in ("rewritten", "removed") and p.lane == broken.lane]
    if found:
        return min(found)
    earlier = [c.seq for c in checkpoints
               if c.lane == broken.lane and c.seq < broken.seq and lane.hashes.get(c.seq) == c.hash]
    if earlier:
        return lane.seqs.get(max(earlier) + 1, lane.first_seq)
    return lane.first_seq
