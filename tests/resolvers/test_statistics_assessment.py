"""Assessment scores recomputed here from the rows (catalog, share requests, audit trail) with the README's
formula, their statement count, and who may see which department's score."""

from __future__ import annotations

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

NODE = "650100"
PROVIDER = "650100-GA"
WEIGHTS = {"names": 20, "legal_basis": 10, "sharing": 20, "timeliness": 20, "requests": 20, "use": 10}
QUERY = """query($d: [String!], $n: [String!]) { assessment(departments: $d, nodes: $n) {
  rows { department node score parts { name weight ratio points detail } } unavailableNodes } }"""


@pytest.fixture(scope="module")
async def answered(cluster: Cluster) -> AsyncIterator[None]:
    """Share requests to PROVIDER: one answered in time, one answered late, one pending past its deadline."""
    now = datetime.now(UTC)
    today = china_date(now)
    conn = await cluster.connect("650000")
    ids = []
    try:
        for state, submitted, decided, due in [("approved", 30, 28, None), ("rejected", 60, 20, None),
                                               ("submitted", 40, None, -3)]:
            ids.append(await conn.fetchval(
                """insert into share_requests (applicant_department, applicant_user, resource_code, provider_code,
                   items, purpose, scenario, users, share_modes, requested_until, basis, state, submitted_at, due_on,
                   decided_at, decision_reason, decision_grounds) values ('650200-JY', 'a', '650100-D97-000001', $1,
                   array['x'], 'p', 's', array['u'], array['interface'], $2, 'b', $3, $4, $5, $6,
                   case when $3 = 'rejected' then 'r' end, case when $3 = 'rejected' then 'g' end) returning id""",
                PROVIDER, today + timedelta(days=100), state, now - timedelta(days=submitted),
                None if due is None else today + timedelta(days=due),
                None if decided is None else now - timedelta(days=decided)))
    finally:
        await conn.close()
    yield
    conn = await cluster.connect("650000")
    try:
        await conn.execute("delete from share_requests where id = any($1::bigint[])", ids)
    finally:
        await conn.close()


def _ratio(good: float, total: float) -> float | None:
    return None if total == 0 else max(0.0, min(1.0, good / total))


async def _expected(cluster: Cluster) -> dict[str, dict[str, float | None]]:
    """Every department of NODE with figures: each part's ratio and the score, computed from the rows."""
    now = datetime.now(UTC)
    calendar = WorkCalendar()
    figures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    conn = await cluster.connect(NODE)
    try:
        for r in await conn.fetch("select code, provider_code, name_ug, name_kk from resources "
                                  "where status = 'published' and node_code = $1", NODE):
            f = figures[r["provider_code"]]
            f["resources"] += 1
            f["missing"] += (not (r["name_ug"] or "").strip()) + (not (r["name_kk"] or "").strip())
            for i in await conn.fetch("select share_class, legal_basis from data_items where resource_code = $1",
                                      r["code"]):
                f["items"] += 1
                f["shared"] += i["share_class"] != "NOT_SHARED"
                f["not_shared"] += i["share_class"] == "NOT_SHARED"
                f["no_basis"] += i["share_class"] == "NOT_SHARED" and not (i["legal_basis"] or "").strip()
            f["late"] += await conn.fetchval("select count(*) from catalog_duty_changes where code = $1 and "
                                             "fulfilled_at is null and due_on < $2", r["code"], china_date(now))
        # (no resource of this node has a data table in the demo: nothing can be stale here)
        assert await conn.fetchval("select count(*) from resources where node_code = $1 and data_table is not null "
                                   "and status = 'published'", NODE) == 0
    finally:
        await conn.close()
    region = await cluster.connect("650000")
    try:
        for r in await region.fetch("select provider_code, state, submitted_at, decided_at, due_on from share_requests "
                                    "where left(resource_code, 6) = $1 and submitted_at >= $2",
                                    NODE, now - timedelta(days=365)):
            f = figures[r["provider_code"]]
            if r["state"] in ("approved", "partially_approved", "rejected"):
                f["due"] += 1
                days = calendar.between(china_date(r["submitted_at"]), china_date(r["decided_at"]))
                f["on_time"] += days <= 10
            elif r["state"] == "submitted" and r["due_on"] < china_date(now):
                f["due"] += 1
        for r in await region.fetch("select department, outcome from audit_log where action in ('read', 'verify') "
                                    "and at >= $1 and left(department, 6) = $2", now - timedelta(days=365), NODE):
            figures[r["department"]]["queries"] += 1
            figures[r["department"]]["refused"] += r["outcome"] == "refused"
    finally:
        await region.close()
    out: dict[str, dict[str, float | None]] = {}
    for department, f in figures.items():
        ratios = {"names": _ratio(2 * f["resources"] - f["missing"], 2 * f["resources"]),
                  "legal_basis": _ratio(f["not_shared"] - f["no_basis"], f["not_shared"]),
                  "sharing": _ratio(f["shared"], f["items"]),
                  "timeliness": _ratio(f["resources"] - f["late"], f["resources"]),
                  "requests": _ratio(f["on_time"], f["due"]),
                  "use": _ratio(f["queries"] - f["refused"], f["queries"])}
        applying = {k: v for k, v in ratios.items() if v is not None}
        score = round(100 * sum(WEIGHTS[k] * v for k, v in applying.items()) /
                      sum(WEIGHTS[k] for k in applying), 1) if applying else None
        out[department] = {**ratios, "score": score}
    return out


async def test_scores_follow_the_formula(client: httpx.AsyncClient, cluster: Cluster, answered: None) -> None:
    # one refused query of the consumer (a filter on an item it may not read)
    await gql(client, '{ population(first: 1, filter: {phone: {eq: "1"}}) { nodes { name } } }',
              **as_user("developer.urumqi"))
    body, response = await gql(client, QUERY, {"d": None, "n": [NODE]}, **as_user("supervisor.region"))
    assert "errors" not in body, body
    # catalog counts on the node's database, request and use counts on the region's, the audit record
    assert response.headers["X-Govshare-Statements"] == "4"
    expected = await _expected(cluster)
    rows = {r["department"]: r for r in body["data"]["assessment"]["rows"]}
    assert set(rows) == set(expected)
    for department, row in rows.items():
        want = expected[department]
        assert row["score"] == want["score"], (department, row, want)
        for part in row["parts"]:
            assert part["ratio"] == (None if want[part["name"]] is None else pytest.approx(want[part["name"]],
                                                                                         abs=1e-4)), (department, part)
            assert part["weight"] == WEIGHTS[part["name"]]
    provider = {p["name"]: p for p in rows[PROVIDER]["parts"]}
    # answered in time 1, answered late 1 (40 calendar days), pending past the deadline 1
    assert provider["requests"]["ratio"] == pytest.approx(1 / 3, abs=1e-4)
    assert "1 of 3 share requests" in provider["requests"]["detail"]
    consumer = {p["name"]: p for p in rows["650100-MZ"]["parts"]}
    assert consumer["use"]["ratio"] is not None and consumer["use"]["ratio"] < 1


@pytest.mark.parametrize(("user", "departments", "nodes", "sees"), [
    ("supervisor.region", None, None, "all"),
    ("admin.region", ["650100-MZ"], None, {"650100-MZ"}),
    ("admin.urumqi", None, None, "650100"),
    ("admin.urumqi", None, ["650000"], None),
    ("developer.urumqi", None, None, {"650100-MZ"}),          # its own department, without any role
    ("developer.urumqi", ["650100-MZ"], ["650100"], {"650100-MZ"}),
    ("developer.urumqi", ["650100-GA"], None, None),           # another department's score: refused
    ("developer.urumqi", None, ["650000"], None),
    ("reviewer.region", None, None, {"650000-GA"}),
])
async def test_who_sees_which_scores(client: httpx.AsyncClient, user: str, departments: list[str] | None,
                                     nodes: list[str] | None, sees: Any) -> None:
    body, _ = await gql(client, QUERY, {"d": departments, "n": nodes}, **as_user(user))
    if sees is None:
        assert body["data"] == {"assessment": None}
        [error] = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN" and error["extensions"]["action"] == "stats.read"
        assert "score" not in error["message"].lower() or "650100-GA" not in error["message"]
        return
    assert "errors" not in body, body
    seen = {r["department"] for r in body["data"]["assessment"]["rows"]}
    if sees == "all":
        assert {d[:6] for d in seen} >= {"650000", "650100", "650200"}
    elif sees == "650100":
        assert seen and {d[:6] for d in seen} == {"650100"}
    else:
        assert seen == sees


@pytest.mark.parametrize("arguments", ['since: "2003-06-01T00:00:00+08:00", until: "2004-06-01T00:00:00+08:00"',
                                       'until: "2004-06-01T00:00:00+08:00"',  # since: a year before, 2003
                                       'since: "1800-01-01T00:00:00Z"'])
async def test_a_period_before_2004_says_no_earlier_than_2004(client: httpx.AsyncClient, arguments: str) -> None:
    """Working days are known from 2004 (chinese-calendar): an earlier period is refused as such, not as a
    missing calendar of that year (CALENDAR_NOT_CONFIGURED, closing7 "Left")."""
    body, response = await gql(client, "{ assessment(" + arguments + ") { rows { department } } }",
                               **as_user("reviewer.region"))
    assert body["data"] == {"assessment": None}, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "since", "earliest": "2004-01-01"}, error
    assert "no earlier than 2004-01-01" in error["message"] and "calendar" not in error["message"], error
    assert response.headers.get("X-Govshare-Statements") in (None, "0"), response.headers


async def test_a_period_from_2004_is_answered(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, '{ assessment(since: "2004-01-01T00:00:00+08:00") { rows { department } } }',
                        **as_user("reviewer.region"))
    assert "errors" not in body, body
