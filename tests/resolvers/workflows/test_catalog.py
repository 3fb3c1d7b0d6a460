"""The catalog lifecycle through GraphQL: every transition allowed and refused by role, each submit
rule, concurrent edits (CONFLICT), publishing into the live schema (classes never loosened), new
versions with the old one readable, retirement, and changes of law or duties on the 15-day clock.
Reading entries: test_catalog_records.py; the checks and writes of going live:
test_catalog_publications.py; authority findings: test_catalog_findings.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import httpx
import pytest

from ...conftest import Cluster
from .conftest import call, code_of

pytestmark = pytest.mark.usefixtures("actors")

ENTRY_FIELDS = """code node providerCode state revision version warnings { code item }
    document { names { zh ug kk } updateCycle items { name shareClass condition legalBasis } }"""
CREATE = f"""mutation($code: String!, $provider: String!, $entry: CatalogEntryInput!) {{
  createCatalogEntry(code: $code, providerCode: $provider, entry: $entry) {{ {ENTRY_FIELDS} }} }}"""
EDIT = f"""mutation($code: String!, $revision: Int!, $entry: CatalogEntryInput!) {{
  editCatalogEntry(code: $code, revision: $revision, entry: $entry) {{ {ENTRY_FIELDS} }} }}"""
SUBMIT = f"""mutation($code: String!, $revision: Int!) {{
  submitCatalogEntry(code: $code, revision: $revision) {{ {ENTRY_FIELDS} }} }}"""
REVIEW = f"""mutation($code: String!, $revision: Int!, $decision: ReviewDecision!, $opinion: String) {{
  reviewCatalogEntry(code: $code, revision: $revision, decision: $decision, opinion: $opinion) {{ {ENTRY_FIELDS} }} }}"""
PUBLISH = f"""mutation($code: String!, $revision: Int!) {{
  publishCatalogEntry(code: $code, revision: $revision) {{ {ENTRY_FIELDS} }} }}"""
NEW_VERSION = f"""mutation($code: String!, $revision: Int!) {{
  newCatalogVersion(code: $code, revision: $revision) {{ {ENTRY_FIELDS} }} }}"""
RETIRE = f"""mutation($code: String!, $revision: Int!, $opinion: String!) {{
  retireCatalogEntry(code: $code, revision: $revision, opinion: $opinion) {{ {ENTRY_FIELDS} }} }}"""
DUTY = """mutation($code: String!, $revision: Int!, $on: Date!) {
  recordDutyChange(code: $code, revision: $revision, kind: LAW, changedOn: $on, reference: "新疆维吾尔自治区数据条例") {
    id dueOn overdue fulfilledAt } }"""
ENTRY = """query($code: String!) { catalogEntry(code: $code) { state revision version
  history { actor action fromState toState revision version opinion }
  versions { version publishedBy document { names { zh } items { name } } }
  dutyChanges { dueOn overdue fulfilledVersion } } }"""
FIELDS = '{ __type(name: "Query") { fields { name } } }'


def new_code(node: str = "650100") -> str:
    return f"{node}-WF{uuid.uuid4().int % 100:02d}-{uuid.uuid4().int % 1_000_000:06d}"


def entry_input(api_name: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "classification": "DEPARTMENT", "category": "population", "format": "database",
        "nameZh": "乌鲁木齐市常住人口", "nameUg": "ئۈرۈمچى نوپۇسى", "nameKk": "ۇرىمجى حالقى", "nameEn": "Urumqi residents",
        "summaryZh": "测试用目录", "updateCycle": "DAILY", "shareModes": ["INTERFACE"], "dataTable": "population",
        "apiName": api_name or f"wfResidents{uuid.uuid4().hex[:8]}",
        "items": [
            {"name": "citizen_id", "titleZh": "公民身份号码", "titleUg": "كىملىك", "titleKk": "كۋالىك",
             "shareClass": "CONDITIONAL", "condition": "依职责查询", "isKey": True},
            {"name": "name", "titleZh": "姓名", "titleUg": "ئىسىم", "titleKk": "اتى", "shareClass": "UNCONDITIONAL"},
            # The register's owner (the region) classifies phone CONDITIONAL: this looser class must not apply.
            {"name": "phone", "titleZh": "联系电话", "titleUg": "تېلېفون", "titleKk": "تەلەفون",
             "shareClass": "UNCONDITIONAL"},
            {"name": "biometric_template_id", "titleZh": "生物特征模板编号", "titleUg": "بىيو", "titleKk": "بيو",
             "shareClass": "NOT_SHARED", "legalBasis": "《中华人民共和国个人信息保护法》第二十八条"},
        ]}
    body.update(changes)
    return body


async def walk_to(client: httpx.AsyncClient, state: str, code: str | None = None,
                  entry: dict[str, Any] | None = None) -> tuple[str, int]:
    """Create an entry and move it to ``state`` with the right actors; its code and revision."""
    code = code or new_code()
    body = await call(client, "wf.registrar", CREATE, code=code, provider="650100-GA", entry=entry or entry_input())
    revision = body["data"]["createCatalogEntry"]["revision"]
    steps: list[tuple[str, str, str, dict[str, Any]]] = [
        ("submitted", "wf.registrar", SUBMIT, {}),
        ("approved", "wf.reviewer", REVIEW, {"decision": "APPROVE"}),
        ("published", "wf.reviewer", PUBLISH, {}),
        ("retired", "wf.reviewer", RETIRE, {"opinion": "no longer collected"}),
    ]
    for target, user, mutation, extra in steps:
        if state == "draft":
            break
        body = await call(client, user, mutation, code=code, revision=revision, **extra)
        assert "errors" not in body, body
        revision = next(iter(body["data"].values()))["revision"]
        if target == state:
            break
    return code, revision


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def query_fields(client: httpx.AsyncClient) -> set[str]:
    body = await call(client, "wf.developer", FIELDS)
    return {f["name"] for f in body["data"]["__type"]["fields"]}


async def test_lifecycle_publish_version_retire(client: httpx.AsyncClient, cluster: Cluster) -> None:
    api = f"wfResidents{uuid.uuid4().hex[:8]}"
    code = new_code()
    body = await call(client, "wf.registrar", CREATE, code=code, provider="650100-GA",
                      entry=entry_input(api, nameUg=None, updateCycle=None))
    created = body["data"]["createCatalogEntry"]
    assert (created["state"], created["revision"], created["version"]) == ("DRAFT", 1, 1)
    assert {"code": "UYGHUR_NAME_MISSING", "item": None} in created["warnings"]

    body = await call(client, "wf.registrar", SUBMIT, code=code, revision=1)
    assert code_of(body) == "UPDATE_CYCLE_MISSING"
    body = await call(client, "wf.registrar", EDIT, code=code, revision=1, entry=entry_input(api, nameUg=None))
    assert body["data"]["editCatalogEntry"]["revision"] == 2
    body = await call(client, "wf.registrar", SUBMIT, code=code, revision=2)
    submitted = body["data"]["submitCatalogEntry"]
    assert submitted["state"] == "SUBMITTED" and submitted["warnings"][0]["code"] == "UYGHUR_NAME_MISSING"

    body = await call(client, "wf.reviewer", REVIEW, code=code, revision=3, decision="RETURN")
    assert code_of(body) == "BAD_USER_INPUT", "a return needs an opinion"
    body = await call(client, "wf.reviewer", REVIEW, code=code, revision=3, decision="RETURN",
                      opinion="请补充维吾尔文名称")
    assert body["data"]["reviewCatalogEntry"]["state"] == "DRAFT"
    await call(client, "wf.registrar", EDIT, code=code, revision=4, entry=entry_input(api))
    await call(client, "wf.registrar", SUBMIT, code=code, revision=5)
    body = await call(client, "wf.reviewer", REVIEW, code=code, revision=6, decision="APPROVE", opinion="同意")
    assert body["data"]["reviewCatalogEntry"]["state"] == "APPROVED"
    assert api not in await query_fields(client)
    body = await call(client, "wf.reviewer", PUBLISH, code=code, revision=7)
    assert body["data"]["publishCatalogEntry"]["state"] == "PUBLISHED"

    async def served() -> bool:
        return api in await query_fields(client)

    assert await until(served), "the published entry did not reach the schema"
    # The looser class of phone is not applied (the region owns the register); name is unconditional.
    body = await call(client, "wf.applicant", f"{{ {api}(first: 2) {{ nodes {{ name phone }} }} }}")
    assert len(body["data"][api]["nodes"]) == 2 and all(n["name"] for n in body["data"][api]["nodes"])
    assert {e["extensions"]["item"] for e in body["errors"]} == {"phone"}

    # A new version: the published one keeps serving while the draft is edited.
    body = await call(client, "wf.region.registrar", NEW_VERSION, code=code, revision=8)
    assert code_of(body) == "FORBIDDEN", "a registrar of another department may not start a version"
    body = await call(client, "wf.registrar", NEW_VERSION, code=code, revision=8)
    assert (body["data"]["newCatalogVersion"]["state"], body["data"]["newCatalogVersion"]["version"]) == ("DRAFT", 2)
    assert api in await query_fields(client)
    await call(client, "wf.registrar", EDIT, code=code, revision=9, entry=entry_input(api, nameZh="乌鲁木齐市人口（第二版）"))
    # Everyone else still reads the published version while the next one is drafted (found from outside).
    body = await call(client, "wf.developer", ENTRY, code=code)
    assert (body["data"]["catalogEntry"]["state"], body["data"]["catalogEntry"]["version"]) == ("PUBLISHED", 1)
    await call(client, "wf.registrar", SUBMIT, code=code, revision=10)
    await call(client, "wf.reviewer", REVIEW, code=code, revision=11, decision="APPROVE")
    body = await call(client, "wf.reviewer", PUBLISH, code=code, revision=12)
    assert body["data"]["publishCatalogEntry"]["version"] == 2
    conn = await cluster.connect("650100")
    try:
        live = await conn.fetchrow("select name_zh, version, status from resources where code = $1", code)
    finally:
        await conn.close()
    assert tuple(live) == ("乌鲁木齐市人口（第二版）", 2, "published")

    body = await call(client, "wf.developer", ENTRY, code=code)
    entry = body["data"]["catalogEntry"]
    assert [v["version"] for v in entry["versions"]] == [1, 2]
    assert entry["versions"][0]["document"]["names"]["zh"] == "乌鲁木齐市常住人口"
    assert [(h["action"], h["fromState"], h["toState"]) for h in entry["history"]] == [
        ("create", None, "DRAFT"), ("edit", "DRAFT", "DRAFT"), ("submit", "DRAFT", "SUBMITTED"),
        ("return", "SUBMITTED", "DRAFT"), ("edit", "DRAFT", "DRAFT"), ("submit", "DRAFT", "SUBMITTED"),
        ("approve", "SUBMITTED", "APPROVED"), ("publish", "APPROVED", "PUBLISHED"),
        ("new_version", "PUBLISHED", "DRAFT"), ("edit", "DRAFT", "DRAFT"), ("submit", "DRAFT", "SUBMITTED"),
        ("approve", "SUBMITTED", "APPROVED"), ("publish", "APPROVED", "PUBLISHED")]
    assert entry["history"][3]["opinion"] == "请补充维吾尔文名称" and entry["history"][3]["actor"] == "wf.reviewer"

    body = await call(client, "wf.reviewer", RETIRE, code=code, revision=13, opinion="停止采集")
    assert body["data"]["retireCatalogEntry"]["state"] == "RETIRED"

    async def gone() -> bool:
        return api not in await query_fields(client)

    assert await until(gone), "the retired entry is still served"


# (step, the actor refused, the state it is tried in)
REFUSALS = [
    ("create", "wf.developer"), ("create", "wf.reviewer"), ("create", "wf.registrar.sj"),
    ("create", "wf.region.registrar"),
    ("edit", "wf.developer"), ("edit", "wf.reviewer"), ("edit", "wf.registrar.sj"),
    ("submit", "wf.reviewer"), ("submit", "wf.registrar.sj"),
    ("review", "wf.registrar"), ("review", "wf.reviewer.karamay"), ("review", "wf.developer"),
    ("publish", "wf.registrar"), ("publish", "wf.reviewer.karamay"),
    ("new_version", "wf.reviewer"), ("new_version", "wf.registrar.sj"),
    ("retire", "wf.registrar"), ("retire", "wf.reviewer.karamay"),
]
STATE_FOR = {"edit": "draft", "submit": "draft", "review": "submitted", "publish": "approved",
             "new_version": "published", "retire": "published"}


@pytest.mark.parametrize(("step", "user"), REFUSALS, ids=[f"{s}-{u}" for s, u in REFUSALS])
async def test_transitions_refused_by_role(client: httpx.AsyncClient, step: str, user: str) -> None:
    if step == "create":
        body = await call(client, user, CREATE, code=new_code(), provider="650100-GA", entry=entry_input())
        assert code_of(body) == "FORBIDDEN"
        return
    code, revision = await walk_to(client, STATE_FOR[step])
    mutation, extra = {
        "edit": (EDIT, {"entry": entry_input()}), "submit": (SUBMIT, {}),
        "review": (REVIEW, {"decision": "APPROVE"}), "publish": (PUBLISH, {}),
        "new_version": (NEW_VERSION, {}), "retire": (RETIRE, {"opinion": "x"}),
    }[step]
    body = await call(client, user, mutation, code=code, revision=revision, **extra)
    assert code_of(body) == "FORBIDDEN", body
    body = await call(client, "wf.registrar", ENTRY, code=code)
    assert body["data"]["catalogEntry"]["revision"] == revision, "a refused step changed the entry"


async def test_transitions_refused_by_state(client: httpx.AsyncClient) -> None:
    code, revision = await walk_to(client, "draft")
    body = await call(client, "wf.reviewer", PUBLISH, code=code, revision=revision)
    assert code_of(body) == "INVALID_TRANSITION"
    body = await call(client, "wf.reviewer", REVIEW, code=code, revision=revision, decision="APPROVE")
    assert code_of(body) == "INVALID_TRANSITION"
    code, revision = await walk_to(client, "submitted")
    body = await call(client, "wf.registrar", EDIT, code=code, revision=revision, entry=entry_input())
    assert code_of(body) == "INVALID_TRANSITION", "a submitted entry is not edited"


BROKEN = {
    "NO_ITEMS": {"items": []},
    "NOT_SHARED_WITHOUT_LEGAL_BASIS": {"items": [{"name": "name", "titleZh": "姓名", "titleUg": "a", "titleKk": "b",
                                                  "shareClass": "NOT_SHARED"}]},
    "CONDITION_MISSING": {"items": [{"name": "name", "titleZh": "姓名", "titleUg": "a", "titleKk": "b",
                                     "shareClass": "CONDITIONAL"}]},
    "DATA_LOCATION_MISSING": {"dataTable": None},
    "UPDATE_CYCLE_MISSING": {"updateCycle": None},
    "CHINESE_NAME_MISSING": {"nameZh": "Urumqi residents"},
}


@pytest.mark.parametrize("rule", list(BROKEN))
async def test_each_submit_rule(client: httpx.AsyncClient, rule: str) -> None:
    code, revision = await walk_to(client, "draft", entry=entry_input(**BROKEN[rule]))
    body = await call(client, "wf.registrar", SUBMIT, code=code, revision=revision)
    assert code_of(body) == rule
    assert [v["code"] for v in body["errors"][0]["extensions"]["violations"]] == [rule]
    assert body["data"] is None


async def test_concurrent_edits_one_wins_the_other_conflicts(client: httpx.AsyncClient) -> None:
    code, revision = await walk_to(client, "draft")
    first, second = await asyncio.gather(
        call(client, "wf.registrar", EDIT, code=code, revision=revision, entry=entry_input(nameZh="甲版本")),
        call(client, "wf.registrar", EDIT, code=code, revision=revision, entry=entry_input(nameZh="乙版本")))
    outcomes = sorted([code_of(first) or "OK", code_of(second) or "OK"])
    assert outcomes == ["CONFLICT", "OK"]
    loser = first if code_of(first) else second
    assert loser["errors"][0]["extensions"]["current"] == revision + 1
    winner = second if code_of(first) else first
    body = await call(client, "wf.registrar", ENTRY, code=code)
    assert body["data"]["catalogEntry"]["revision"] == revision + 1
    assert len(body["data"]["catalogEntry"]["history"]) == 2, "exactly one edit recorded"
    assert winner["data"]["editCatalogEntry"]["revision"] == revision + 1
    body = await call(client, "wf.registrar", SUBMIT, code=code, revision=revision)
    assert code_of(body) == "CONFLICT", "a stale revision is refused for every step"


async def test_duty_change_due_in_fifteen_working_days(client: httpx.AsyncClient) -> None:
    code, revision = await walk_to(client, "published")
    body = await call(client, "wf.applicant", DUTY, code=code, revision=revision, on="2026-09-28")
    assert code_of(body) == "FORBIDDEN"
    body = await call(client, "wf.registrar", DUTY, code=code, revision=revision, on="2026-09-28")
    change = body["data"]["recordDutyChange"]
    # 15 working days after Monday 2026-09-28 across the National Day week and Saturday 10-10: 10-23.
    assert change["dueOn"] == "2026-10-23" and change["overdue"] is (date.today() > date(2026, 10, 23))
    body = await call(client, "wf.reviewer", "{ openDutyChanges { code dueOn overdue } }")
    assert {"code": code, "dueOn": "2026-10-23", "overdue": change["overdue"]} in body["data"]["openDutyChanges"]
    # A new published version fulfils it.
    body = await call(client, "wf.registrar", NEW_VERSION, code=code, revision=revision + 1)
    revision = body["data"]["newCatalogVersion"]["revision"]
    for user, mutation, extra in (("wf.registrar", SUBMIT, {}), ("wf.reviewer", REVIEW, {"decision": "APPROVE"}),
                                  ("wf.reviewer", PUBLISH, {})):
        body = await call(client, user, mutation, code=code, revision=revision, **extra)
        revision = next(iter(body["data"].values()))["revision"]
    body = await call(client, "wf.registrar", ENTRY, code=code)
    assert body["data"]["catalogEntry"]["dutyChanges"] == [{"dueOn": "2026-10-23", "overdue": False,
                                                           "fulfilledVersion": 2}]
    body = await call(client, "wf.reviewer", "{ openDutyChanges { code } }")
    assert code not in {d["code"] for d in body["data"]["openDutyChanges"]}


async def test_seeded_resource_gets_a_new_version_with_the_old_one_kept(client: httpx.AsyncClient) -> None:
    body = await call(client, "wf.region.registrar", ENTRY, code="650000-B05-000001")
    entry = body["data"]["catalogEntry"]
    assert (entry["state"], entry["revision"], entry["version"]) == ("PUBLISHED", 0, 1)
    body = await call(client, "wf.registrar", NEW_VERSION, code="650000-B05-000001", revision=0)
    assert code_of(body) == "FORBIDDEN"
    # The provider of business licences is 650000-SJ: the region's GA registrar is not it.
    body = await call(client, "wf.region.registrar", NEW_VERSION, code="650000-B05-000001", revision=0)
    assert code_of(body) == "FORBIDDEN"
    body = await call(client, "wf.region.registrar", NEW_VERSION, code="650000-B01-000001", revision=0)
    started = body["data"]["newCatalogVersion"]
    assert (started["state"], started["revision"], started["version"]) == ("DRAFT", 1, 2)
    body = await call(client, "wf.region.registrar", ENTRY, code="650000-B01-000001")
    assert [v["version"] for v in body["data"]["catalogEntry"]["versions"]] == [1]
    body = await call(client, "wf.developer", "{ population(first: 1) { nodes { name } } }")
    assert body["data"]["population"]["nodes"], "the published version keeps serving"
