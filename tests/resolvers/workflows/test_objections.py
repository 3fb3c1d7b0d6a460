"""Objections through GraphQL: raised by a consumer on a shared value, listed with their age, answered
by the provider's reviewer (not by the consumer), and refused for items there is nothing to dispute."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from govshare.policies.workdays import WorkCalendar

from .conftest import call, code_of

pytestmark = pytest.mark.usefixtures("actors")

CALENDAR = WorkCalendar()

OBJECTION = """mutation($item: String!) { raiseObjection(resourceCode: "650000-B01-000001", key: "650100199001011236",
    item: $item, expected: "出生日期应为1990-01-02") { id state revision dueOn ageDays overdue } }"""
ANSWER_OBJECTION = """mutation($id: Int!, $revision: Int!) { answerObjection(id: $id, revision: $revision,
    outcome: CORRECTED, answer: "已更正") { state answer answeredBy } }"""


async def test_objection_raised_listed_and_answered(client: httpx.AsyncClient) -> None:
    body = await call(client, "wf.applicant", OBJECTION, item="birth_date")
    objection = body["data"]["raiseObjection"]
    assert objection["state"] == "open" and objection["ageDays"] == 0 and not objection["overdue"]
    assert objection["dueOn"] == CALENDAR.due(datetime.now(UTC), 5).isoformat()
    body = await call(client, "wf.region.reviewer", "{ objections { id ageDays state } }")
    assert {"id": objection["id"], "ageDays": 0, "state": "open"} in body["data"]["objections"]
    body = await call(client, "wf.applicant", ANSWER_OBJECTION, id=objection["id"], revision=1)
    assert code_of(body) == "FORBIDDEN", "the consumer cannot answer its own objection"
    body = await call(client, "wf.region.reviewer", ANSWER_OBJECTION, id=objection["id"], revision=1)
    assert body["data"]["answerObjection"] == {"state": "corrected", "answer": "已更正",
                                               "answeredBy": "wf.region.reviewer"}
    body = await call(client, "wf.applicant", "{ objections(openOnly: false) { id state } }")
    assert {"id": objection["id"], "state": "corrected"} in body["data"]["objections"]
    body = await call(client, "wf.applicant", OBJECTION, item="no_such_item")
    assert code_of(body) == "BAD_USER_INPUT"
    # a NOT_SHARED value never reaches a consumer: there is nothing to object to (found from outside)
    body = await call(client, "wf.applicant", OBJECTION, item="biometric_template_id")
    assert code_of(body) == "BAD_USER_INPUT" and body["errors"][0]["extensions"]["field"] == "item"


KEYED = """mutation($key: String!) { raiseObjection(resourceCode: "650000-B01-000001", key: $key, item: "birth_date",
    expected: "1991-06-22") { id key } }"""


@pytest.mark.parametrize(("key", "fault"), [
    ("650100199106215471", "CHECK_CHARACTER"),  # trial-s7 F15: accepted as objection 2 before
    ("6501001995042905", "LENGTH"),
    ("65010019910621547A", "CHARACTERS"),
])
async def test_an_objection_to_a_key_that_names_nobody_is_refused(client: httpx.AsyncClient, key: str,
                                                                  fault: str) -> None:
    """The check verify makes (core/identifiers.py key_fault): a citizen ID of the wrong length, characters or
    check character names nobody, so no provider's deadline starts for it."""
    before = await call(client, "wf.applicant", "{ objections(openOnly: false) { id } }")
    body = await call(client, "wf.applicant", KEYED, key=key)
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "INVALID_KEY", "item": "citizen_id",
                                   "standard": "GB 11643-1999", "fault": fault, "field": "key"}, error
    after = await call(client, "wf.applicant", "{ objections(openOnly: false) { id } }")
    assert after["data"]["objections"] == before["data"]["objections"]


async def test_an_objection_keeps_the_key_as_the_register_spells_it(client: httpx.AsyncClient) -> None:
    body = await call(client, "wf.applicant", KEYED, key=" ６５０１０２１９９９０１０１１０４ｘ ")  # full width, lower x
    assert body["data"]["raiseObjection"]["key"] == "65010219990101104X", body
