"""Reading share requests: the applicant department and the reviewers of the resource's node see a
request and its history; everyone else, other nodes' reviewers included, gets NOT_FOUND and no row."""

from __future__ import annotations

import httpx
import pytest

from .conftest import call, code_of
from .test_requests import ASK, submitted

pytestmark = pytest.mark.usefixtures("actors")

ONE = "query($id: Int!) { shareRequest(id: $id) { id state history { actor action fromState toState } } }"
PROVIDER = "query($s: ShareRequestState) { shareRequests(side: PROVIDER, state: $s) { id state } }"


async def test_who_sees_a_request_and_its_history(client: httpx.AsyncClient) -> None:
    request = await submitted(client, "低保审核-可见范围")  # a region (650000) resource
    body = await call(client, "wf.region.reviewer", ASK, id=request["id"], revision=1)
    assert body["data"]["askShareRequestInformation"]["state"] == "INFO_REQUESTED"

    body = await call(client, "wf.applicant", ONE, id=request["id"])
    assert body["data"]["shareRequest"] == {"id": request["id"], "state": "INFO_REQUESTED", "history": [
        {"actor": "wf.applicant", "action": "submit", "fromState": None, "toState": "SUBMITTED"},
        {"actor": "wf.region.reviewer", "action": "ask_information", "fromState": "SUBMITTED",
         "toState": "INFO_REQUESTED"}]}
    body = await call(client, "wf.region.reviewer", PROVIDER, s="INFO_REQUESTED")
    assert {"id": request["id"], "state": "INFO_REQUESTED"} in body["data"]["shareRequests"]
    body = await call(client, "wf.region.reviewer", PROVIDER, s="SUBMITTED")
    assert request["id"] not in {r["id"] for r in body["data"]["shareRequests"]}, "the state filter holds"

    # A reviewer of another node (650200) neither lists nor reads it; nor does another department.
    body = await call(client, "wf.reviewer.karamay", PROVIDER, s=None)
    assert request["id"] not in {r["id"] for r in body["data"]["shareRequests"]}
    for user in ("wf.reviewer.karamay", "wf.applicant.other"):
        body = await call(client, user, ONE, id=request["id"])
        assert code_of(body) == "NOT_FOUND" and body["data"] is None, user
    body = await call(client, "wf.applicant.other", "{ shareRequests { id } }")
    assert request["id"] not in {r["id"] for r in body["data"]["shareRequests"]}
