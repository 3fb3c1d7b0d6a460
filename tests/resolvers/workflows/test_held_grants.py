"""``myGrants``: every grant the caller's department holds, whatever made it (a grant created by a
policy admin has no request), its effective state and the days of validity left, today included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from govshare.policies.workdays import china_date

from ...admin_helpers import as_user
from ...conftest import Cluster
from ...helpers import gql
from .conftest import call

pytestmark = pytest.mark.usefixtures("actors")

CREATE = """mutation($g: GrantCreateInput!) { createGrant(grant: $g, reason: "复核") { grant { id } } }"""
HELD = "{ myGrants { id state requestId remainingDays items } }"


async def test_days_left_expiry_and_only_the_holders_grants(client: httpx.AsyncClient, cluster: Cluster) -> None:
    last_day = china_date(datetime.now(UTC)) + timedelta(days=9)
    body, _ = await gql(client, CREATE, {"g": {
        "department": "653000-ZR", "resource": "650000-B01-000001", "items": ["phone"], "purpose": "持有授权-天数",
        "until": last_day.isoformat()}}, **as_user("admin.region"))
    grant_id = body["data"]["createGrant"]["grant"]["id"]

    body = await call(client, "wf.applicant.other", HELD)
    assert {"id": grant_id, "state": "active", "requestId": None, "remainingDays": 10,
            "items": ["phone"]} in body["data"]["myGrants"]
    body = await call(client, "wf.applicant", HELD)
    assert grant_id not in {g["id"] for g in body["data"]["myGrants"]}, "another department's grant"

    conn = await cluster.connect("650000")
    try:
        await conn.execute("update grants set valid_from = now() - interval '2 days', valid_until = now() - "
                           "interval '1 second' where id = $1", grant_id)
    finally:
        await conn.close()
    body = await call(client, "wf.applicant.other", HELD)
    assert {"id": grant_id, "state": "expired", "requestId": None, "remainingDays": 0,
            "items": ["phone"]} in body["data"]["myGrants"]
