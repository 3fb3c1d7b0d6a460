"""Audit verification: walk every lane's chain (HMAC, links, lane_seq contiguity) and hold each lane against
its checkpoints, naming the first record affected by a rewrite, removal, move between lanes or truncation as
the chain names it (lane, lane_seq), with its global seq where that is known to be this lane's record.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from .audit_checkpoints import Checkpoint
from .audit_records import KEYED, ZERO_HASH, chain_hash, payload, utc_text

# Every record, lane by lane in lane order; unkeyed records of before migration 0008 (all lane 0) are
# checked with the database's own SHA-256 functions, keyed ones here.
SELECT_CHAIN = """select seq, lane, lane_seq, {xact} as commit_xact, {xact_end} as xact_end, at, request_id, client_request_id, user_id, department, action, purpose,
    grant_ids, resource, items_returned, items_denied, row_count, nodes, outcome, prev_hash, hash, algorithm, detail,
    case when algorithm = 'sha256' then audit_hash(prev_hash, audit_payload(a)) end as legacy_hash
    from audit_log a order by lane, lane_seq"""
# The appending transaction (migration 0031), the order auditRecords pages in: outside the HMAC like seq, so
# checked like seq. Each append takes its lane's lock before it writes (and so before its transaction gets
# an id), so within a lane xact never decreases; and no record can name a transaction not yet begun (which
# would keep it out of auditRecords for good: a page reads only records below every running transaction).
HAS_XACT = """select exists (select from pg_attribute where attrelid = 'audit_log'::regclass and attname = 'xact'
    and not attisdropped)"""
# The first transaction id not yet given out when the walk's snapshot was taken (in the walk's statement).
XACT_END = "(select pg_snapshot_xmax(pg_current_snapshot()))::text"
# Since 0033 a position is that id plus the clock's offset; before the first append after the server started
# has checked the offset (a restore onto another server), no record can be kept out of auditRecords (it reads
# every committed record then), so the end is just past the highest position.
CLOCK_END = """(select case when c.started = pg_postmaster_start_time()
        then pg_snapshot_xmax(pg_current_snapshot())::text::numeric + c.xact_offset
        else coalesce((select b.xact::text::numeric from audit_log b order by b.xact desc, b.seq desc limit 1), 0) + 1
    end from audit_clock c)::text"""
HAS_CLOCK = "select to_regclass('audit_clock') is not null"
# Where the genuine unkeyed records end (lane 0's last one when migration 0029 ran; (0, zeros): none).
LEGACY_END = "select lane_seq, hash from audit_legacy_end()"
# Export jobs point at their audit record by global seq, which is not under the HMAC: the record there must be
# the one the job keeps (lane, lane_seq, hash, migration 0030), or for older jobs this job's export record
# (its detail names the job, under the HMAC).
HAS_POINTERS = """select exists (select from pg_attribute where attrelid = to_regclass('exchange_jobs')
    and attname = 'audit_hash' and not attisdropped)"""
POINTERS = """select j.id, j.audit_seq, j.audit_lane, j.audit_lane_seq, j.audit_hash, a.seq, a.lane, a.lane_seq, a.hash,
    a.action, a.detail ->> 'job' as job
    from exchange_jobs j left join audit_log a on a.seq = j.audit_seq
    where j.audit_seq is not null order by j.id"""
HAS_LEGACY_END = "select to_regprocedure('audit_legacy_end()') is not null"
# Seqs deduced for missing records that some remaining record holds after all (then the deduction is void).
SEQS_HELD = "select seq from audit_log where seq = any($1::bigint[])"


@dataclass(frozen=True)
class Problem:
    kind: str  # rewritten | removed | renumbered | unsealed | truncated | checkpoint_forged | unreadable
    # The global seq of the first record affected, only where it is that lane's record: the record itself
    # where it exists. Missing records took their seqs with them, and seq is drawn for the whole trail, so
    # the seq after the lane's last intact record is as likely another lane's record: a missing record has
    # a seq here only where its lane's intact neighbours leave exactly one seq to each missing record (a
    # lane alone on the trail, lane 0 before lanes), and no remaining record holds it; else None.
    first_seq: int | None
    detail: str
    lane: int = 0
    # The first record affected as the chain names it: its lane_seq in ``lane`` (the first missing one where
    # records are missing); None only for a checkpoint that names no lane.
    lane_seq: int | None = None
    # Where the checkpoints that show it are held (the file, "node 650100", ...): a finding shown by many
    # checkpoints and their copies is one problem (truncated and rewritten ones), not one per copy.
    places: tuple[str, ...] = ()


@dataclass
class _Lane:
    """What the walk keeps of one lane: its last record and the records checkpoints name."""
    first_seq: int = 0
    first_lane_seq: int = 0
    last_seq: int = 0  # global seq of the lane's last record
    last_lane_seq: int = 0
    keyed: bool = False  # a keyed record seen: an unkeyed one after it cannot be of before migration 0008
    last_keyed: bool = True  # whether the lane's last record is keyed
    last_flagged: bool = False  # whether a problem names the lane's last record already
    last_xact: int = 0  # the appending transaction of the lane's last record (0: before migration 0031)
    last_at: datetime | None = None  # the time of the lane's last record (one per batch, so per transaction)
    hashes: dict[int, str] = field(default_factory=dict)  # lane_seq -> hash, for checkpointed lane_seqs
    seqs: dict[int, int] = field(default_factory=dict)  # lane_seq -> global seq, for those and the next


@dataclass
class Verdict:
    records: int = 0
    last_seq: int = 0
    keyed: int = 0
    verified: int = 0  # keyed records whose HMAC matches: none of many means the key is not the trail's
    lanes: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "problems"},
                "problems": [asdict(p) for p in self.problems]}


async def verify_chain(conn: asyncpg.Connection, key: bytes, checkpoints: Sequence[Checkpoint]) -> Verdict:
    """Walk every lane in order (HMAC, links, lane_seq), then hold each lane against its checkpoints."""
    verdict = Verdict()
    # (lane, lane_seq) -> the seq deduced for that missing record, void if a remaining record holds it
    guesses: dict[tuple[int, int], int] = {}
    wanted = {(c.lane, c.seq) for c in checkpoints}
    lanes: dict[int, _Lane] = {}
    lane: _Lane | None = None
    lane_no = -1
    previous = ZERO_HASH
    async with conn.transaction(readonly=True):
        legacy = await _legacy_end(conn)
        with_xact = bool(await conn.fetchval(HAS_XACT))
        end = (CLOCK_END if await conn.fetchval(HAS_CLOCK) else XACT_END) if with_xact else "null::text"
        chain = SELECT_CHAIN.format(xact="a.xact::text" if with_xact else "null::text", xact_end=end)
        async for row in conn.cursor(chain, prefetch=2000):
            seq, lane_seq = int(row["seq"]), int(row["lane_seq"])
            if lane is None or int(row["lane"]) != lane_no:
                lane_no = int(row["lane"])
                lane = lanes[lane_no] = _Lane(first_seq=seq, first_lane_seq=lane_seq)
                previous = ZERO_HASH
            verdict.records += 1
            found = len(verdict.problems)
            verdict.last_seq = max(verdict.last_seq, seq)
            if (lane_no, lane_seq) in wanted:
                lane.hashes[lane_seq] = row["hash"]
            if (lane_no, lane_seq) in wanted or (lane_no, lane_seq - 1) in wanted:
                lane.seqs[lane_seq] = seq
            keyed = row["algorithm"] == KEYED
            # Keyed records count 1, 2, 3... in their lane; unkeyed ones (before 0008) kept the seq they had.
            gap = keyed and lane_seq != lane.last_lane_seq + 1
            if row["prev_hash"] != previous or gap:
                verdict.problems.append(_removed(lane, lane_no, seq, lane_seq, guesses))
            if keyed:
                verdict.keyed += 1
                expected = chain_hash(key, row["prev_hash"], payload(lane_seq, row["at"], dict(row), lane_no))
                if hmac.compare_digest(expected, row["hash"]):
                    verdict.verified += 1
                else:
                    verdict.problems.append(Problem(
                        "rewritten", seq, f"record {seq}: its HMAC does not match its content or lane (altered, "
                        "moved from another lane, or written without the audit key)", lane_no, lane_seq))
            elif row["legacy_hash"] != row["hash"] or lane_no != 0:
                verdict.problems.append(Problem("rewritten", seq, f"record {seq} (unkeyed, before migration 8): "
                                                "hash does not match its content", lane_no, lane_seq))
            elif lane.keyed:
                # anyone who can INSERT can compute an unkeyed hash: only a prefix written before 0008 counts
                verdict.problems.append(Problem("rewritten", seq, f"record {seq} (lane {lane_no}, lane_seq {lane_seq}) "
                                                "is unkeyed but follows keyed records: written without the audit key",
                                                lane_no, lane_seq))
            elif legacy is not None and (lane_seq > legacy[0] or (lane_seq == legacy[0] and row["hash"] != legacy[1])):
                # anyone who can INSERT can compute an unkeyed hash: only those 0029 found are genuine
                verdict.problems.append(Problem("rewritten", seq, f"record {seq} (lane {lane_no}, lane_seq {lane_seq}) "
                                                "is unkeyed but was not in the trail when migration 29 recorded the end "
                                                f"of the unkeyed records (lane_seq {legacy[0]}): written without the "
                                                "audit key", lane_no, lane_seq))
            # The database numbers a lane's records under the lane's lock, in lane_seq order: the global seq
            # is not under the HMAC, but within a lane it can only grow.
            if lane.last_seq and seq <= lane.last_seq:
                verdict.problems.append(Problem(
                    "renumbered", seq, f"record {seq} (lane {lane_no}, lane_seq {lane_seq}) has a global seq below "
                    f"the record before it in its lane ({lane.last_seq}): seqs were changed", lane_no, lane_seq))
            lane.keyed = lane.keyed or keyed
            lane.last_keyed, lane.last_flagged = keyed, len(verdict.problems) > found
            previous = row["hash"]
            if row["commit_xact"] is not None:
                xact, xact_end = int(row["commit_xact"]), int(row["xact_end"])
                # A batch is one transaction and one time (at, under the HMAC): another time in the lane is a later
                # transaction, whose id is above the one before (a lane's appends exclude each other, and the
                # next one's id is given after the previous one ended). So a record moved back onto the
                # transaction before it in its lane is found too.
                later = lane.last_at is not None and row["at"] != lane.last_at and lane.last_xact > 0
                if xact >= xact_end or xact < lane.last_xact or (later and xact == lane.last_xact):
                    verdict.problems.append(Problem(
                        "renumbered", seq, f"record {seq} (lane {lane_no}, lane_seq {lane_seq}) names appending "
                        f"transaction {xact}, " + ("which has not begun: it is kept out of auditRecords" if
                                                   xact >= xact_end else
                                                   f"before the record before it in its lane ({lane.last_xact}): "
                                                   "its place in auditRecords was moved" if xact < lane.last_xact else
                                                   "that of the record before it in its lane, appended at another "
                                                   "time: its place in auditRecords was moved") + " (xact was changed)",
                        lane_no, lane_seq))
                if xact < xact_end:  # one made up does not make the lane's next genuine ones look moved
                    lane.last_xact = max(lane.last_xact, xact)
                lane.last_at = row["at"]
            lane.last_seq, lane.last_lane_seq = seq, lane_seq
        await _check_pointers(conn, verdict)
        held = {int(r["seq"]) for r in await conn.fetch(SEQS_HELD, list(guesses.values()))} if guesses else set()
    verdict.problems = [replace(p, first_seq=None) if p.kind == "removed" and p.lane_seq is not None
                        and guesses.get((p.lane, p.lane_seq)) in held else p for p in verdict.problems]
    verdict.lanes = len(lanes)
    zero = lanes.get(0)
    if zero is not None and not zero.last_keyed and not zero.last_flagged:
        # Genuine but open: the next record could be anyone's unkeyed one. The service seals it at start.
        verdict.problems.append(Problem(
            "unsealed", zero.last_seq, f"lane 0 ends with the unkeyed record {zero.last_seq} (lane_seq "
            f"{zero.last_lane_seq}, of before migration 8): start the service once after upgrading, it seals the "
            "unkeyed records with a keyed 'audit.seal' record; until then records can be added after it without "
            "the audit key", 0, zero.last_lane_seq))
    held_from = len(verdict.problems)
    for checkpoint in sorted(checkpoints, key=lambda c: (c.lane, c.seq)):
        verdict.checkpoints += 1
        _hold(verdict, checkpoints, checkpoint, key, lanes)
    verdict.problems[held_from:] = _merged(verdict.problems[held_from:])
    # Lane by lane, in chain order: a global order of the problems would need seqs that missing records lack.
    verdict.problems.sort(key=lambda p: (p.lane, -1 if p.lane_seq is None else p.lane_seq))
    return verdict


def _removed(lane: _Lane, lane_no: int, seq: int, lane_seq: int, guesses: dict[tuple[int, int], int]) -> Problem:
    """A record that does not link to the one before it in its lane: records missing before it (a gap in
    lane_seq, from lane_seq 1 if it is the lane's first), or its own link altered."""
    if lane_seq == lane.last_lane_seq + 1:
        return Problem("removed", seq, f"record {seq} (lane {lane_no}, lane_seq {lane_seq}) does not link to the "
                       "record before it in its lane (altered link)", lane_no, lane_seq)
    first = lane.last_lane_seq + 1
    missing = lane_seq - first
    # Within a lane seq grows with lane_seq: the missing records' seqs lie strictly between their intact
    # neighbours'. Only where there are exactly as many seqs there as missing records is the first one known.
    known = seq - lane.last_seq - 1 == missing
    if known:
        guesses[(lane_no, first)] = lane.last_seq + 1
    after = f"after seq {lane.last_seq}, " if lane.last_seq else ""
    return Problem("removed", lane.last_seq + 1 if known else None,
                   f"records missing in lane {lane_no}: lane_seq {first}"
                   f"{f'-{lane_seq - 1}' if missing > 1 else ''} ({after}before record {seq}, lane_seq {lane_seq}, "
                   "which does not link to the record before it in its lane)", lane_no, first)


async def _check_pointers(conn: asyncpg.Connection, verdict: Verdict) -> None:
    """Each export job's audit_seq against the record it was written with ('renumbered' if another)."""
    if not await conn.fetchval(HAS_POINTERS):
        return
    for row in await conn.fetch(POINTERS):
        if row["audit_hash"] is not None:
            kept = (row["audit_lane"], row["audit_lane_seq"], row["audit_hash"])
            if (row["lane"], row["lane_seq"], row["hash"]) == kept:
                continue
            named = f"its record (lane {kept[0]}, lane_seq {kept[1]})"
        elif row["action"] == "exchange" and row["job"] == str(row["id"]):
            continue
        else:
            named = "its export record"
        verdict.problems.append(Problem(
            "renumbered", int(row["audit_seq"]), f"export job {row['id']} points at audit record {row['audit_seq']}, "
            f"which is {'no record' if row['seq'] is None else 'not ' + named}: seqs were changed (or the job "
            "was finished by a process of before audit lanes, whose seq was lane 0's lane_seq)",
            int(row["audit_lane"] if row["audit_lane"] is not None else row["lane"] or 0),
            None if row["audit_lane_seq"] is None else int(row["audit_lane_seq"])))


async def _legacy_end(conn: asyncpg.Connection) -> tuple[int, str] | None:
    """(lane_seq, hash) of the last genuine unkeyed record of lane 0 as migration 0029 found it; None on a
    database migrated only up to 0028 (then unkeyed records are only held to the lane rules)."""
    if not await conn.fetchval(HAS_LEGACY_END):
        return None
    row = await conn.fetchrow(LEGACY_END)
    return None if row is None else (int(row["lane_seq"]), str(row["hash"]))


def _hold(verdict: Verdict, checkpoints: Sequence[Checkpoint], checkpoint: Checkpoint, key: bytes,
          lanes: dict[int, _Lane]) -> None:
    """One checkpoint against its lane: forged, truncated (the lane ends before it, or is gone), rewritten."""
    lane = lanes.get(checkpoint.lane, _Lane())
    if checkpoint.lane < 0 or not checkpoint.valid(key):
        named = checkpoint.lane >= 0 and checkpoint.seq >= 0
        verdict.problems.append(Problem("checkpoint_forged", lane.seqs.get(checkpoint.seq) if named else None,
                                        f"checkpoint of {checkpoint.chain} seq {checkpoint.seq} in {checkpoint.source} does not "
                                        "carry a valid HMAC", max(checkpoint.lane, 0), checkpoint.seq if named else None))
    elif checkpoint.seq > lane.last_lane_seq:
        missing = (f"records after seq {lane.last_seq} are missing (lane {checkpoint.lane}, after lane_seq "
                   f"{lane.last_lane_seq})" if lane.last_seq else f"every record of lane {checkpoint.lane} is missing")
        # The missing records' seqs are gone and nothing follows them in the lane to bound them: no seq.
        verdict.problems.append(Problem(
            "truncated", None,
            f"{missing}: {checkpoint.source} holds a checkpoint of lane_seq {checkpoint.seq} taken at "
            f"{utc_text(checkpoint.at)}", checkpoint.lane, lane.last_lane_seq + 1, (checkpoint.source,)))
    elif checkpoint.seq > 0 and lane.hashes.get(checkpoint.seq) != checkpoint.hash:
        first_lane_seq, first_seq = _first_after(verdict, checkpoints, checkpoint, lane)
        verdict.problems.append(Problem(
            "rewritten", first_seq,
            f"record {lane.seqs.get(checkpoint.seq)} (lane {checkpoint.lane}, lane_seq {checkpoint.seq}) differs from the "
            f"checkpoint in {checkpoint.source} taken at {utc_text(checkpoint.at)}: the chain was rewritten",
            checkpoint.lane, first_lane_seq, (checkpoint.source,)))


# Findings of the checkpoints that are the same finding however many checkpoints (and copies) show it.
MERGED_KINDS = ("truncated", "rewritten")


def _merged(problems: list[Problem]) -> list[Problem]:
    """One problem per distinct finding of the checkpoints (kind, lane, first record affected), with every
    place that shows it: each checkpoint is copied to every node, so one lost tail would otherwise be
    reported once per checkpoint per place. Told with the newest checkpoint that shows a truncation (the
    most records it proves lost), and the oldest that shows a rewrite (the earliest evidence)."""
    groups: dict[tuple[str, int, int | None], tuple[int, list[Problem]]] = {}
    merged: list[Problem] = []
    for problem in problems:
        if problem.kind not in MERGED_KINDS:
            merged.append(problem)
            continue
        key = (problem.kind, problem.lane, problem.lane_seq)
        if key not in groups:
            groups[key] = (len(merged), [])
            merged.append(problem)  # its place in the list; replaced below
        groups[key][1].append(problem)
    for at, group in groups.values():
        told = group[-1] if group[0].kind == "truncated" else group[0]
        places = tuple(dict.fromkeys(place for p in group for place in p.places))
        detail = told.detail
        if len(group) > 1:
            detail += f"; {len(group)} checkpoints in {len(places)} place(s) show it: {', '.join(places)}"
        merged[at] = replace(told, detail=detail, places=places)
    return merged


def _first_after(verdict: Verdict, checkpoints: Sequence[Checkpoint], broken: Checkpoint,
                 lane: _Lane) -> tuple[int, int | None]:
    """The first record of the lane a rewrite can have touched (lane_seq, and seq if it is there): the first
    broken link found in it, else the record after the newest earlier checkpoint of the lane that still matches."""
    found = [(p.lane_seq, p.first_seq) for p in verdict.problems
             if p.kind in ("rewritten", "removed") and p.lane == broken.lane and p.lane_seq is not None]
    if found:
        return min(found, key=lambda f: f[0])
    earlier = [c.seq for c in checkpoints
               if c.lane == broken.lane and c.seq < broken.seq and lane.hashes.get(c.seq) == c.hash]
    if earlier:
        return max(earlier) + 1, lane.seqs.get(max(earlier) + 1)
    return lane.first_lane_seq, lane.first_seq
