"""The demo grants, made through the one grant validation (resolvers/validation.py) and stored by the same
statement as grants made over GraphQL or with ``govshare grant create`` (resolvers/grants.py): validity in
whole calendar days of China Standard Time, items in the validator's order, share modes the resource offers.

They are written once every database is seeded (validation reads the grantee's department from its own
node's database) and only into a region database that holds no grant made by the seed, in one transaction
that locks the table first (two seeds at once write them once).
Demo data records no policy change: no administrator made these grants (nor an audit record, which needs the
service's audit key, unknown to the seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import cast

import asyncpg

from govshare.federation.nodes import NodePools
from govshare.federation.topology import Topology
from govshare.resolvers import grants, validation

SEEDED_BY = "seed"
SELECT_SEEDED = "select exists (select 1 from grants where created_by = $1)"
# Two seeds at once (two `govshare seed` or `./dev demo` started together) would both find no seeded grant
# and both write them. SHARE ROW EXCLUSIVE conflicts with itself and with the inserts of any other grant
# write, so the check and the writes are one step; held until the seed's transaction ends (milliseconds).
# A table lock rather than an advisory lock: any login can take an advisory lock (and hold it), only one
# allowed to lock `grants` can take this.
LOCK_GRANTS = "lock table grants in share row exclusive mode"
POPULATION = "650000-B01-000001"


@dataclass(frozen=True)
class DemoGrant:
    department: str
    resource: str
    items: tuple[str, ...]
    purpose: str
    first_day: int  # days from today (China Standard Time), negative in the past
    last_day: int
    divisions: tuple[str, ...] | None = None
    modes: tuple[str, ...] = ("interface",)
    revoked: str | None = None  # the reason, for a grant revoked since


# In id order (tests and the README name them by id): 1-2 active, 3 expired yesterday, 4 revoked,
# 5 active (legal entities), 6 Urumqi's bulk grant (data exchange and authorised database access). Every
# grantee is a department of the tests' nodes too (grant 4's was 653100-GA, a node they lack, which the
# validation refuses as it would anyone's), so the ids are the same there.
DEMO_GRANTS = (
    DemoGrant("650100-MZ", POPULATION, ("citizen_id", "birth_date", "address", "ethnicity", "phone"),
              "最低生活保障资格审核", -30, 365, divisions=("650100",)),
    DemoGrant("650000-RS", POPULATION, ("citizen_id", "birth_date", "ethnicity", "address", "phone"),
              "社会保险参保资格核验", -30, 365),
    DemoGrant("650200-MZ", POPULATION, ("citizen_id", "birth_date"), "最低生活保障资格审核", -730, -1),
    DemoGrant("653000-GA", POPULATION, ("citizen_id", "address"), "治安管理", -365, 365,
              revoked="使用部门超出申请用途使用数据"),
    DemoGrant("650000-SW", "650000-B02-000001", ("legal_rep_citizen_id",), "纳税人身份核验", -10, 365),
    DemoGrant("650100-MZ", POPULATION, ("citizen_id", "birth_date"), "低保对象年度复核", -30, 365,
              modes=("exchange", "database")),
)


def demo_grants(topology: Topology) -> list[DemoGrant]:
    """The demo grants a topology can hold: a smaller one (the tests') lacks some grantees' nodes, and a
    grant to a department no node serves is refused like any other (the ids after it move up)."""
    return [g for g in DEMO_GRANTS if g.department[:6] in topology.by_code and g.resource[:6] in topology.by_code]


async def seed_grants(pools: NodePools, now: datetime | None = None) -> int:
    """Write the demo grants into the region database unless the seed already did; how many were written."""
    region = pools.topology.region.code
    if (await pools.fetch(region, "seed.grants", SELECT_SEEDED, SEEDED_BY))[0][0]:
        return 0  # a later start of the demo: nothing to check (nor any other database to ask)
    moment = now or datetime.now(UTC)
    today = moment.astimezone(validation.CST).date()
    checked = []
    for demo in demo_grants(pools.topology):
        first, last = today + timedelta(days=demo.first_day), today + timedelta(days=demo.last_day)
        given = validation.GrantInput(demo.department, demo.resource, list(demo.items), demo.purpose, last, first,
                                      list(demo.divisions) if demo.divisions is not None else None, demo.modes)
        # A grant that started before today is checked as on its first day, when it was made (a grant made
        # today may not start in the past).
        checked.append((demo, await validation.grant(pools, given, now=_start(first) if first < today else moment)))
    async with pools.pool(region).acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)  # a pool's connection proxy behaves as a Connection
        await conn.execute(LOCK_GRANTS)
        if await conn.fetchval(SELECT_SEEDED, SEEDED_BY):  # another seed was quicker
            return 0
        for demo, grant in checked:
            grant_id = await grants.store(conn, grant, SEEDED_BY)
            if demo.revoked is not None:
                await grants.mark_revoked(conn, grant_id, demo.revoked, SEEDED_BY)
    return len(checked)


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), validation.CST)
