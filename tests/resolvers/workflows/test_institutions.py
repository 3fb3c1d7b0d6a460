"""Institutions outside government (seed §2.2): their grants need the region's sharing authority besides the
provider's; a prefecture's admins and reviewers alone cannot grant them (the one validator and the workflow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from govshare.policies.workdays import china_date
from govshare.server.identity import mint_demo_token

from ...admin_helpers import as_user
from ...conftest import Cluster
from ...helpers import SECRET, gql
from .conftest import call, code_of

HOSPITAL = "650100-JG-YY"   # an institution of node 650100 (seed/catalog.py INSTITUTIONS)
BANK = "650000-JG-YH"       # an institution of the region
CREATE = """mutation($dept: String!, $resource: String!, $items: [String!]!, $until: Date!) {
  createGrant(grant: {department: $dept, resource: $resource, items: $items, purpose: "机构核验", until: $until},
              reason: "测试") { grant { id department } } }"""
SUBMIT = """mutation($resource: String!, $items: [String!]!, $until: Date!) {
  submitShareRequest(resourceCode: $resource, items: $items, purpose: "就诊身份核验", scenario: "门诊挂号实名核验",
    users: ["挂号系统"], shareModes: [INTERFACE], until: $until, basis: "《医疗机构管理条例》") { id state revision } }"""
APPROVE = """mutation($id: Int!, $revision: Int!) { approveShareRequest(id: $id, revision: $revision, opinion: "同意") {
  id state revision grantId approvedItems } }"""
REJECT = """mutation($id: Int!, $revision: Int!) { rejectShareRequest(id: $id, revision: $revision,
  reason: "用途超出范围", grounds: "《数据安全法》第三十二条") { state revision } }"""


def later(days: int = 30) -> str:
    return (china_date(datetime.now(UTC)) + timedelta(days=days)).isoformat()


def institution(department: str = HOSPITAL) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_demo_token(SECRET, department, user='inst.user')}"}


@pytest.fixture(scope="module")
async def prefecture_resource(cluster: Cluster) -> tuple[str, str]:
    """A published resource of node 650100 with a CONDITIONAL item, offering the query API."""
    conn = await cluster.connect("650100")
    try:
        row = await conn.fetchrow(
            """select r.code, i.name from resources r join data_items i on i.resource_code = r.code
               where r.node_code = '650100' and r.status = 'published' and i.share_class = 'CONDITIONAL'
                 and 'interface' = any(r.share_modes) and r.code !~ '-WF' order by r.code, i.position limit 1""")
    finally:
        await conn.close()
    assert row is not None
    return row["code"], row["name"]


async def grant_row(cluster: Cluster, grant_id: int) -> Any:
    conn = await cluster.connect("650000")
    try:
        return await conn.fetchrow("select grantee_sector, region_approved_by, created_by from grants where id = $1",
                                   grant_id)
    finally:
        await conn.close()


async def test_who_may_grant_an_institution(client: httpx.AsyncClient, cluster: Cluster, actors: Any,
                                            prefecture_resource: tuple[str, str]) -> None:
    """Truth table of createGrant: (admin, grantee) -> outcome."""
    resource, item = prefecture_resource
    variables = {"resource": resource, "items": [item], "until": later()}
    cases = [
        ("admin.urumqi", HOSPITAL, "FORBIDDEN"),   # the provider's node alone: no
        ("admin.urumqi", "650100-MZ", None),       # a government department: the provider's node suffices
        ("admin.region", HOSPITAL, None),          # the region's authority (which also covers the provider's node)
        ("admin.region", BANK, None),
    ]
    for user, department, expected in cases:
        body, _ = await gql(client, CREATE, {**variables, "dept": department}, **as_user(user))
        if expected is None:
            assert "errors" not in body, (user, department, body)
            row = await grant_row(cluster, body["data"]["createGrant"]["grant"]["id"])
            institutional = department in (HOSPITAL, BANK)
            assert row["grantee_sector"] == ("institution" if institutional else "government")
            assert row["region_approved_by"] == (user if institutional else None)
        else:
            error = body["errors"][0]["extensions"]
            assert (error["code"], error["domain"], error["reason"]) == (expected, "650000", "REGION_APPROVAL_REQUIRED")
    # The database itself refuses an institution's grant that no one approved for the region.
    conn = await cluster.connect("650000")
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
                   created_by, grantee_sector) values ($1, $2, $3, 'x', now(), now() + interval '1 day', 'test',
                   'institution')""", HOSPITAL, resource, [item])
    finally:
        await conn.close()


async def test_an_institutions_request_needs_the_provider_then_the_region(
        client: httpx.AsyncClient, cluster: Cluster, actors: Any, prefecture_resource: tuple[str, str]) -> None:
    resource, item = prefecture_resource

    async def submit() -> dict[str, Any]:
        body, _ = await gql(client, SUBMIT, {"resource": resource, "items": [item], "until": later()},
                            **institution())
        assert "errors" not in body, body
        return dict(body["data"]["submitShareRequest"])

    request = await submit()
    provider = await call(client, "wf.reviewer", APPROVE, id=request["id"], revision=request["revision"])
    waiting = provider["data"]["approveShareRequest"]
    assert (waiting["state"], waiting["grantId"], waiting["approvedItems"]) == ("AWAITING_REGION", None, [item])
    again = await call(client, "wf.reviewer", APPROVE, id=request["id"], revision=waiting["revision"])
    assert code_of(again) == "FORBIDDEN"
    refused = await call(client, "wf.reviewer", REJECT, id=request["id"], revision=waiting["revision"])
    assert code_of(refused) == "FORBIDDEN"
    region = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=waiting["revision"])
    approved = region["data"]["approveShareRequest"]
    assert approved["state"] == "APPROVED" and approved["grantId"] is not None
    row = await grant_row(cluster, approved["grantId"])
    assert (row["grantee_sector"], row["region_approved_by"]) == ("institution", "wf.region.reviewer")

    # A region reviewer approving first gives both approvals at once.
    direct = await submit()
    body = await call(client, "wf.region.reviewer", APPROVE, id=direct["id"], revision=direct["revision"])
    assert body["data"]["approveShareRequest"]["state"] == "APPROVED"

    # The region may also refuse what the provider approved.
    third = await submit()
    waiting = (await call(client, "wf.reviewer", APPROVE, id=third["id"],
                          revision=third["revision"]))["data"]["approveShareRequest"]
    body = await call(client, "wf.region.reviewer", REJECT, id=third["id"], revision=waiting["revision"])
    assert body["data"]["rejectShareRequest"]["state"] == "REJECTED"


async def test_an_institution_reads_only_what_a_grant_opens(client: httpx.AsyncClient, cluster: Cluster) -> None:
    query = """{ population(first: 2, purpose: "机构核验") { nodes { name birthDate } } }"""
    body, _ = await gql(client, query, **institution(BANK))
    reasons = {e["extensions"]["item"]: e["extensions"]["reason"] for e in body["errors"]}
    # UNCONDITIONAL items are shared among government departments, not with institutions.
    assert reasons == {"name": "POLICY_DENIED", "birth_date": "NO_GRANT"}
    created, _ = await gql(client, CREATE, {"dept": BANK, "resource": "650000-B01-000001", "items": ["birth_date"],
                                            "until": later()}, **as_user("admin.region"))
    assert "errors" not in created, created
    body, _ = await gql(client, query, **institution(BANK))
    assert {e["extensions"]["item"] for e in body["errors"]} == {"name"}
    assert all(node["birthDate"] for node in body["data"]["population"]["nodes"])
