"""Grants through GraphQL and `govshare grant`: one validation (field named, accepted values), permitted
and refused callers, calendar days in China Standard Time, effective state and filters in the list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from govshare.core.errors import BadRequest
from govshare.resolvers.validation import CST, latest_until, validity

from ..admin_helpers import as_user, run_govshare
from ..conftest import Cluster
from ..helpers import GRANT_UNTIL, gql, token

POPULATION = "650000-B01-000001"
CREATE = """mutation($g: GrantCreateInput!, $reason: String!) {
  createGrant(grant: $g, reason: $reason) { grant { id department items validFrom validUntil state divisions }
  change { id kind operation after } } }"""
REVOKE = """mutation($id: Int!) { revokeGrant(id: $id, reason: "done") { grant { state revokeReason } change { operation } } }"""
GRANTS = """query($d: String, $r: String, $s: GrantEffectiveState) { grants(department: $d, resource: $r, state: $s) {
  id state department } }"""


def _grant(**change: Any) -> dict[str, Any]:
    return {"department": "650200-CA-MZ", "resource": POPULATION, "items": ["phone"], "purpose": "低保复核",
            "until": GRANT_UNTIL, **change}


def test_until_includes_its_whole_day_in_china_standard_time() -> None:
    now = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # 01:00 on 28 November in CST
    start, end = validity(None, "2026-11-28", now)
    assert start == datetime(2026, 11, 28, 0, 0, tzinfo=CST) and end == datetime(2026, 11, 29, 0, 0, tzinfo=CST)
    assert end - timedelta(microseconds=1) >= datetime(2026, 11, 28, 23, 59, 59, tzinfo=CST)


async def test_create_use_list_and_revoke(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, CREATE, {"g": _grant(divisions=["650200"]), "reason": "复核"},
                        **as_user("admin.region"))
    created = body["data"]["createGrant"]
    grant_id = created["grant"]["id"]
    assert created["grant"]["state"] == "ACTIVE" and created["grant"]["divisions"] == ["650200"]
    assert created["grant"]["validUntil"] == f"{GRANT_UNTIL}T16:00:00+00:00"  # 00:00 CST of the next day
    assert created["change"]["after"]["id"] == grant_id
    headers = {"Authorization": f"Bearer {token('650200-CA-MZ')}"}
    data, _ = await gql(client, '{ population(first: 3, purpose: "低保复核") { rowScope nodes { phone } } }',
                        **headers)
    assert "errors" not in data and data["data"]["population"]["rowScope"] == ["650200"]
    listed, _ = await gql(client, GRANTS, {"d": "650200-CA-MZ", "s": "ACTIVE"}, **as_user("supervisor.region"))
    assert grant_id in [g["id"] for g in listed["data"]["grants"]]
    body, _ = await gql(client, REVOKE, {"id": grant_id}, **as_user("admin.region"))
    assert body["data"]["revokeGrant"]["grant"]["state"] == "REVOKED"
    listed, _ = await gql(client, GRANTS, {"d": "650200-CA-MZ", "s": "ACTIVE"}, **as_user("supervisor.region"))
    assert grant_id not in [g["id"] for g in listed["data"]["grants"]]
    # a department sees its own grants without any role
    own, _ = await gql(client, GRANTS, {"d": "650200-CA-MZ"}, **as_user("someone", "650200-CA-MZ"))
    assert grant_id in [g["id"] for g in own["data"]["grants"]]
    other, _ = await gql(client, GRANTS, {"d": "650100-MZ"}, **as_user("someone", "650200-CA-MZ"))
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_refused_callers(client: httpx.AsyncClient) -> None:
    for caller in ("admin.urumqi", "developer.urumqi", "supervisor.region", "registrar.region"):
        body, _ = await gql(client, CREATE, {"g": _grant(), "reason": "r"}, **as_user(caller))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", caller
    body, _ = await gql(client, CREATE, {"g": _grant(), "reason": "reviewer"}, **as_user("reviewer.region"))
    assert body["data"]["createGrant"]["grant"]["state"] == "ACTIVE"
    grant_id = body["data"]["createGrant"]["grant"]["id"]
    body, _ = await gql(client, REVOKE, {"id": grant_id}, **as_user("admin.urumqi"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body, _ = await gql(client, REVOKE, {"id": grant_id}, **as_user("reviewer.region"))
    assert body["data"]["revokeGrant"]["change"]["operation"] == "revoke"


async def test_validation(client: httpx.AsyncClient) -> None:
    today = datetime.now(CST).date()
    cases = [
        ({"department": "650200-XX"}, "department", None),
        ({"resource": "650000-B01-999999"}, "resource", None),
        ({"items": ["phnoe"]}, "items", "phone"),
        ({"items": ["biometric_template_id"]}, "items", None),
        ({"items": ["name"]}, "items", None),
        ({"divisions": ["659999"]}, "divisions", "650100"),
        ({"until": str(today - timedelta(days=1))}, "until", None),
        ({"validFrom": "2099-06-01", "until": "2099-05-01"}, "until", None),
        ({"purpose": "  "}, "purpose", None),
    ]
    for change, field, accepted in cases:
        body, _ = await gql(client, CREATE, {"g": _grant(**change), "reason": "r"}, **as_user("admin.region"))
        error = body["errors"][0]["extensions"]
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", field), (change, body)
        if accepted:
            assert accepted in error["accepted"]
    body, _ = await gql(client, CREATE, {"g": _grant(items=["biometric_template_id"]), "reason": "r"},
                        **as_user("admin.region"))
    assert "NOT_SHARED" in body["errors"][0]["message"] and "《" in body["errors"][0]["message"]


async def test_cli_validates_and_lists_effective_state(cluster: Cluster) -> None:
    base = ["grant", "create", "--resource", POPULATION, "--purpose", "测试", "--until", GRANT_UNTIL, "--reason", "r"]
    bad = [
        (["--department", "650200-XX", "--items", "phone"], "unknown department '650200-XX'"),
        (["--department", "650200-GA", "--items", "phnoe"], "has no item 'phnoe'; its items: citizen_id"),
        (["--department", "650200-GA", "--items", "biometric_template_id"], "is NOT_SHARED"),
        (["--department", "650200-GA", "--items", "phone", "--divisions", "659999"], "unknown division code(s): 659999"),
        (["--department", "650200-GA", "--items", "phone", "--from", "2099-02-01"], "is before from"),
    ]
    for extra, message in bad:
        done = await run_govshare(cluster, *base, *extra)
        assert done.returncode == 2 and message in done.stderr, (extra, done.stderr)
        assert "Traceback" not in done.stderr
    expired_conn = await cluster.connect("650000")
    try:
        expired = await expired_conn.fetchval(
            """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
               created_by) values ('650200-GA', $1, '{phone}', '过期', now() - interval '9 days',
               now() - interval '1 day', 'test') returning id""", POPULATION)
    finally:
        await expired_conn.close()
    listing = await run_govshare(cluster, "grant", "list", "--department", "650200-GA")
    assert listing.returncode == 0 and "None" not in listing.stdout
    line = next(x for x in listing.stdout.splitlines() if x.split()[0] == str(expired))
    assert line.split()[1] == "expired" and "scope=all rows" in line
    only_active = await run_govshare(cluster, "grant", "list", "--state", "active", "--resource", POPULATION)
    assert str(expired) not in [x.split()[0] for x in only_active.stdout.splitlines()]
    assert all(x.split()[1] == "active" for x in only_active.stdout.splitlines())


def test_a_grant_starts_today_or_later_and_ends_within_five_years() -> None:
    """Our choice (resolvers/validation.py MAX_VALIDITY_YEARS): no backdated grant, none past 5 years; days
    outside core/dates.py's range are refused before any date arithmetic (trial-s7 F1: OverflowError)."""
    now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 on 28 November in CST
    start, end = validity("2026-11-28", "2031-11-28", now)  # the last day allowed
    assert (start, end) == (datetime(2026, 11, 28, tzinfo=CST), datetime(2031, 11, 29, tzinfo=CST))
    refused = [
        ("2026-11-27", "2027-01-01", "from", "cannot be backdated"),
        ("0001-01-01", "2027-01-01", "from", "between 1800-01-01 and 2999-12-31"),
        (None, "2031-11-29", "until", "a grant may last until 2031-11-28 at the latest"),
        (None, "9999-12-31", "until", "between 1800-01-01 and 2999-12-31"),
        ("2027-01-01", "2999-12-31", "until", "more than 5 years away"),
    ]
    for valid_from, until, field, message in refused:
        with pytest.raises(BadRequest) as raised:
            validity(valid_from, until, now)
        assert raised.value.extensions["field"] == field and message in raised.value.message, raised.value.message
    # 29 February: five years on is the 28th
    assert latest_until(date(2028, 2, 29)) == date(2033, 2, 28)
    assert validity(None, "2033-02-28", datetime(2028, 2, 29, 4, tzinfo=UTC))[1] == datetime(2033, 3, 1, tzinfo=CST)


async def test_a_grant_beyond_five_years_or_backdated_is_bad_input(client: httpx.AsyncClient) -> None:
    today = datetime.now(CST).date()
    for change, field in (({"until": latest_until(today + timedelta(days=2)).isoformat()}, "until"),
                          ({"validFrom": (today - timedelta(days=2)).isoformat()}, "from")):
        body, _ = await gql(client, CREATE, {"g": _grant(**change), "reason": "r"}, **as_user("admin.region"))
        [error] = body["errors"]
        assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT", field), body


async def test_cli_far_days_exit_2_with_one_line(cluster: Cluster) -> None:
    """trial-s7 F1: --until 9999-12-31 was an OverflowError traceback (exit 1), --from 0001-01-01 asyncpg's."""
    base = ["grant", "create", "--department", "650200-GA", "--resource", POPULATION, "--items", "phone",
            "--purpose", "测试", "--reason", "r"]
    for extra, message in ((["--until", "9999-12-31"], "until 9999-12-31: it must lie between 1800-01-01 and 2999-12-31"),
                           (["--until", GRANT_UNTIL, "--from", "0001-01-01"], "from 0001-01-01: it must lie between"),
                           (["--until", "2999-12-31"], "more than 5 years away")):
        done = await run_govshare(cluster, *base, *extra)
        assert done.returncode == 2, (extra, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (extra, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
