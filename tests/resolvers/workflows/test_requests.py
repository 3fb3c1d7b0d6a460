"""Share requests → grants through GraphQL: what may be requested, the 10-working-day clock and its
pause, approval (whole and partial) creating the grant enforcement reads on the very next request,
expiry and revocation likewise, rejection grounds, withdrawal, overdue listing, roles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from govshare.policies.workdays import WorkCalendar, china_date
from govshare.resolvers.validation import CST, clipped_until, latest_until, validity

from ...conftest import Cluster
from .conftest import call, code_of

pytestmark = pytest.mark.usefixtures("actors")

POPULATION = "650000-B01-000001"
FIELDS = """id state revision dueOn remainingWorkingDays overdue items approvedItems approvedUntil grantId
    decisionReason decisionGrounds history { actor action fromState toState note }"""
SUBMIT = f"""mutation($items: [String!]!, $purpose: String!, $until: Date!, $modes: [ShareMode!]! = [INTERFACE]) {{
  submitShareRequest(resourceCode: "{POPULATION}", items: $items, purpose: $purpose, scenario: "最低生活保障资格审核",
    users: ["低保审核系统"], shareModes: $modes, until: $until, basis: "《社会救助暂行办法》第十一条") {{ {FIELDS} }} }}"""
APPROVE = f"""mutation($id: Int!, $revision: Int!, $items: [String!], $until: Date, $divisions: [String!]) {{
  approveShareRequest(id: $id, revision: $revision, items: $items, until: $until, divisions: $divisions,
    opinion: "同意") {{ {FIELDS} }} }}"""
REJECT = f"""mutation($id: Int!, $revision: Int!, $reason: String!, $grounds: String!) {{
  rejectShareRequest(id: $id, revision: $revision, reason: $reason, grounds: $grounds) {{ {FIELDS} }} }}"""
ASK = f"""mutation($id: Int!, $revision: Int!) {{
  askShareRequestInformation(id: $id, revision: $revision, question: "请说明使用范围") {{ {FIELDS} }} }}"""
ANSWER = f"""mutation($id: Int!, $revision: Int!) {{
  answerShareRequest(id: $id, revision: $revision, answer: "仅用于本市低保审核") {{ {FIELDS} }} }}"""
WITHDRAW = f"""mutation($id: Int!, $revision: Int!) {{
  withdrawShareRequest(id: $id, revision: $revision) {{ {FIELDS} }} }}"""
ONE = f"query($id: Int!) {{ shareRequest(id: $id) {{ {FIELDS} }} }}"
DATA = """query($purpose: String!) { population(first: 3, purpose: $purpose) { nodes { name birthDate address } } }"""
CALENDAR = WorkCalendar()


def later(days: int = 30) -> str:
    return (china_date(datetime.now(UTC)) + timedelta(days=days)).isoformat()


async def submitted(client: httpx.AsyncClient, purpose: str, items: list[str] | None = None,
                    user: str = "wf.applicant") -> dict[str, Any]:
    body = await call(client, user, SUBMIT, items=items or ["birth_date", "address"], purpose=purpose,
                      until=later())
    assert "errors" not in body, body
    return dict(body["data"]["submitShareRequest"])


def denied(body: dict[str, Any]) -> dict[str, str]:
    return {e["extensions"]["item"]: e["extensions"]["reason"] for e in body.get("errors") or []}


async def test_not_shared_and_unconditional_items_refused_at_request_time(client: httpx.AsyncClient) -> None:
    body = await call(client, "wf.applicant", SUBMIT, items=["birth_date", "biometric_template_id"],
                      purpose="核验", until=later())
    assert code_of(body) == "ITEM_NOT_SHARED"
    extensions = body["errors"][0]["extensions"]
    assert extensions["item"] == "biometric_template_id" and "《" in extensions["legalBasis"]
    assert extensions["legalBasis"] in body["errors"][0]["message"]
    body = await call(client, "wf.applicant", SUBMIT, items=["name"], purpose="核验", until=later())
    assert code_of(body) == "NO_REQUEST_NEEDED"
    body = await call(client, "wf.applicant", SUBMIT, items=["shoe_size"], purpose="核验", until=later())
    assert code_of(body) == "BAD_USER_INPUT"
    body = await call(client, "wf.applicant", SUBMIT.replace(POPULATION, "650000-B02-000001"),
                      items=["legal_rep_citizen_id"], purpose="核验", until=later(), modes=["DATABASE"])
    assert code_of(body) == "BAD_USER_INPUT", "the legal-entity register does not offer database access"


async def test_approval_grants_on_the_next_request_then_expiry_and_revocation(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    purpose = "低保审核-全部批准"
    body = await call(client, "wf.applicant", DATA, purpose=purpose)
    # NO_GRANT, or PURPOSE_MISMATCH when another test's grant names another purpose
    assert set(denied(body)) == {"birth_date", "address"}
    request = await submitted(client, purpose)
    assert request["state"] == "SUBMITTED" and request["dueOn"] == CALENDAR.due(datetime.now(UTC), 10).isoformat()
    body = await call(client, "wf.applicant", APPROVE, id=request["id"], revision=1)
    assert code_of(body) == "FORBIDDEN", "the applicant cannot approve its own request"
    body = await call(client, "wf.reviewer.karamay", APPROVE, id=request["id"], revision=1)
    assert code_of(body) == "FORBIDDEN", "a reviewer of another node cannot answer"
    body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=1)
    approved = body["data"]["approveShareRequest"]
    assert approved["state"] == "APPROVED" and approved["grantId"] and approved["approvedItems"] == ["address",
                                                                                                   "birth_date"]
    # The same document again (the operation plan is cached): the grant applies on the very next request.
    body = await call(client, "wf.applicant", DATA, purpose=purpose)
    assert "errors" not in body, body
    assert all(n["birthDate"] for n in body["data"]["population"]["nodes"])
    body = await call(client, "wf.applicant", "{ myGrants { id state shareModes requestId remainingDays } }")
    held = next(g for g in body["data"]["myGrants"] if g["id"] == approved["grantId"])
    assert held == {"id": approved["grantId"], "state": "active", "shareModes": ["INTERFACE"],
                    "requestId": request["id"], "remainingDays": 31}

    conn = await cluster.connect("650000")
    try:
        change = await conn.fetchrow("select kind, operation, reason from policy_changes where kind = 'grant' "
                                     "and after->>'id' = $1", str(approved["grantId"]))
        assert tuple(change) == ("grant", "create", f"share request {request['id']} approved: 同意")
        # Expiry: the validity ends (moved into the past, as time would); the next request is denied.
        await conn.execute("update grants set valid_from = now() - interval '2 days', valid_until = now() - "
                           "interval '1 second' where id = $1", approved["grantId"])
        body = await call(client, "wf.applicant", DATA, purpose=purpose)
        assert denied(body) == {"birth_date": "GRANT_EXPIRED", "address": "GRANT_EXPIRED"}
        await conn.execute("update grants set valid_until = now() + interval '2 days' where id = $1",
                           approved["grantId"])
        body = await call(client, "wf.applicant", DATA, purpose=purpose)
        assert "errors" not in body
    finally:
        await conn.close()
    body = await call(client, "wf.region.reviewer", """mutation($id: Int!) { revokeGrant(id: $id, reason: "misuse")
        { grant { state } } }""", id=approved["grantId"])
    assert body["data"]["revokeGrant"]["grant"]["state"] == "REVOKED"
    body = await call(client, "wf.applicant", DATA, purpose=purpose)
    assert denied(body) == {"birth_date": "GRANT_REVOKED", "address": "GRANT_REVOKED"}


async def test_partial_approval_with_shorter_validity_and_row_scope(client: httpx.AsyncClient) -> None:
    purpose = "低保审核-部分批准"
    request = await submitted(client, purpose, ["birth_date", "address", "ethnicity"])
    body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=1,
                      items=["birth_date"], until=later(60))
    assert code_of(body) == "BAD_USER_INPUT", "the validity may not be extended"
    body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=1,
                      items=["birth_date", "phone"])
    assert code_of(body) == "BAD_USER_INPUT", "only requested items can be approved"
    body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=1,
                      items=["birth_date"], until=later(5), divisions=["650100"])
    approved = body["data"]["approveShareRequest"]
    assert approved["state"] == "PARTIALLY_APPROVED" and approved["approvedUntil"] == later(5)
    body = await call(client, "wf.applicant", """query($p: String!) { population(first: 5, purpose: $p) {
        rowScope nodes { birthDate } } }""", p=purpose)
    assert denied(body) == {}
    assert body["data"]["population"]["rowScope"] and all(n["birthDate"] for n in body["data"]["population"]["nodes"])
    body = await call(client, "wf.applicant", DATA, purpose=purpose)
    assert set(denied(body)) == {"address"}, "only the approved item is granted"


async def test_rejection_needs_reason_and_grounds(client: httpx.AsyncClient) -> None:
    request = await submitted(client, "低保审核-驳回")
    body = await call(client, "wf.reviewer", REJECT, id=request["id"], revision=1, reason="不符合", grounds="依据")
    assert code_of(body) == "FORBIDDEN", "a reviewer of 650100 does not answer for the region's resources"
    body = await call(client, "wf.region.reviewer", REJECT, id=request["id"], revision=1, reason="用途不明确",
                      grounds=" ")
    assert code_of(body) == "BAD_USER_INPUT"
    body = await call(client, "wf.region.reviewer", REJECT, id=request["id"], revision=1, reason="用途不明确",
                      grounds="《政务信息资源共享管理暂行办法》第十五条")
    rejected = body["data"]["rejectShareRequest"]
    assert rejected["state"] == "REJECTED" and rejected["decisionGrounds"].startswith("《")
    body = await call(client, "wf.applicant", WITHDRAW, id=request["id"], revision=2)
    assert code_of(body) == "INVALID_TRANSITION", "no withdrawal after a decision"


async def test_information_request_pauses_the_clock(client: httpx.AsyncClient, cluster: Cluster) -> None:
    request = await submitted(client, "低保审核-补充材料")
    today = china_date(datetime.now(UTC))
    conn = await cluster.connect("650000")
    try:  # as if 7 working days had passed: 3 are left
        await conn.execute("update share_requests set due_on = $2 where id = $1", request["id"], CALENDAR.add(today, 3))
    finally:
        await conn.close()
    body = await call(client, "wf.region.reviewer", ASK, id=request["id"], revision=1)
    paused = body["data"]["askShareRequestInformation"]
    assert (paused["state"], paused["dueOn"], paused["remainingWorkingDays"]) == ("INFO_REQUESTED", None, 3)
    body = await call(client, "wf.region.reviewer", "{ shareRequests(side: PROVIDER, overdue: true) { id } }")
    assert request["id"] not in {r["id"] for r in body["data"]["shareRequests"]}, "a paused clock is never overdue"
    body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=2)
    assert code_of(body) == "INVALID_TRANSITION", "no decision while waiting for the applicant"
    body = await call(client, "wf.applicant.other", ANSWER, id=request["id"], revision=2)
    assert code_of(body) == "FORBIDDEN"
    body = await call(client, "wf.applicant", ANSWER, id=request["id"], revision=2)
    resumed = body["data"]["answerShareRequest"]
    # The clock resumes from the answer's day with the 3 working days that were left.
    assert (resumed["state"], resumed["dueOn"]) == ("SUBMITTED", CALENDAR.add(today, 3).isoformat())
    assert [h["action"] for h in resumed["history"]] == ["submit", "ask_information", "answer"]


async def test_withdraw_and_overdue_listing(client: httpx.AsyncClient, cluster: Cluster) -> None:
    late = await submitted(client, "低保审核-逾期")
    conn = await cluster.connect("650000")
    try:
        await conn.execute("update share_requests set due_on = $2 where id = $1", late["id"], date(2026, 10, 16))
    finally:
        await conn.close()
    body = await call(client, "wf.region.reviewer", "{ shareRequests(side: PROVIDER, overdue: true) { id overdue dueOn } }")
    assert {"id": late["id"], "overdue": True, "dueOn": "2026-10-16"} in body["data"]["shareRequests"]
    body = await call(client, "wf.applicant", "{ shareRequests { id overdue } }")
    assert {"id": late["id"], "overdue": True} in body["data"]["shareRequests"]
    body = await call(client, "wf.applicant", "{ shareRequests(side: PROVIDER) { id } }")
    assert code_of(body) == "FORBIDDEN"
    body = await call(client, "wf.applicant.other", WITHDRAW, id=late["id"], revision=1)
    assert code_of(body) == "FORBIDDEN"
    body = await call(client, "wf.applicant.other", ONE, id=late["id"])
    assert code_of(body) == "NOT_FOUND", "another department does not see the request"
    body = await call(client, "wf.applicant", WITHDRAW, id=late["id"], revision=1)
    assert body["data"]["withdrawShareRequest"]["state"] == "WITHDRAWN"
    body = await call(client, "wf.region.reviewer", "{ shareRequests(side: PROVIDER, overdue: true) { id } }")
    assert late["id"] not in {r["id"] for r in body["data"]["shareRequests"]}


async def test_stale_revision_conflicts(client: httpx.AsyncClient) -> None:
    request = await submitted(client, "低保审核-并发")
    body = await call(client, "wf.region.reviewer", ASK, id=request["id"], revision=1)
    assert body["data"]["askShareRequestInformation"]["revision"] == 2
    body = await call(client, "wf.region.reviewer", ASK, id=request["id"], revision=1)
    assert code_of(body) == "CONFLICT"


async def test_a_grant_for_exchange_only_does_not_open_queries(client: httpx.AsyncClient) -> None:
    purpose = "数据交换-仅批量"
    body = await call(client, "wf.applicant", SUBMIT, items=["ethnicity"], purpose=purpose, until=later(),
                      modes=["EXCHANGE"])
    request = body["data"]["submitShareRequest"]
    body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=1)
    assert body["data"]["approveShareRequest"]["state"] == "APPROVED"
    body = await call(client, "wf.applicant", "{ myGrants { requestId shareModes } }")
    assert {"requestId": request["id"], "shareModes": ["EXCHANGE"]} in body["data"]["myGrants"]
    body = await call(client, "wf.applicant", """query($p: String!) { population(first: 1, purpose: $p) {
        nodes { ethnicity } } }""", p=purpose)
    assert denied(body) == {"ethnicity": "NO_GRANT"}


def test_the_longest_requested_validity_still_fits_an_approval_days_later() -> None:
    """The latest allowed day only moves later: a request submitted with the longest `until` passes the one
    grant validation at any later approval (closing7 "Left" feared otherwise)."""
    submitted_at = datetime(2026, 11, 28, 10, tzinfo=UTC)
    longest = latest_until(china_date(submitted_at))
    validity(None, longest, submitted_at)
    for days in (1, 3, 14):
        _start, end = validity(None, longest, submitted_at + timedelta(days=days))
        assert end.date() == longest + timedelta(days=1)
        assert clipped_until(longest, submitted_at + timedelta(days=days)) == longest


async def test_an_approval_clips_a_requested_validity_past_the_latest_day(client: httpx.AsyncClient,
                                                                          cluster: Cluster) -> None:
    """A request whose `until` lies past today's latest day (stored before the 5-year rule, or under a clock
    that was ahead): a day the reviewer types past it is refused naming the latest day; taking the request
    as it is makes the grant as long as allowed and says so."""
    request = await submitted(client, "低保审核-五年上限")
    latest = latest_until(china_date(datetime.now(UTC)))
    conn = await cluster.connect("650000")
    try:
        await conn.execute("update share_requests set requested_until = $2 where id = $1", request["id"],
                           latest + timedelta(days=3))
        body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=1,
                          until=(latest + timedelta(days=1)).isoformat())
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "until",
                                       "latest": latest.isoformat()}, error
        body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=1)
        assert "errors" not in body, body
        approved = body["data"]["approveShareRequest"]
        assert approved["state"] == "APPROVED" and approved["approvedUntil"] == latest.isoformat()
        clipped = (f"validity clipped to {latest} (requested until {latest + timedelta(days=3)}): a grant lasts at "
                   "most 5 years from its approval")
        assert approved["decisionReason"] == f"同意; {clipped}"
        assert approved["history"][-1]["note"] == f"grant {approved['grantId']}: 同意; {clipped}"
        valid_until = await conn.fetchval("select valid_until from grants where id = $1", approved["grantId"])
        assert valid_until == datetime.combine(latest + timedelta(days=1), datetime.min.time(), CST)
    finally:
        await conn.close()
