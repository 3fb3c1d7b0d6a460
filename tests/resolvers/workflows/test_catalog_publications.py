"""What must hold before an entry goes live, checked against the node's database at submit and again
at publish: the data table is a register with a column per item, never a platform table."""

from __future__ import annotations

import json
import time as clock
from datetime import datetime, time, timedelta

import httpx
import pytest

from govshare.policies.workdays import CST
from govshare.resolvers.workflows.catalog_publications import kept_version
from govshare.resolvers.workflows.documents import Document

from ...conftest import Cluster
from .conftest import call, code_of
from .test_catalog import PUBLISH, REVIEW, SUBMIT, entry_input, walk_to

pytestmark = pytest.mark.usefixtures("actors")


async def test_submit_rules_reported_together_and_table_checked(client: httpx.AsyncClient) -> None:
    code, revision = await walk_to(client, "draft", entry=entry_input(
        dataTable="no_such_table", updateCycle=None, nameZh="residents"))
    body = await call(client, "wf.registrar", SUBMIT, code=code, revision=revision)
    assert [v["code"] for v in body["errors"][0]["extensions"]["violations"]] == [
        "DATA_LOCATION_MISSING", "UPDATE_CYCLE_MISSING", "CHINESE_NAME_MISSING"]
    items = entry_input()["items"] + [{"name": "shoe_size", "titleZh": "鞋码", "shareClass": "UNCONDITIONAL"}]
    code, revision = await walk_to(client, "draft", entry=entry_input(items=items, nameKk=None))
    body = await call(client, "wf.registrar", SUBMIT, code=code, revision=revision)
    violation = body["errors"][0]["extensions"]["violations"]
    assert violation == [{"code": "DATA_LOCATION_MISSING", "message": "table population has no column shoe_size",
                          "item": "shoe_size"}]


async def test_a_platform_table_is_no_data_location(client: httpx.AsyncClient) -> None:
    """Found from outside: an entry on the audit trail (or the role assignments) could be submitted and
    published. Only registers (node_code and row_id columns) hold shared data."""
    items = [{"name": "department", "titleZh": "部门", "titleUg": "a", "titleKk": "b", "shareClass": "UNCONDITIONAL"}]
    for table in ("audit_log", "role_assignments"):
        code, revision = await walk_to(client, "draft", entry=entry_input(dataTable=table, items=items))
        body = await call(client, "wf.registrar", SUBMIT, code=code, revision=revision)
        violations = body["errors"][0]["extensions"]["violations"]
        assert {v["code"] for v in violations} == {"DATA_LOCATION_MISSING"}
        assert any("not a shared-data register" in v["message"] for v in violations), violations


async def test_a_table_changed_after_submit_is_caught_at_publish(client: httpx.AsyncClient,
                                                                 cluster: Cluster) -> None:
    items = [{"name": "citizen_id", "titleZh": "公民身份号码", "titleUg": "a", "titleKk": "b",
              "shareClass": "CONDITIONAL", "condition": "依职责查询", "isKey": True},
             {"name": "shoe_size", "titleZh": "鞋码", "titleUg": "a", "titleKk": "b", "shareClass": "UNCONDITIONAL"}]
    conn = await cluster.connect("650100")
    try:
        await conn.execute("create table wf_shoe_register (node_code text, row_id text, citizen_id text, "
                           "shoe_size text)")
        code, revision = await walk_to(client, "draft", entry=entry_input(dataTable="wf_shoe_register",
                                                                          items=items))
        body = await call(client, "wf.registrar", SUBMIT, code=code, revision=revision)
        assert body["data"]["submitCatalogEntry"]["state"] == "SUBMITTED", body
        body = await call(client, "wf.reviewer", REVIEW, code=code, revision=revision + 1, decision="APPROVE")
        assert body["data"]["reviewCatalogEntry"]["state"] == "APPROVED", body
        await conn.execute("alter table wf_shoe_register drop column shoe_size")
        body = await call(client, "wf.reviewer", PUBLISH, code=code, revision=revision + 2)
        assert code_of(body) == "DATA_LOCATION_MISSING" and body["data"] is None
        assert body["errors"][0]["extensions"]["violations"][0]["item"] == "shoe_size"
        resource = await conn.fetchval("select count(*) from resources where code = $1", code)
        assert resource == 0, "nothing went live"
    finally:
        await conn.execute("drop table if exists wf_shoe_register")
        await conn.close()


async def test_the_provider_level_published_is_its_codes(client: httpx.AsyncClient, cluster: Cluster) -> None:
    # 650100's row for its public-security bureau saying county: the level published with the entry is the
    # one its code says (policies.groups.department_facts), as the access rules take it
    conn = await cluster.connect("650100")
    try:
        await conn.execute("update departments set level = 'county' where code = '650100-GA'")
        code, _ = await walk_to(client, "published")
        level = await conn.fetchval("select provider_level from resources where code = $1", code)
    finally:
        await conn.execute("update departments set level = 'prefecture' where code = '650100-GA'")
        await conn.close()
    assert level == "prefecture"


async def test_a_kept_version_is_published_at_the_start_of_its_day_in_china_standard_time(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """published_on is a day of China Standard Time (README: the platform's days are CST); the version kept
    for it (the seed's, or a resource published before the workflow) used the server's local zone for its
    start: eight hours late on a UTC server, a day off west of it (closing7 "Left")."""
    conn = await cluster.connect("650000")
    try:
        rows = await conn.fetch("""select v.code, v.version, v.published_at, v.document::text as document,
            r.published_on from catalog_versions v join resources r on r.code = v.code and r.version = v.version
            where v.published_by = 'catalog' order by v.code limit 5""")
    finally:
        await conn.close()
    assert rows, "the seed keeps a version of every published entry"
    for row in rows:  # as the session's seed stored them
        assert row["published_at"] == datetime.combine(row["published_on"], time(0), CST), dict(row)
    monkeypatch.setenv("TZ", "America/New_York")
    clock.tzset()
    try:
        row = rows[0]
        kept = kept_version(row["code"], row["version"], row["published_on"],
                            Document.from_json(json.loads(row["document"])))
    finally:
        monkeypatch.undo()
        clock.tzset()
    assert kept[3] == datetime.combine(row["published_on"], time(0), CST)
    assert kept[3].utcoffset() == timedelta(hours=8)  # type: ignore[attr-defined]
