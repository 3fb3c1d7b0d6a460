"""Workflow changes made through one process take effect in another without a restart: a published
entry reaches the other process's schema (NOTIFY swap), an approved request's grant opens the data on
its very next request, and a revocation closes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from govshare.core.settings import Settings
from govshare.server.app import create_app

from ...conftest import Cluster
from .conftest import call
from .test_catalog import CREATE, PUBLISH, REVIEW, SUBMIT, entry_input, new_code
from .test_requests import APPROVE, denied, later
from .test_requests import SUBMIT as REQUEST

pytestmark = pytest.mark.usefixtures("actors")


@pytest.fixture
async def other(cluster: Cluster, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second process of the service (its own app, pools, listener and caches)."""
    app = create_app(settings, cluster.topology)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://govshare.test") as http:
        yield http


async def test_changes_reach_another_process(client: httpx.AsyncClient, other: httpx.AsyncClient) -> None:
    api = f"wfOther{uuid.uuid4().hex[:8]}"
    code = new_code()
    body = await call(client, "wf.registrar", CREATE, code=code, provider="650100-GA", entry=entry_input(api))
    await call(client, "wf.registrar", SUBMIT, code=code, revision=1)
    await call(client, "wf.reviewer", REVIEW, code=code, revision=2, decision="APPROVE")
    body = await call(client, "wf.reviewer", PUBLISH, code=code, revision=3)
    assert body["data"]["publishCatalogEntry"]["state"] == "PUBLISHED"
    for _ in range(200):
        body = await call(other, "wf.applicant", f"{{ {api}(first: 1) {{ nodes {{ name }} }} }}")
        if "data" in body and body["data"] and body["data"].get(api):
            break
        await asyncio.sleep(0.05)
    assert body["data"][api]["nodes"], "the other process never served the published entry"

    purpose = f"跨进程-{uuid.uuid4().hex[:6]}"
    data = """query($p: String!) { population(first: 1, purpose: $p) { nodes { birthDate } } }"""
    body = await call(other, "wf.applicant", data, p=purpose)
    assert set(denied(body)) == {"birth_date"}
    body = await call(client, "wf.applicant", REQUEST, items=["birth_date"], purpose=purpose, until=later())
    request = body["data"]["submitShareRequest"]
    body = await call(client, "wf.region.reviewer", APPROVE, id=request["id"], revision=1)
    grant = body["data"]["approveShareRequest"]["grantId"]
    body = await call(other, "wf.applicant", data, p=purpose)  # the very next request, other process
    assert denied(body) == {} and body["data"]["population"]["nodes"][0]["birthDate"]
    await call(client, "wf.region.reviewer", """mutation($id: Int!) { revokeGrant(id: $id, reason: "test")
        { grant { state } } }""", id=grant)
    body = await call(other, "wf.applicant", data, p=purpose)
    assert denied(body) == {"birth_date": "GRANT_REVOKED"}
