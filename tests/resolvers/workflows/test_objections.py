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

OBJECTION = """mutation($item: String!) { raiseObjection(resourceCode: "650000-B01-000001", key: "650100199001011234",
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
