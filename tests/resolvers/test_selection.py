"""What a query selected: fields excluded by @skip / @include are neither read, decided nor reported."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ..conftest import Cluster
from ..helpers import gql

RECORD = "select items_returned, items_denied from audit_log where client_request_id = $1"


@pytest.mark.parametrize("directives", [
    ("@skip(if: true)", "@include(if: false)"),
    ("@skip(if: $yes)", "@include(if: $no)"),
], ids=["literals", "variables"])
async def test_excluded_fields_are_not_touched(client: httpx.AsyncClient, cluster: Cluster,
                                               directives: tuple[str, str]) -> None:
    skip, include = directives
    request_id = uuid.uuid4().hex
    variables = "($yes: Boolean = true, $no: Boolean = false)" if "$" in skip else ""
    body, _ = await gql(client, f"""query{variables} {{
        population(first: 2) {{ nodes {{ name citizenId {skip} ... {include} {{ biometricTemplateId }} }}
                                edges {{ node {{ ...Secret {skip} }} }} }} }}
        fragment Secret on PopulationRecord {{ phone }}""", **{"X-Request-Id": request_id})
    assert "errors" not in body, body
    assert body["data"]["population"]["nodes"][0].keys() == {"name"}
    conn = await cluster.connect("650000")
    try:
        record = await conn.fetchrow(RECORD, request_id)
    finally:
        await conn.close()
    assert (record["items_returned"], record["items_denied"]) == (["name"], [])


async def test_included_fields_are_still_decided(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "{ population(first: 1) { nodes { name citizenId @include(if: true) } } }")
    assert [e["extensions"]["item"] for e in body["errors"]] == ["citizen_id"]
