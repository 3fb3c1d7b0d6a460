"""Data exchange (bulk export): only granted, permitted columns and rows; jobs that survive restarts;
files behind expiring links; an audit record with the file's digest before the file is offered."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from govshare.resolvers import audit_verdicts, exchange_links, exchange_runs, exchanges
from govshare.resolvers.audit_records import chain_hash, payload
from govshare.resolvers.exchange_formats import parquet_available
from govshare.resolvers.exchange_runs import RunEnv

from ..admin_helpers import until
from ..conftest import Cluster
from ..helpers import AUDIT_KEY, GRANT_UNTIL, gql, token

POPULATION = "650000-B01-000001"
DEPT = "650200-SW"          # holds the exchange grants of these tests
OTHER = "650200-ZR"         # holds none
UNCONDITIONAL = ["name", "sex", "division_code", "household_type", "registered_on"]
GRANTED = ["birth_date", "citizen_id"]

START = """mutation($grant: Int!, $format: ExchangeFormat!, $items: [String!], $filters: [ExportFilterInput!],
                    $since: DateTime) {
  startExport(grantId: $grant, format: $format, items: $items, filters: $filters, since: $since) {
    id state items itemsDenied rowScope format } }"""
JOB = """query($id: Int!) { exportJob(id: $id) { id state rowsDone rowsTotal items sha256 fileBytes downloadUrl
  nextWatermark attempts error } }"""


def headers(department: str = DEPT) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(department)}"}


@pytest.fixture(scope="module")
async def grants(cluster: Cluster) -> AsyncIterator[dict[str, int]]:
    now = datetime.now(UTC)
    day = timedelta(days=1)
    rows = {
        "exchange": (GRANTED, "P-exchange", None, ["exchange"]),
        "interface": (GRANTED, "P-interface", None, ["interface"]),
        "scoped": (GRANTED, "P-scoped", json.dumps({"division_codes": ["650100"]}), ["exchange", "interface"]),
    }
    conn = await cluster.connect("650000")
    ids: dict[str, int] = {}
    try:
        for name, (items, purpose, scope, modes) in rows.items():
            ids[name] = await conn.fetchval(
                """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
                   row_scope, status, created_by, share_modes) values ($1, $2, $3, $4, $5, $6, $7::jsonb, 'active',
                   'test', $8) returning id""", DEPT, POPULATION, items, purpose, now - day, now + day, scope, modes)
    finally:
        await conn.close()
    yield ids


async def population_count(cluster: Cluster, where: str = "true", *args: Any) -> int:
    """Rows of the population register in every database (it is an all-nodes register)."""
    total = 0
    for node in cluster.servers:
        conn = await cluster.connect(node)
        try:
            total += await conn.fetchval(f"select count(*) from population where {where}", *args)
        finally:
            await conn.close()
    return total


async def finished(client: httpx.AsyncClient, job_id: int, department: str = DEPT) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body, _ = await gql(client, JOB, {"id": job_id}, **headers(department))
        job = body["data"]["exportJob"]
        return job if job["state"] not in ("QUEUED", "RUNNING") else None

    job = await until(done, 30.0)
    assert job is not None, "the export did not finish within 30 s"
    return job  # type: ignore[no-any-return]


async def export(client: httpx.AsyncClient, grant: int, fmt: str = "CSV", **variables: Any
                 ) -> tuple[dict[str, Any], bytes]:
    body, _ = await gql(client, START, {"grant": grant, "format": fmt, **variables}, **headers())
    assert "errors" not in body, body
    job = await finished(client, body["data"]["startExport"]["id"])
    assert job["state"] == "DONE", job
    response = await client.get(job["downloadUrl"], headers=headers())
    assert response.status_code == 200, response.text
    return job, response.content


async def test_csv_holds_exactly_the_permitted_items_and_every_row(client: httpx.AsyncClient, cluster: Cluster,
                                                                   grants: dict[str, int]) -> None:
    body, response = await gql(client, START, {"grant": grants["exchange"], "format": "CSV"}, **headers())
    started = body["data"]["startExport"]
    # Every item the department may read: UNCONDITIONAL ones and the grant's; never NOT_SHARED or
    # CONDITIONAL items the grant does not name.
    assert sorted(started["items"]) == sorted(UNCONDITIONAL + GRANTED)
    assert sorted(started["itemsDenied"]) == ["address", "biometric_template_id", "ethnicity", "phone"]
    # Deciding costs the grant read; then the job is stored: two statements, no data read yet.
    assert int(response.headers["x-govshare-statements"]) == 2
    job = await finished(client, started["id"])
    assert job["state"] == "DONE"
    download = await client.get(job["downloadUrl"], headers=headers())
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    content = download.content
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    assert rows[0] == started["items"]
    expected = await population_count(cluster)
    assert len(rows) - 1 == expected == job["rowsDone"] == job["rowsTotal"]
    assert hashlib.sha256(content).hexdigest() == job["sha256"] == download.headers["x-govshare-sha256"]
    assert job["fileBytes"] == len(content)
    # Personal data on the service's disk: its folder and files are the service user's alone.
    folder = Path(client.app.state.settings.data_dir) / "exchange"  # type: ignore[attr-defined]
    assert folder.stat().st_mode & 0o777 == 0o700
    files = list(folder.glob(f"{started['id']}-*"))
    assert files and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    # The citizen ids are real values, not placeholders
    column = rows[0].index("citizen_id")
    assert all(len(r[column]) == 18 for r in rows[1:])

    region = await cluster.connect("650000")
    try:
        record = await region.fetchrow(
            """select action, purpose, grant_ids, items_returned, items_denied, row_count, detail from audit_log
               where action = 'exchange' and detail->>'job' = $1::text""", str(started["id"]))
        download_record = await region.fetchrow(
            "select action, detail from audit_log where action = 'exchange.download' and detail->>'job' = $1::text",
            str(started["id"]))
    finally:
        await region.close()
    assert record is not None and download_record is not None
    detail = json.loads(record["detail"])
    assert (record["purpose"], list(record["grant_ids"]), record["row_count"]) == ("P-exchange", [grants["exchange"]],
                                                                                   expected)
    assert list(record["items_returned"]) == started["items"]
    assert detail["sha256"] == job["sha256"] and detail["format"] == "csv" and detail["bytes"] == len(content)


async def test_export_records_carry_their_details_under_the_hmac(client: httpx.AsyncClient, cluster: Cluster,
                                                                 grants: dict[str, int]) -> None:
    job, _ = await export(client, grants["exchange"], items=["name"])
    region = await cluster.connect("650000")
    try:
        row = await region.fetchrow("select * from audit_log where action = 'exchange' and detail->>'job' = $1",
                                    str(job["id"]))
    finally:
        await region.close()
    assert row is not None
    key = AUDIT_KEY.encode()
    # The HMAC covers the record's place in its lane's chain (migration 0028), not the global seq.
    assert chain_hash(key, row["prev_hash"], payload(row["lane_seq"], row["at"], dict(row), row["lane"])) == row["hash"]
    # Changing the digest in the record breaks its HMAC.
    forged = {**dict(row), "detail": json.dumps({**json.loads(row["detail"]), "sha256": "0" * 64})}
    assert chain_hash(key, row["prev_hash"], payload(row["lane_seq"], row["at"], forged, row["lane"])) != row["hash"]


async def test_an_export_job_keeps_its_audit_record_as_the_chain_names_it(client: httpx.AsyncClient, cluster: Cluster,
                                                                         grants: dict[str, int]) -> None:
    """The job's audit_seq is a global seq, outside the HMAC since 0028: the job also keeps the record's lane,
    lane_seq and hash (0030), and `audit verify` reports a seq that no longer names that record."""
    job, _ = await export(client, grants["exchange"], items=["name"])
    region = await cluster.connect("650000")
    try:
        kept = await region.fetchrow("select audit_seq, audit_lane, audit_lane_seq, audit_hash from exchange_jobs "
                                     "where id = $1", job["id"])
        record = await region.fetchrow("select seq, lane, lane_seq, hash from audit_log where action = 'exchange' "
                                       "and detail->>'job' = $1", str(job["id"]))
        assert tuple(kept) == tuple(record)
        mine = f"export job {job['id']} "
        key = AUDIT_KEY.encode()
        verdict = await audit_verdicts.verify_chain(region, key, [])
        assert not [p for p in verdict.problems if mine in p.detail]
        other = await region.fetchval("select max(seq) from audit_log where seq <> $1", record["seq"])
        tampering = region.transaction()  # rolled back after the verdict
        await tampering.start()
        try:
            await region.execute("alter table audit_log disable trigger audit_log_append_only")
            await region.execute("update audit_log set seq = -seq where seq = $1", record["seq"])
            await region.execute("update audit_log set seq = $1 where seq = $2", record["seq"], other)
            await region.execute("update audit_log set seq = $1 where seq = $2", other, -record["seq"])
            await region.execute("alter table audit_log enable trigger audit_log_append_only")
            verdict = await audit_verdicts.verify_chain(region, key, [])
        finally:
            await tampering.rollback()
        assert [(p.kind, p.first_seq) for p in verdict.problems if mine in p.detail] == [("renumbered", record["seq"])]
    finally:
        await region.close()


async def test_ndjson_with_a_filter_and_the_grants_row_scope(client: httpx.AsyncClient, cluster: Cluster,
                                                             grants: dict[str, int]) -> None:
    job, content = await export(client, grants["scoped"], "NDJSON", items=["citizen_id", "birth_date", "sex"],
                                filters=[{"item": "birth_date", "op": "GTE", "values": ["1990-01-01"]}])
    lines = [orjson.loads(line) for line in content.splitlines()]
    assert all(list(line) == ["citizen_id", "birth_date", "sex"] for line in lines)
    assert all(line["birth_date"] >= "1990-01-01" for line in lines)
    expected = await population_count(cluster, "division_code = '650100' and birth_date >= '1990-01-01'")
    assert len(lines) == expected == job["rowsDone"] > 0


async def test_refusals_name_the_reason_and_are_audited(client: httpx.AsyncClient, cluster: Cluster,
                                                        grants: dict[str, int]) -> None:
    cases = [
        ({"grant": grants["interface"]}, DEPT, "FORBIDDEN", "SHARE_MODE_NOT_GRANTED"),
        ({"grant": grants["exchange"]}, OTHER, "NOT_FOUND", None),
        ({"grant": grants["exchange"], "items": ["citizen_id", "biometric_template_id"]}, DEPT, "FIELD_FORBIDDEN",
         None),
        ({"grant": grants["exchange"], "items": ["phone"]}, DEPT, "FIELD_FORBIDDEN", None),
        ({"grant": grants["exchange"], "items": ["name"],
          "filters": [{"item": "address", "op": "EQ", "values": ["x"]}]}, DEPT, "FIELD_FORBIDDEN", None),
        ({"grant": grants["exchange"], "items": ["name"], "filters": [{"item": "sex", "op": "LIKE", "values": []}]},
         DEPT, "BAD_USER_INPUT", None),
        ({"grant": grants["exchange"], "items": ["nope"]}, DEPT, "BAD_USER_INPUT", None),
    ]
    for variables, department, code, reason in cases:
        body, _ = await gql(client, START, {"format": "CSV", **variables}, **headers(department))
        assert body.get("data") is None or body["data"]["startExport"] is None, body
        error = body["errors"][0]
        assert error["extensions"]["code"] == code, (variables, error)
        if reason:
            assert error["extensions"]["reason"] == reason
    # A NOT_SHARED item cites its law, and no denied value leaks into the message.
    body, _ = await gql(client, START, {"grant": grants["exchange"], "format": "CSV",
                                        "items": ["biometric_template_id"]}, **headers())
    denied = body["errors"][0]["extensions"]["denied"]
    assert denied[0]["shareClass"] == "NOT_SHARED" and denied[0]["legalBasis"]
    region = await cluster.connect("650000")
    try:
        refused = await region.fetchval("""select count(*) from audit_log where action = 'exchange'
                                           and outcome = 'refused' and department = $1""", DEPT)
    finally:
        await region.close()
    assert refused >= 4


async def test_incremental_exchange_sends_the_rows_changed_since_the_watermark(
        client: httpx.AsyncClient, cluster: Cluster, grants: dict[str, int]) -> None:
    first, _ = await export(client, grants["exchange"], items=["citizen_id", "name"])
    watermark = first["nextWatermark"]
    assert watermark is not None
    region = await cluster.connect("650000")
    try:
        changed = [r["citizen_id"] for r in await region.fetch(
            "update population set name = name where citizen_id in (select citizen_id from population "
            "where node_code = '650000' order by citizen_id limit 3) returning citizen_id")]
    finally:
        await region.close()
    second, content = await export(client, grants["exchange"], items=["citizen_id", "name"], since=watermark)
    rows = list(csv.reader(io.StringIO(content.decode())))[1:]
    ids = {r[0] for r in rows}
    assert set(changed) <= ids
    since = datetime.fromisoformat(watermark) - exchange_runs.WATERMARK_OVERLAP
    assert len(rows) == await population_count(cluster, "updated_at > $1", since)
    assert second["nextWatermark"] >= watermark


async def test_cancel_stops_a_job_and_its_run_leaves_no_file(client: httpx.AsyncClient, cluster: Cluster,
                                                             grants: dict[str, int], tmp_path: Path) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    # A job another (live) process holds: its lease is in the future, so this process leaves it alone.
    region = await cluster.connect("650000")
    try:
        job_id = await region.fetchval(
            """insert into exchange_jobs (request_id, department, user_id, grant_id, resource_code, purpose, items,
               format, state, lease_owner, lease_until, attempts) values ('r', $1, 'u', $2, $3, 'P-exchange',
               array['name'], 'csv', 'running', 'elsewhere', now() + interval '1 hour', 1) returning id""",
            DEPT, grants["exchange"], POPULATION)
    finally:
        await region.close()
    body, _ = await gql(client, "mutation($id: Int!) { cancelExport(id: $id) { state } }", {"id": job_id}, **headers())
    assert body["data"]["cancelExport"]["state"] == "CANCELLED"
    again, _ = await gql(client, "mutation($id: Int!) { cancelExport(id: $id) { state } }", {"id": job_id},
                         **headers())
    assert again["errors"][0]["extensions"]["code"] == "INVALID_TRANSITION"
    other, _ = await gql(client, "mutation($id: Int!) { cancelExport(id: $id) { state } }", {"id": job_id},
                         **headers(OTHER))
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # The process that held it notices at its next progress report, stops and removes its partial file.
    env = RunEnv(pools, lambda: client.app.state.engine,  # type: ignore[attr-defined]
                 lambda: client.app.state.schemas.current.specs, tmp_path, "elsewhere")  # type: ignore[attr-defined]
    job = await exchanges.job(pools, DEPT, job_id)
    await exchange_runs.run(env, job)
    assert os.listdir(tmp_path) == []
    assert (await exchanges.job(pools, DEPT, job_id)).state == "cancelled"


async def test_jobs_of_a_stopped_process_are_run_again_or_failed(client: httpx.AsyncClient, cluster: Cluster,
                                                                 grants: dict[str, int]) -> None:
    insert = """insert into exchange_jobs (request_id, department, user_id, grant_id, resource_code, purpose, items,
        format, state, lease_owner, lease_until, attempts, max_attempts) values ('r', $1, 'u', $2, $3, 'P-exchange',
        array['name', 'citizen_id'], 'csv', 'running', 'a-process-that-died', now() - interval '1 second', $4, 3)
        returning id"""
    region = await cluster.connect("650000")
    try:
        resumed = await region.fetchval(insert, DEPT, grants["exchange"], POPULATION, 1)
        given_up = await region.fetchval(insert, DEPT, grants["exchange"], POPULATION, 3)
    finally:
        await region.close()
    exchanges.installed(client.app.state.pools).wake()  # type: ignore[attr-defined,union-attr]
    job = await finished(client, resumed)
    assert (job["state"], job["attempts"], job["rowsDone"]) == ("DONE", 2, await population_count(cluster))
    failed = await finished(client, given_up)
    assert failed["state"] == "FAILED" and "interrupted 3 times" in failed["error"]


async def test_download_links_are_for_the_department_and_expire(client: httpx.AsyncClient, cluster: Cluster,
                                                                grants: dict[str, int]) -> None:
    job, _ = await export(client, grants["exchange"], items=["sex"])
    url = job["downloadUrl"]
    assert (await client.get(url, headers={"Authorization": ""})).status_code == 401
    stranger = await client.get(url, headers=headers(OTHER))
    assert stranger.status_code == 403 and stranger.json()["errors"][0]["extensions"]["reason"] == "LINK_INVALID"
    forged = await client.get(url.replace("expires=", "expires=9"), headers=headers())
    assert forged.status_code == 403
    key = exchanges.installed(client.app.state.pools).link_key  # type: ignore[attr-defined,union-attr]
    past = int(datetime.now(UTC).timestamp()) - 1
    stale = f"/exchange/{job['id']}?expires={past}&signature={exchange_links.signature(key, job['id'], DEPT, past)}"
    expired = await client.get(stale, headers=headers())
    assert expired.status_code == 403 and expired.json()["errors"][0]["extensions"]["reason"] == "LINK_EXPIRED"
    # Once the job's file expires it is removed and the job says so.
    region = await cluster.connect("650000")
    try:
        await region.execute("update exchange_jobs set expires_at = now() - interval '1 second' where id = $1",
                             job["id"])
    finally:
        await region.close()
    env = RunEnv(client.app.state.pools, lambda: client.app.state.engine,  # type: ignore[attr-defined]
                 lambda: (), Path(client.app.state.settings.data_dir) / "exchange", "test")  # type: ignore[attr-defined]
    await exchange_runs.expire_files(env)  # (or the service's own expiry round got there first)
    body, _ = await gql(client, JOB, {"id": job["id"]}, **headers())
    assert body["data"]["exportJob"]["state"] == "EXPIRED" and body["data"]["exportJob"]["downloadUrl"] is None
    assert (await client.get(url, headers=headers())).status_code in (403, 404)


async def test_parquet_only_with_the_optional_extra(client: httpx.AsyncClient, cluster: Cluster,
                                                   grants: dict[str, int]) -> None:
    items = ["citizen_id", "birth_date", "registered_on", "sex"]
    if not parquet_available():
        body, _ = await gql(client, START, {"grant": grants["exchange"], "format": "PARQUET", "items": items},
                            **headers())
        error = body["errors"][0]["extensions"]
        assert (error["code"], error["accepted"]) == ("BAD_USER_INPUT", ["csv", "ndjson"])
        return
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

    job, content = await export(client, grants["exchange"], "PARQUET", items=items)
    table = pq.read_table(pa.BufferReader(content))
    assert table.column_names == items and table.num_rows == job["rowsDone"] == await population_count(cluster)
    assert str(table.schema.field("birth_date").type) == "date32[day]"
    assert hashlib.sha256(content).hexdigest() == job["sha256"]


async def test_create_grant_takes_share_modes_the_resource_offers(client: httpx.AsyncClient, cluster: Cluster) -> None:
    from ..admin_helpers import as_user

    create = """mutation($resource: String!, $items: [String!]!, $modes: [ShareMode!]) {
      createGrant(grant: {department: "650200-SW", resource: $resource, items: $items, purpose: "P-created",
                          until: "UNTIL", shareModes: $modes}, reason: "test") { grant { id } } }""".replace("UNTIL", GRANT_UNTIL)
    body, _ = await gql(client, create, {"resource": POPULATION, "items": ["birth_date"],
                                         "modes": ["EXCHANGE", "DATABASE"]}, **as_user("admin.region"))
    assert "errors" not in body, body
    region = await cluster.connect("650000")
    try:
        modes = await region.fetchval("select share_modes from grants where id = $1",
                                      body["data"]["createGrant"]["grant"]["id"])
    finally:
        await region.close()
    assert list(modes) == ["exchange", "database"]
    refused, _ = await gql(client, create, {"resource": "650000-B02-000001", "items": ["legal_rep_citizen_id"],
                                            "modes": ["DATABASE"]}, **as_user("admin.region"))
    error = refused["errors"][0]["extensions"]
    assert (error["code"], error["field"], error["accepted"]) == ("BAD_USER_INPUT", "shareModes",
                                                                  ["interface", "exchange"])


async def test_a_department_has_at_most_a_few_exports_open(client: httpx.AsyncClient, cluster: Cluster) -> None:
    department = "650100-WJ"
    region = await cluster.connect("650000")
    try:
        grant = await region.fetchval(
            """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
               status, created_by, share_modes) values ($1, $2, array['birth_date'], 'P-open', now() - interval '1 day',
               now() + interval '1 day', 'active', 'test', array['exchange']) returning id""", department, POPULATION)
        held = [await region.fetchval(
            """insert into exchange_jobs (request_id, department, user_id, grant_id, resource_code, purpose, items,
               format, state, lease_owner, lease_until, attempts) values ('r', $1, 'u', $2, $3, 'P-open',
               array['sex'], 'csv', 'running', 'elsewhere', now() + interval '1 hour', 1) returning id""",
            department, grant, POPULATION) for _ in range(exchanges.MAX_OPEN_JOBS)]
        body, _ = await gql(client, START, {"grant": grant, "format": "CSV", "items": ["sex"]}, **headers(department))
        error = body["errors"][0]["extensions"]
        assert (error["code"], error["maximum"]) == ("LIMIT_EXCEEDED", exchanges.MAX_OPEN_JOBS)
        await region.execute("update exchange_jobs set state = 'cancelled' where id = $1", held[0])
        body, _ = await gql(client, START, {"grant": grant, "format": "CSV", "items": ["sex"]}, **headers(department))
        assert body["data"]["startExport"]["state"] == "QUEUED", body
    finally:
        await region.execute("update exchange_jobs set state = 'cancelled' where lease_owner = 'elsewhere' "
                             "and state = 'running'")
        await region.close()
