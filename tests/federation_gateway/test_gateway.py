"""govshare composed with a second subgraph through a real federation gateway (npm's
@graphql-hive/gateway-runtime): joins both ways, and govshare's rules, purpose and audit hold for
every field it resolves for the gateway."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn

from govshare.core.settings import Settings
from govshare.server.app import create_app
from govshare.server.postgres import free_port

from ..conftest import Cluster
from ..helpers import token
from .directory import create_app as create_directory

HERE = Path(__file__).resolve().parent
RS, RS_PURPOSE = "650000-RS", "社会保险参保资格核验"      # seeded grant: citizen_id, birth_date, ... every row
MSZ, MSZ_PURPOSE = "650100-MZ", "最低生活保障资格审核"     # seeded grant scoped to division 650100
DEPARTMENTS = {"650100-GA": "N-650100-GA", "650200-CA-GA": "N-650200-CA-GA", "654300-MZ": "N-654300-MZ",
               "650000-RS": "N-650000-RS"}


async def _serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.02)
    return server, task, port


async def _citizens(cluster: Cluster, database: str, count: int) -> list[str]:
    conn = await cluster.connect(database)
    try:
        return [r["citizen_id"] for r in await conn.fetch(
            "select citizen_id from population where node_code = $1 order by row_id limit $2", database, count)]
    finally:
        await conn.close()


class Gateway:
    def __init__(self, url: str, residents: list[str]) -> None:
        self.url = url
        self.residents = residents

    async def query(self, query: str, department: str = RS, purpose: str | None = None,
                    request_id: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token(department)}"}
        if purpose is not None:
            headers["X-Govshare-Purpose"] = quote(purpose)
        if request_id is not None:
            headers["X-Request-Id"] = request_id
        async with httpx.AsyncClient(timeout=20) as http:
            response = await http.post(self.url, json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def gateway(cluster: Cluster, settings: Settings, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[Gateway]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the gateway tests (./dev pytest installs the gateway)"
    assert (HERE / "node_modules" / "@graphql-hive" / "gateway-runtime").exists(), \
        "run: cd tests/federation_gateway && npm ci"
    residents = [*await _citizens(cluster, "650100", 3), *await _citizens(cluster, "650200", 2)]
    statuses = {key: ("resident" if i % 2 else "moved-out") for i, key in enumerate(residents)}
    servers = [await _serve(create_app(settings, cluster.topology)),
               await _serve(create_directory(DEPARTMENTS, statuses))]
    (_, _, govshare_port), (_, _, directory_port) = servers
    port = free_port()
    # The gateway's log goes to a file: a pipe nobody reads would block node once it is full.
    log = (tmp_path_factory.mktemp("gateway") / "gateway.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        node, str(HERE / "gateway.mjs"), str(port), f"govshare=http://127.0.0.1:{govshare_port}/graphql",
        f"directory=http://127.0.0.1:{directory_port}/graphql", cwd=HERE,
        env={**os.environ, "GATEWAY_TOKEN": token("650000-ZW")},
        stdout=asyncio.subprocess.PIPE, stderr=log)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if line.strip() != b"ready":
            log.flush()
            pytest.fail(f"gateway did not start: see {log.name}")
        yield Gateway(f"http://127.0.0.1:{port}/graphql", residents)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()
        for server, task, _ in servers:
            server.should_exit = True
            await task


async def test_directory_departments_get_govshare_fields(gateway: Gateway) -> None:
    body = await gateway.query("{ directoryDepartments { code nationalRegistryId name level parent { code } } }")
    assert "errors" not in body, body
    got = {d["code"]: d for d in body["data"]["directoryDepartments"]}
    assert set(got) == set(DEPARTMENTS)
    assert got["650200-CA-GA"]["parent"] == {"code": "650200-GA"} and got["650200-CA-GA"]["level"] == "COUNTY"
    assert got["654300-MZ"]["name"] and got["654300-MZ"]["nationalRegistryId"] == "N-654300-MZ"


async def test_govshare_departments_get_directory_fields(gateway: Gateway) -> None:
    body = await gateway.query('{ department(code: "650200-GA") { code name nationalRegistryId '
                               "children { code nationalRegistryId } } }")
    assert "errors" not in body, body
    department = body["data"]["department"]
    assert department["nationalRegistryId"] is None  # not in the directory
    children = {c["code"]: c["nationalRegistryId"] for c in department["children"]}
    assert children["650200-CA-GA"] == "N-650200-CA-GA"


PERSONS = "{ nationalResidents { citizenId nationalStatus name birthDate } }"


async def test_records_come_with_the_callers_grant_and_purpose_and_are_audited(gateway: Gateway,
                                                                                cluster: Cluster) -> None:
    request_id = uuid.uuid4().hex
    body = await gateway.query(PERSONS, RS, RS_PURPOSE, request_id)
    assert "errors" not in body, body
    rows = body["data"]["nationalResidents"]
    assert [r["citizenId"] for r in rows] == gateway.residents
    assert all(r["name"] and r["birthDate"] and r["nationalStatus"] for r in rows)
    conn = await cluster.connect("650000")
    try:
        records = await conn.fetch("""select department, purpose, resource, items_returned, row_count, outcome
            from audit_log where client_request_id = $1""", request_id)
    finally:
        await conn.close()
    assert [(r["department"], r["purpose"], r["resource"], r["row_count"], r["outcome"]) for r in records] == \
        [(RS, RS_PURPOSE, "650000-B01-000001", len(gateway.residents), "ok")]
    assert {"birth_date", "name", "citizen_id"} <= set(records[0]["items_returned"])


async def test_without_purpose_the_gateway_gets_nothing_the_caller_may_not_query(gateway: Gateway) -> None:
    body = await gateway.query(PERSONS, RS)
    rows = body["data"]["nationalResidents"]
    assert [r["citizenId"] for r in rows] == gateway.residents  # the directory's own fields
    assert all(r["name"] is None and r["birthDate"] is None for r in rows)
    codes = {(e.get("extensions", {}).get("code"), e.get("extensions", {}).get("reason")) for e in body["errors"]}
    assert ("FIELD_FORBIDDEN", "PURPOSE_MISSING") in codes, body["errors"]


async def test_row_scope_and_denied_fields_hold_through_the_gateway(gateway: Gateway) -> None:
    body = await gateway.query("{ nationalResidents { citizenId name address biometricTemplateId } }",
                               MSZ, MSZ_PURPOSE)
    rows = body["data"]["nationalResidents"]
    in_scope = [r["name"] is not None for r in rows]
    assert in_scope == [True, True, True, False, False]  # the grant covers division 650100 only
    assert all(r["address"] for r in rows[:3]) and all(r["biometricTemplateId"] is None for r in rows)
    denied = [(e["extensions"]["code"], e["extensions"]["item"], e["extensions"]["reason"])
              for e in body["errors"] if e.get("extensions", {}).get("item")]
    assert denied == [("FIELD_FORBIDDEN", "biometric_template_id", "NOT_SHARED")]
