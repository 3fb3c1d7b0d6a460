"""Share-request statistics checked against figures computed here from the rows themselves (states,
deadlines, working days counted with the service's calendar in Python), with statement counts and the
callers allowed and refused."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from govshare.policies.workdays import WorkCalendar, china_date

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql

CONSUMER = "650200-STATS"  # a department of its own, so the rows are easy to pick out
# (state, resource, days ago submitted, days ago decided or None, due in days from today or None)
ROWS: list[tuple[str, str, int, int | None, int | None]] = [
    ("approved", "650100-D99-000001", 40, 30, None),
    ("approved", "650100-D99-000001", 60, 59, None),
    ("partially_approved", "650100-D99-000001", 50, 20, None),
    ("rejected", "650100-D99-000001", 35, 34, None),
    ("rejected", "650000-D99-000002", 90, 50, None),
    ("withdrawn", "650000-D99-000002", 20, None, None),
    ("submitted", "650000-D99-000002", 30, None, -5),   # overdue
    ("submitted", "650100-D99-000001", 2, None, 8),     # pending, not overdue
    ("info_requested", "650100-D99-000001", 25, None, None),
    ("approved", "650100-D99-000001", 400, 390, None),  # outside the default period
]
BY_NODE_AND_CONSUMER = """{ requestStatistics(groupBy: [NODE, CONSUMER]) {
  rows { node consumer provider month received approved partlyApproved rejected withdrawn pending overdue replied
         repliedLate medianReplyWorkingDays p90ReplyWorkingDays } unavailableNodes } }"""


@pytest.fixture(scope="module")
async def requests(cluster: Cluster) -> AsyncIterator[list[int]]:
    now = datetime.now(UTC)
    today = china_date(now)
    conn = await cluster.connect("650000")
    ids: list[int] = []
    try:
        for state, resource, submitted, decided, due in ROWS:
            ids.append(await conn.fetchval(
                """insert into share_requests (applicant_department, applicant_user, resource_code, provider_code,
                   items, purpose, scenario, users, share_modes, requested_until, basis, state, submitted_at,
                   due_on, decided_at, decided_by, decision_reason, decision_grounds)
                   values ($1, 'stats.test', $2, $3, array['phone'], 'p', 's', array['u'], array['interface'],
                           $4, 'b', $5, $6, $7, $8, case when $8::timestamptz is null then null else 'r' end,
                           case when $5 = 'rejected' then 'no' end, case when $5 = 'rejected' then 'law' end)
                   returning id""",
                CONSUMER, resource, resource[:6] + "-GA", today + timedelta(days=300), state,
                now - timedelta(days=submitted, hours=3), None if due is None else today + timedelta(days=due),
                None if decided is None else now - timedelta(days=decided)))
    finally:
        await conn.close()
    yield ids
    conn = await cluster.connect("650000")
    try:
        await conn.execute("delete from share_requests where id = any($1::bigint[])", ids)
    finally:
        await conn.close()


def _percentile(values: list[int], q: float) -> float | None:
    """Linear interpolation between closest ranks (what percentile_cont computes)."""
    if not values:
        return None
    xs = sorted(values)
    position = q * (len(xs) - 1)
    low, high = math.floor(position), math.ceil(position)
    return xs[low] + (xs[high] - xs[low]) * (position - low)


async def _expected(cluster: Cluster, since: datetime) -> dict[tuple[str, str], dict[str, Any]]:
    """Every request in the region database, grouped by (node, consumer), counted here."""
    calendar = WorkCalendar()
    today = china_date(datetime.now(UTC))
    conn = await cluster.connect("650000")
    try:
        rows = await conn.fetch("select resource_code, applicant_department, state, submitted_at, decided_at, due_on "
                                "from share_requests where submitted_at >= $1", since)
    finally:
        await conn.close()
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    replies: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in rows:
        g = groups[(r["resource_code"][:6], r["applicant_department"])]
        g["received"] += 1
        state = r["state"]
        key = {"approved": "approved", "partially_approved": "partlyApproved", "rejected": "rejected",
               "withdrawn": "withdrawn"}.get(state, "pending")
        g[key] += 1
        if state == "submitted" and r["due_on"] < today:
            g["overdue"] += 1
        if state in ("approved", "partially_approved", "rejected"):
            days = calendar.between(china_date(r["submitted_at"]), china_date(r["decided_at"]))
            replies[(r["resource_code"][:6], r["applicant_department"])].append(days)
            g["replied"] += 1
            g["repliedLate"] += days > 10
    for key, days_list in replies.items():
        groups[key]["median"] = _percentile(days_list, 0.5)
        groups[key]["p90"] = _percentile(days_list, 0.9)
    return groups


async def test_request_counts_and_reply_times(client: httpx.AsyncClient, cluster: Cluster,
                                              requests: list[int]) -> None:
    body, response = await gql(client, BY_NODE_AND_CONSUMER, **as_user("supervisor.region"))
    assert "errors" not in body, body
    stats = body["data"]["requestStatistics"]
    assert stats["unavailableNodes"] == []
    # one aggregate statement on the region database, where share requests live
    assert response.headers["X-Govshare-Statements"] == "1"
    expected = await _expected(cluster, datetime.now(UTC) - timedelta(days=365))
    got = {(r["node"], r["consumer"]): r for r in stats["rows"]}
    assert set(got) == set(expected)
    for key, row in got.items():
        want = expected[key]
        for measure in ("received", "approved", "partlyApproved", "rejected", "withdrawn", "pending", "overdue",
                        "replied", "repliedLate"):
            assert row[measure] == want[measure], (key, measure, row)
        assert row["medianReplyWorkingDays"] == pytest.approx(want["median"]) if want["median"] is not None \
            else row["medianReplyWorkingDays"] is None
        assert row["p90ReplyWorkingDays"] == pytest.approx(want["p90"]) if want["p90"] is not None \
            else row["p90ReplyWorkingDays"] is None
    # the rows inserted here, by hand: 650100 has 3 decided + 2 pending in the period, 650000 one overdue
    mine = got[("650100", CONSUMER)]
    assert (mine["received"], mine["approved"], mine["partlyApproved"], mine["rejected"], mine["pending"],
            mine["overdue"]) == (6, 2, 1, 1, 2, 0)
    other = got[("650000", CONSUMER)]
    assert (other["received"], other["rejected"], other["withdrawn"], other["pending"], other["overdue"]) == \
        (3, 1, 1, 1, 1)
    # reply times are working days: 60 -> 59 days ago is at most one working day, never a calendar span
    assert mine["medianReplyWorkingDays"] is not None and mine["medianReplyWorkingDays"] < 20


async def test_grouped_by_month_and_provider(client: httpx.AsyncClient, requests: list[int]) -> None:
    body, _ = await gql(client, '{ requestStatistics(groupBy: [MONTH, PROVIDER], nodes: ["650100"]) '
                                '{ rows { month provider node received } } }', **as_user("supervisor.region"))
    rows = body["data"]["requestStatistics"]["rows"]
    assert rows and all(r["node"] is None and len(r["month"]) == 7 for r in rows)
    assert {r["provider"] for r in rows} >= {"650100-GA"}
    # a longer period takes in the old request as well
    since = (datetime.now(UTC) - timedelta(days=500)).isoformat()
    body2, _ = await gql(client, 'query($s: DateTime) { requestStatistics(groupBy: [CONSUMER], since: $s, '
                                 'nodes: ["650100"]) { rows { consumer received } } }', {"s": since},
                         **as_user("supervisor.region"))
    counts = {r["consumer"]: r["received"] for r in body2["data"]["requestStatistics"]["rows"]}
    assert counts[CONSUMER] == 7


@pytest.mark.parametrize(("user", "nodes", "allowed"), [
    ("supervisor.region", None, {"650000", "650100"}),
    ("admin.region", None, {"650000", "650100"}),
    ("admin.urumqi", None, {"650100"}),
    ("admin.urumqi", ["650100"], {"650100"}),
    ("admin.urumqi", ["650000"], None),
    ("reviewer.region", None, None),
    ("registrar.region", None, None),
    ("developer.urumqi", None, None),
])
async def test_who_may_read_request_statistics(client: httpx.AsyncClient, requests: list[int], user: str,
                                               nodes: list[str] | None, allowed: set[str] | None) -> None:
    body, _ = await gql(client, "query($n: [String!]) { requestStatistics(groupBy: [NODE], nodes: $n) "
                                "{ rows { node received } } }", {"n": nodes}, **as_user(user))
    if allowed is None:
        assert body["data"] == {"requestStatistics": None}
        [error] = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "received" not in str(error)
        return
    assert "errors" not in body, body
    seen = {r["node"] for r in body["data"]["requestStatistics"]["rows"]}
    assert allowed <= seen if user != "admin.urumqi" else seen == allowed


async def test_bad_request_arguments(client: httpx.AsyncClient) -> None:
    cases = [
        '{ requestStatistics(groupBy: [NODE, NODE]) { rows { node } } }',
        '{ requestStatistics(groupBy: [NODE], nodes: ["659999"]) { rows { node } } }',
        '{ requestStatistics(groupBy: [NODE], since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z") '
        '{ rows { node } } }',
        '{ requestStatistics(groupBy: [NODE], since: "2010-01-01T00:00:00Z") { rows { node } } }',
    ]
    for query in cases:
        body, _ = await gql(client, query, **as_user("supervisor.region"))
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (query, body)


async def test_region_down_costs_every_node(client: httpx.AsyncClient, cluster: Cluster) -> None:
    cluster.stop("650000")
    try:
        body, _ = await gql(client, '{ requestStatistics(groupBy: [NODE]) { rows { node } unavailableNodes } }',
                            **as_user("supervisor.region"))
    finally:
        cluster.start("650000")
    stats = body["data"]["requestStatistics"]
    assert stats["rows"] == []
    assert set(stats["unavailableNodes"]) == {n.code for n in cluster.topology.nodes}
