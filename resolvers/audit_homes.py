"""Each user's home department (the one the API last served them for), kept off the request path.

The command line has no token: for --by it shows a user's implicit developer role in the node of the
department the audit trail last recorded for them. audit_log has no index by user (each index there is
work in every append, on the request path), so the region's checkpointer keeps audit_user_homes for the
records its round anchors (migration 0041), and a lookup reads that table plus only the records after what
it covers, found by (lane, lane_seq): at most one checkpoint interval's records, not the whole trail.
"""

from __future__ import annotations

from typing import Final

from govshare.federation.nodes import NodePools

from .audit import AuditTrail, Head
from .audit_records import LANES

# The moved lanes' records (lateral: each a range of the (lane, lane_seq) index) from where the table's
# coverage ends up to their heads: the newest department
# (a node's, not "cli") of each user among them, then the coverage moved on; a concurrent round of another
# process keeps the newer of two.
RECORD_HOMES: Final = """with moved as (
        select h.lane, h.head, coalesce(p.lane_seq, 0) as after
        from unnest($1::integer[], $2::bigint[]) as h(lane, head)
        left join audit_user_home_lanes p on p.lane = h.lane),
    latest as (
        select distinct on (a.user_id) a.user_id, a.department, a.seq
        from moved m cross join lateral (select a.user_id, a.department, a.seq from audit_log a
            where a.lane = m.lane and a.lane_seq > m.after and a.lane_seq <= m.head
              and a.department ~ '^[0-9]{6}-') as a
        order by a.user_id, a.seq desc),
    homes as (
        insert into audit_user_homes (user_id, department, seq) select user_id, department, seq from latest
        on conflict (user_id) do update set department = excluded.department, seq = excluded.seq
        where audit_user_homes.seq < excluded.seq)
    insert into audit_user_home_lanes (lane, lane_seq) select lane, head from moved where head > after
    on conflict (lane) do update set lane_seq = excluded.lane_seq
    where audit_user_home_lanes.lane_seq < excluded.lane_seq"""

# The table's answer and the records past its coverage in every lane, the newest of them. Lateral, so that
# each lane is a range of the (lane, lane_seq) index: as a plain join the planner scanned the whole trail
# (500,000 records: 364 ms; lateral 0.37 ms, the old walk by seq for a user not in the trail 1.4 s).
SELECT_HOME: Final = """select department from (
        select department, seq from audit_user_homes where user_id = $1
        union all
        select a.department, a.seq from generate_series(0, $2::integer - 1) as l(lane)
        left join audit_user_home_lanes p on p.lane = l.lane
        cross join lateral (select a.department, a.seq from audit_log a
            where a.lane = l.lane and a.lane_seq > coalesce(p.lane_seq, 0) and a.user_id = $1
              and a.department ~ '^[0-9]{6}-'
            order by a.lane_seq desc limit 1) as a) as found
    order by seq desc limit 1"""


async def record_homes(trail: AuditTrail, heads: dict[int, Head]) -> None:
    """Bring audit_user_homes up to ``heads`` (the lanes a checkpoint round anchors)."""
    lanes = sorted(heads)
    await trail.pools.fetch(trail.database, "audit.homes", RECORD_HOMES, lanes, [heads[lane].seq for lane in lanes])


async def home_department(pools: NodePools, region: str, user: str) -> str | None:
    """The department the API last served ``user`` for, or None."""
    rows = await pools.fetch(region, "cli.last_department", SELECT_HOME, user, LANES)
    return str(rows[0]["department"]) if rows else None
