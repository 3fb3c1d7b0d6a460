"""auditRecords as an auditor pages through it: laneSeq past 32 bits."""

from __future__ import annotations

import httpx

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql

GLASS_OFF = "alter table audit_log disable trigger audit_log_append_only"
GLASS_ON = "alter table audit_log enable trigger audit_log_append_only"
SUPERVISOR = as_user("supervisor.region")


async def test_a_lane_seq_past_32_bits_is_read_exactly(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """lane_seq is a bigint: as a GraphQL Int (32 bits) a lane past 2^31 records failed the whole field."""
    lane, lane_seq = 33, 2 ** 53 + 1  # past 2^31, and past what a JSON number keeps exactly in JavaScript
    conn = await cluster.connect("650000")
    try:
        # the owner may insert (append-only refuses only UPDATE, DELETE, TRUNCATE); verify would call it forged
        seq = await conn.fetchval(
            "insert into audit_log (lane, lane_seq, request_id, user_id, department, action, resource, outcome, "
            "prev_hash, hash, algorithm) values ($1, $2, 'bigint-lane', 'test', '650000-ZW', 'read', 'audit_log', 'ok', $3, $4, "
            "'hmac-sha256') "
            "returning seq", lane, lane_seq, "0" * 64, "a" * 64)
        try:
            body, _ = await gql(client, "query($lane: Int) { auditRecords(first: 5, lane: $lane) { "
                                        "records { seq lane laneSeq } } }", {"lane": lane}, **SUPERVISOR)
        finally:
            async with conn.transaction():
                await conn.execute(GLASS_OFF)
                await conn.execute("delete from audit_log where seq = $1", seq)
                await conn.execute(GLASS_ON)
    finally:
        await conn.close()
    assert "errors" not in body, body
    # the newest record of the lane (another test may have written the lane before)
    assert body["data"]["auditRecords"]["records"][0] == {"seq": seq, "lane": lane, "laneSeq": str(lane_seq)}
