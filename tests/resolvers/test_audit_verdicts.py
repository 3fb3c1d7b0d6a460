"""Verification per lane (migration 0028): a record or a lane moved to another lane, a lane deleted whole, a
lane's newest records deleted, a forged checkpoint of a lane; each named by lane and global seq."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.resolvers import audit, audit_checkpoints, audit_verdicts
from govshare.resolvers.audit_checkpoints import Checkpoint

from ..admin_helpers import as_user
from ..audit_databases import as_json, fresh_region, keyed_rows
from ..conftest import Cluster
from ..helpers import AUDIT_KEY, gql

KEY = AUDIT_KEY.encode()
GLASS_OFF = "alter table audit_log disable trigger audit_log_append_only"
GLASS_ON = "alter table audit_log enable trigger audit_log_append_only"


@pytest.fixture
async def region(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    conn = await cluster.connect("650000")
    await conn.execute("set synchronous_commit = on")  # what it repairs must survive later restarts
    try:
        yield conn
    finally:
        await conn.close()


async def _lane(client: httpx.AsyncClient, region: asyncpg.Connection, lane: int, count: int) -> list[dict[str, Any]]:
    """``count`` more records on ``lane``; the lane's records, in order."""
    trail = audit.AuditTrail(client.app.state.pools, KEY, lane)  # type: ignore[attr-defined]
    tag = uuid.uuid4().hex
    for n in range(count):
        await trail.append(audit.AuditRecord(f"{tag}-{n}", "verdicts-test", "650000-GA", "read", None,
                                             "650000-B01-000001", row_count=n, client_request_id=tag))
    return [dict(r) for r in await region.fetch("select * from audit_log where lane = $1 order by lane_seq", lane)]


async def _checkpoints(client: httpx.AsyncClient) -> list[Checkpoint]:
    """Every lane's head, keyed as the checkpointer does (kept in memory: nothing written elsewhere)."""
    trail = client.app.state.audit_trail  # type: ignore[attr-defined]
    at = datetime.now(UTC)
    found = []
    for lane, head in (await audit_checkpoints.read_heads(trail)).items():
        chain = audit_checkpoints.chain_name("650000", lane)
        found.append(Checkpoint(chain, head.seq, head.hash, at, Checkpoint.mac_of(KEY, chain, head.seq, head.hash, at),
                                "test"))
    return found


async def _restore(region: asyncpg.Connection, lane: int, rows: list[dict[str, Any]]) -> None:
    async with region.transaction():
        await region.execute(GLASS_OFF)
        await region.execute("delete from audit_log where lane = $1", lane)
        columns = list(rows[0])
        for row in rows:
            await region.execute(f"insert into audit_log ({', '.join(columns)}) values "
                                 f"({', '.join(f'${i + 1}' for i in range(len(columns)))})", *row.values())
        await region.execute(GLASS_ON)


async def test_a_record_moved_to_another_lane_is_found(client: httpx.AsyncClient, region: asyncpg.Connection) -> None:
    source, target = await _lane(client, region, 50, 3), await _lane(client, region, 51, 2)
    moved = source[1]
    async with region.transaction():
        await region.execute(GLASS_OFF)
        # continues lane 51's links and numbering: only the HMAC, which covers the lane, can tell
        await region.execute("update audit_log set lane = 51, lane_seq = $2, prev_hash = $3 where seq = $1",
                             moved["seq"], target[-1]["lane_seq"] + 1, target[-1]["hash"])
        await region.execute(GLASS_ON)
    try:
        verdict = await audit_verdicts.verify_chain(region, KEY, [])
        found = {(p.kind, p.lane, p.first_seq) for p in verdict.problems}
        assert ("rewritten", 51, moved["seq"]) in found
        # the lane it left has a hole after its first: named by lane_seq; its seq is now lane 51's record's
        assert ("removed", 50, None) in found
        assert [p.lane_seq for p in verdict.problems if p.kind == "removed"] == [source[1]["lane_seq"]]
        assert {p.lane for p in verdict.problems} == {50, 51}
    finally:
        async with region.transaction():
            await region.execute(GLASS_OFF)
            await region.execute("update audit_log set lane = 50, lane_seq = $2, prev_hash = $3 where seq = $1",
                                 moved["seq"], moved["lane_seq"], moved["prev_hash"])
            await region.execute(GLASS_ON)
    assert (await audit_verdicts.verify_chain(region, KEY, [])).problems == []


async def test_a_whole_lane_moved_to_another_is_found(client: httpx.AsyncClient, region: asyncpg.Connection) -> None:
    rows = await _lane(client, region, 52, 2)
    async with region.transaction():
        await region.execute(GLASS_OFF)
        await region.execute("update audit_log set lane = 62 where lane = 52")  # links and lane_seqs intact
        await region.execute(GLASS_ON)
    try:
        verdict = await audit_verdicts.verify_chain(region, KEY, [])
        assert [(p.kind, p.lane, p.first_seq) for p in verdict.problems] == [
            ("rewritten", 62, rows[0]["seq"]), ("rewritten", 62, rows[1]["seq"])]
    finally:
        async with region.transaction():
            await region.execute(GLASS_OFF)
            await region.execute("update audit_log set lane = 52 where lane = 62")
            await region.execute(GLASS_ON)
    assert (await audit_verdicts.verify_chain(region, KEY, [])).problems == []


async def test_a_lane_deleted_whole_after_a_checkpoint_is_truncation(client: httpx.AsyncClient,
                                                                     region: asyncpg.Connection) -> None:
    rows = await _lane(client, region, 53, 3)
    checkpoints = await _checkpoints(client)
    assert any(c.chain == "650000#53" and c.seq == rows[-1]["lane_seq"] for c in checkpoints)
    async with region.transaction():
        await region.execute(GLASS_OFF)
        await region.execute("delete from audit_log where lane = 53")
        await region.execute(GLASS_ON)
    try:
        verdict = await audit_verdicts.verify_chain(region, KEY, checkpoints)
        assert [(p.kind, p.lane) for p in verdict.problems] == [("truncated", 53)]
        assert "every record of lane 53 is missing" in verdict.problems[0].detail
        # without the checkpoints the remaining lanes look intact: that is why every lane is anchored
        assert (await audit_verdicts.verify_chain(region, KEY, [])).problems == []
    finally:
        await _restore(region, 53, rows)
    assert (await audit_verdicts.verify_chain(region, KEY, checkpoints)).problems == []


async def test_a_lanes_newest_records_deleted_and_rewritten_records_are_named_by_lane(
        client: httpx.AsyncClient, region: asyncpg.Connection) -> None:
    rows = await _lane(client, region, 54, 4)
    checkpoints = await _checkpoints(client)
    async with region.transaction():
        await region.execute(GLASS_OFF)
        await region.execute("delete from audit_log where lane = 54 and lane_seq >= $1", rows[2]["lane_seq"])
        await region.execute("update audit_log set row_count = 99 where seq = $1", rows[0]["seq"])
        await region.execute(GLASS_ON)
    try:
        verdict = await audit_verdicts.verify_chain(region, KEY, checkpoints)
        assert [(p.kind, p.lane, p.lane_seq, p.first_seq) for p in verdict.problems] == [
            ("rewritten", 54, rows[0]["lane_seq"], rows[0]["seq"]), ("truncated", 54, rows[2]["lane_seq"], None)]
        assert f"records after seq {rows[1]['seq']} are missing (lane 54" in verdict.problems[1].detail
    finally:
        await _restore(region, 54, rows)
    assert (await audit_verdicts.verify_chain(region, KEY, checkpoints)).problems == []


async def test_a_checkpoint_moved_to_another_lane_is_forged(client: httpx.AsyncClient,
                                                           region: asyncpg.Connection) -> None:
    rows = await _lane(client, region, 55, 2)
    [mine] = [c for c in await _checkpoints(client) if c.chain == "650000#55"]
    # the same head and MAC claimed for lane 0 or another lane: the MAC covers the chain name
    for chain in ("650000", "650000#56", "650000#99"):
        moved = Checkpoint(chain, mine.seq, mine.hash, mine.at, mine.mac, "test")
        verdict = await audit_verdicts.verify_chain(region, KEY, [mine, moved])
        assert [p.kind for p in verdict.problems] == ["checkpoint_forged"], chain
    # a validly keyed checkpoint whose hash the lane does not have: rewritten from the lane's first record
    at = datetime.now(UTC)
    wrong = Checkpoint(mine.chain, mine.seq, "e" * 64, at, Checkpoint.mac_of(KEY, mine.chain, mine.seq, "e" * 64, at))
    verdict = await audit_verdicts.verify_chain(region, KEY, [wrong])
    assert [(p.kind, p.lane, p.first_seq) for p in verdict.problems] == [("rewritten", 55, rows[0]["seq"])]


async def test_missing_records_are_named_in_their_own_lane_never_by_another_lanes_seq(
        client: httpx.AsyncClient, region: asyncpg.Connection) -> None:
    """Two lanes appending in turn: the seq after lane 57's last intact record is lane 58's record. verify named
    it as the first record affected (removed and truncated alike); now the gap's lane and lane_seq, no seq."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    ours, theirs = audit.AuditTrail(pools, KEY, 57), audit.AuditTrail(pools, KEY, 58)
    tag = uuid.uuid4().hex
    for n in range(3):
        for trail in (ours, theirs):
            await trail.append(audit.AuditRecord(f"{tag}-{trail.lane}-{n}", "verdicts-test", "650000-GA", "read",
                                                 None, "650000-B01-000001", row_count=n, client_request_id=tag))
    rows = [dict(r) for r in await region.fetch("select * from audit_log where lane = 57 order by lane_seq")]
    other = {r["seq"] for r in await region.fetch("select seq from audit_log where lane = 58")}
    assert rows[0]["seq"] + 1 in other  # the interleaving this is about
    checkpoints = await _checkpoints(client)
    try:
        async with region.transaction():
            await region.execute(GLASS_OFF)
            await region.execute("delete from audit_log where seq = $1", rows[1]["seq"])
            await region.execute(GLASS_ON)
        verdict = await audit_verdicts.verify_chain(region, KEY, checkpoints)
        [removed] = verdict.problems
        assert (removed.kind, removed.lane, removed.first_seq) == ("removed", 57, None)  # was lane 58's seq
        assert removed.lane_seq == 2
        assert f"lane_seq 2 (after seq {rows[0]['seq']}, before record {rows[2]['seq']}" in removed.detail
        await _restore(region, 57, rows)
        async with region.transaction():
            await region.execute(GLASS_OFF)
            await region.execute("delete from audit_log where lane = 57 and lane_seq >= 2")
            await region.execute(GLASS_ON)
        verdict = await audit_verdicts.verify_chain(region, KEY, checkpoints)
        assert [(p.kind, p.lane, p.first_seq) for p in verdict.problems] == [("truncated", 57, None)]
        assert verdict.problems[0].lane_seq == 2
    finally:
        await _restore(region, 57, rows)
    assert (await audit_verdicts.verify_chain(region, KEY, checkpoints)).problems == []


async def test_a_records_commit_position_changed_is_found(client: httpx.AsyncClient, region: asyncpg.Connection) -> None:
    """xact (migration 0031), the order auditRecords pages in, is outside the HMAC like seq: set to a
    transaction that has not begun it keeps a record out of auditRecords for good, set below its lane's
    previous record it moves it; verify reports both, by lane and lane_seq."""
    rows = await _lane(client, region, 42, 3)
    xacts = {r["seq"]: r["xact"] for r in await region.fetch("select seq, xact::text as xact from audit_log where lane = 42")}
    page = """{ auditRecords(first: 10, lane: 42) { records { seq } } }"""
    supervisor = as_user("supervisor.region")
    try:
        async with region.transaction():
            await region.execute(GLASS_OFF)
            await region.execute("update audit_log set xact = '9000000000000000000' where seq = $1", rows[1]["seq"])
            await region.execute("update audit_log set xact = '3' where seq = $1", rows[2]["seq"])
            await region.execute(GLASS_ON)
        body, _ = await gql(client, page, **supervisor)
        assert rows[1]["seq"] not in {int(r["seq"]) for r in body["data"]["auditRecords"]["records"]}  # hidden
        verdict = await audit_verdicts.verify_chain(region, KEY, [])
        assert [(p.kind, p.lane, p.lane_seq, p.first_seq) for p in verdict.problems] == [
            ("renumbered", 42, 2, rows[1]["seq"]), ("renumbered", 42, 3, rows[2]["seq"])]
        assert "has not begun" in verdict.problems[0].detail and "before the record" in verdict.problems[1].detail
    finally:
        async with region.transaction():
            await region.execute(GLASS_OFF)
            for seq, xact in xacts.items():
                await region.execute("update audit_log set xact = $2::text::xid8 where seq = $1", seq, xact)
            await region.execute(GLASS_ON)
    assert (await audit_verdicts.verify_chain(region, KEY, [])).problems == []
    body, _ = await gql(client, page, **supervisor)
    assert {r["seq"] for r in rows} <= {int(r["seq"]) for r in body["data"]["auditRecords"]["records"]}


async def _append(conn: asyncpg.Connection, lane: int, tag: str) -> tuple[int, int]:
    """One keyed record appended to ``lane`` as the trail does (one statement, autocommit): (xact, seq)."""
    head = await conn.fetchrow("select seq, hash from audit_head($1::integer)", lane)
    assert head is not None
    rec = audit.AuditRecord(tag, "verdicts-test", "650100-GA", "read", None, "650000-B01-000001", outcome="ok")
    out = await conn.fetchrow("select appended, seqs from audit_append_lane($1, $2, $3, $4::jsonb, null)",
                              lane, head["seq"], head["hash"], as_json(keyed_rows(lane, head["seq"], head["hash"], [rec])))
    assert out is not None and out["appended"]
    seq = int(out["seqs"][0])
    return int(await conn.fetchval("select xact::text from audit_log where seq = $1", seq)), seq


async def test_an_xact_moved_back_onto_its_lane_predecessors_transaction_is_found(cluster: Cluster) -> None:
    """A quiet lane's new record set back to its lane predecessor's xact (review-auditpage finding 3) sorts
    behind an oldest-first follower's cursor: the follower never gets it. It passed verify's checks (not
    decreasing in its lane, not in the future); a lane's records of one transaction are one batch with one
    time (at, under the HMAC), so a record of another time on the same transaction was moved."""
    async with fresh_region(cluster) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            quiet = await _append(conn, 2, "quiet-lane-earlier")
            await _append(conn, 3, "busy-1")
            await _append(conn, 3, "busy-2")
            hidden = await _append(conn, 2, "the-record-to-hide")
            assert (await audit_verdicts.verify_chain(conn, KEY, [])).problems == []
            async with conn.transaction():  # the tamperer's break glass (owner rights: what verify is for)
                await conn.execute(GLASS_OFF)
                await conn.execute("update audit_log set xact = $1::text::xid8 where seq = $2", str(quiet[0]), hidden[1])
                await conn.execute(GLASS_ON)
            verdict = await audit_verdicts.verify_chain(conn, KEY, [])
        finally:
            await conn.close()
    assert [(p.kind, p.lane, p.lane_seq, p.first_seq) for p in verdict.problems] == [("renumbered", 2, 2, hidden[1])]
    assert "appended at another time" in verdict.problems[0].detail


async def test_one_finding_shown_by_many_checkpoint_copies_is_reported_once(client: httpx.AsyncClient,
                                                                             region: asyncpg.Connection) -> None:
    """Every checkpoint is copied to every node: a lost tail (or a rewrite) shown by two checkpoints in three
    places is one problem naming the places, not six (trial-s7 F3: 26 identical truncations)."""
    rows = await _lane(client, region, 43, 3)
    chain, at = audit_checkpoints.chain_name("650000", 43), datetime.now(UTC)
    places = ("/var/lib/govshare/audit-checkpoints.jsonl", "node 650100", "node 650200")

    def copies(lane_seq: int, hash_: str) -> list[Checkpoint]:
        return [Checkpoint(chain, lane_seq, hash_, at, Checkpoint.mac_of(KEY, chain, lane_seq, hash_, at), place)
                for place in places]

    held = copies(rows[1]["lane_seq"], rows[1]["hash"]) + copies(rows[2]["lane_seq"], rows[2]["hash"])
    try:
        async with region.transaction():
            await region.execute(GLASS_OFF)
            await region.execute("delete from audit_log where lane = 43 and lane_seq >= $1", rows[1]["lane_seq"])
            await region.execute(GLASS_ON)
        verdict = await audit_verdicts.verify_chain(region, KEY, held)
        [truncated] = verdict.problems
        assert (truncated.kind, truncated.lane, truncated.lane_seq) == ("truncated", 43, rows[1]["lane_seq"])
        assert truncated.places == places and verdict.checkpoints == 6
        # told with the newest checkpoint (the most records it proves lost), then every place
        assert truncated.detail.startswith(
            f"records after seq {rows[0]['seq']} are missing (lane 43, after lane_seq {rows[0]['lane_seq']}): "
            f"{places[2]} holds a checkpoint of lane_seq {rows[2]['lane_seq']} taken at ")
        assert truncated.detail.endswith(f"; 6 checkpoints in 3 place(s) show it: {', '.join(places)}")
        assert json.loads(json.dumps(audit_verdicts.Verdict(problems=[truncated]).as_json()))["problems"][0][
            "places"] == list(places)  # what --json prints
    finally:
        await _restore(region, 43, rows)
    assert (await audit_verdicts.verify_chain(region, KEY, held)).problems == []
    # a rewrite shown by the three copies of one checkpoint: one problem too
    verdict = await audit_verdicts.verify_chain(region, KEY, copies(rows[1]["lane_seq"], "f" * 64))
    [rewritten] = verdict.problems
    assert (rewritten.kind, rewritten.lane, rewritten.places) == ("rewritten", 43, places)
    assert rewritten.detail.endswith(f"; 3 checkpoints in 3 place(s) show it: {', '.join(places)}")
