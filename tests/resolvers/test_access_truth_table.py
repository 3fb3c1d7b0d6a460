"""Truth table: share class x grant state x purpose x action, over HTTP against real nodes."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import pytest

from ..helpers import gql, token
from .conftest import NO_GRANT_DEPT, PURPOSES, SCOPED_DEPT, TABLE_DEPT

ITEM = {"UNCONDITIONAL": ("name", "name"), "CONDITIONAL": ("birth_date", "birthDate"),
        "NOT_SHARED": ("biometric_template_id", "biometricTemplateId")}

# (share class, grant state, purpose, action) -> None when allowed, else the reason
ROWS: list[tuple[str, str, str, str, str | None]] = [
    # CONDITIONAL: only an active grant for the stated purpose opens the item for reading
    ("CONDITIONAL", "active", "matching", "read", None),
    ("CONDITIONAL", "active", "different", "read", "PURPOSE_MISMATCH"),
    ("CONDITIONAL", "active", "missing", "read", "PURPOSE_MISSING"),
    ("CONDITIONAL", "expired", "matching", "read", "GRANT_EXPIRED"),
    ("CONDITIONAL", "expired", "different", "read", "PURPOSE_MISMATCH"),
    ("CONDITIONAL", "expired", "missing", "read", "PURPOSE_MISSING"),
    ("CONDITIONAL", "not_yet_valid", "matching", "read", "GRANT_NOT_YET_VALID"),
    ("CONDITIONAL", "not_yet_valid", "different", "read", "PURPOSE_MISMATCH"),
    ("CONDITIONAL", "not_yet_valid", "missing", "read", "PURPOSE_MISSING"),
    ("CONDITIONAL", "revoked", "matching", "read", "GRANT_REVOKED"),
    ("CONDITIONAL", "revoked", "different", "read", "PURPOSE_MISMATCH"),
    ("CONDITIONAL", "revoked", "missing", "read", "PURPOSE_MISSING"),
    ("CONDITIONAL", "none", "matching", "read", "NO_GRANT"),
    ("CONDITIONAL", "none", "different", "read", "NO_GRANT"),
    ("CONDITIONAL", "none", "missing", "read", "NO_GRANT"),
    # verification of CONDITIONAL items needs no grant (default rules)
    ("CONDITIONAL", "active", "matching", "verify", None),
    ("CONDITIONAL", "expired", "matching", "verify", None),
    ("CONDITIONAL", "revoked", "missing", "verify", None),
    ("CONDITIONAL", "none", "missing", "verify", None),
    # UNCONDITIONAL: every authenticated department, whatever its grants or purpose
    ("UNCONDITIONAL", "none", "missing", "read", None),
    ("UNCONDITIONAL", "expired", "different", "read", None),
    ("UNCONDITIONAL", "revoked", "matching", "read", None),
    ("UNCONDITIONAL", "active", "matching", "verify", None),
    ("UNCONDITIONAL", "none", "missing", "verify", None),
    # NOT_SHARED: never read; verified only by a department a rule names (not these)
    ("NOT_SHARED", "active", "matching", "read", "NOT_SHARED"),
    ("NOT_SHARED", "none", "missing", "read", "NOT_SHARED"),
    ("NOT_SHARED", "revoked", "different", "read", "NOT_SHARED"),
    ("NOT_SHARED", "active", "matching", "verify", "NOT_SHARED"),
    ("NOT_SHARED", "none", "missing", "verify", "NOT_SHARED"),
]


def _purpose(state: str, purpose: str) -> str | None:
    if purpose == "missing":
        return None
    if purpose == "different":
        return "P-something-else"
    return PURPOSES.get(state, PURPOSES["active"])


async def _read(client: httpx.AsyncClient, department: str, field: str, purpose: str | None
                ) -> tuple[dict[str, Any], httpx.Response]:
    headers = {"Authorization": f"Bearer {token(department)}"}
    if purpose is not None:  # the header form, percent-encoded UTF-8
        headers["X-Govshare-Purpose"] = urllib.parse.quote(purpose)
    return await gql(client, f"{{ population(first: 3) {{ nodes {{ name {field} }} }} }}", **headers)


@pytest.mark.parametrize(("share_class", "state", "purpose", "action", "reason"), ROWS,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[3]}" for r in ROWS])
async def test_truth_table(client: httpx.AsyncClient, grants: dict[str, int], share_class: str, state: str,
                           purpose: str, action: str, reason: str | None) -> None:
    department = NO_GRANT_DEPT if state == "none" else TABLE_DEPT
    item, field = ITEM[share_class]
    stated = _purpose(state, purpose)
    if action == "read":
        body, response = await _read(client, department, field, stated)
        assert response.status_code == 200
        rows = body["data"]["population"]["nodes"]
        assert len(rows) == 3 and all(r["name"] for r in rows)
        if reason is None:
            assert all(r[field] is not None for r in rows)
            assert [e for e in body.get("errors", []) if e["extensions"]["code"] == "FIELD_FORBIDDEN"] == []
        else:
            assert all(r[field] is None for r in rows)
            errors = [e for e in body["errors"] if e["extensions"]["code"] == "FIELD_FORBIDDEN"]
            assert len(errors) == 1, "one error per denied field, not one per row"
            ext = errors[0]["extensions"]
            assert (ext["item"], ext["reason"], ext["shareClass"]) == (item, reason, share_class)
            assert errors[0]["path"] == ["population", "nodes", 0, field]
            if share_class == "NOT_SHARED":
                assert "《" in ext["legalBasis"]
            if share_class == "CONDITIONAL":
                assert "share request" in ext["howToRequest"]
    else:
        citizen = await _a_citizen(client)
        body, _ = await gql(client, """query($k: String!, $v: [VerifyValue!]!, $p: String) {
            verify(resource: "population", key: $k, values: $v, purpose: $p) { found items { item outcome reason } } }""",
                            {"k": citizen["id"], "v": [{"item": item, "value": citizen[item]}], "p": stated},
                            Authorization=f"Bearer {token(department)}")
        outcome = body["data"]["verify"]["items"][0]
        assert outcome["item"] == item
        if reason is None:
            assert outcome == {"item": item, "outcome": "MATCH", "reason": None}
        else:
            assert outcome == {"item": item, "outcome": "FORBIDDEN", "reason": reason}


async def _a_citizen(client: httpx.AsyncClient) -> dict[str, str]:
    """A real record, read under the seeded grant of 650000-RS (no row scope)."""
    body, _ = await gql(client, """{ population(first: 1, purpose: "社会保险参保资格核验") {
        nodes { citizenId name birthDate } } }""", Authorization=f"Bearer {token('650000-RS')}")
    row = body["data"]["population"]["nodes"][0]
    return {"id": row["citizenId"], "name": row["name"], "birth_date": row["birthDate"],
            "biometric_template_id": "BT000000000000"}


# Row scope: SCOPED_DEPT holds a grant for address and birth_date, purpose P-scope, rows of division 650100.
# (share class, rows asked for, purpose) -> None when allowed, else the reason
SCOPE_ROWS: list[tuple[str, str, str, str | None]] = [
    ("CONDITIONAL", "inside", "matching", None),
    ("CONDITIONAL", "outside", "matching", "OUT_OF_SCOPE"),
    ("CONDITIONAL", "unrestricted", "matching", None),  # allowed, and the rows are restricted to the scope
    ("CONDITIONAL", "inside", "different", "PURPOSE_MISMATCH"),
    ("CONDITIONAL", "outside", "missing", "PURPOSE_MISSING"),
    ("UNCONDITIONAL", "outside", "matching", None),
    ("UNCONDITIONAL", "unrestricted", "missing", None),
    ("NOT_SHARED", "inside", "matching", "NOT_SHARED"),
]
ASKED = {"inside": ["650100"], "outside": ["650200"], "unrestricted": None}


@pytest.mark.parametrize(("share_class", "rows", "purpose", "reason"), SCOPE_ROWS,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in SCOPE_ROWS])
async def test_truth_table_with_row_scope(client: httpx.AsyncClient, grants: dict[str, int], share_class: str,
                                          rows: str, purpose: str, reason: str | None) -> None:
    _, field = ITEM[share_class] if share_class != "CONDITIONAL" else ("address", "address")
    stated = {"matching": "P-scope", "different": "P-other", "missing": None}[purpose]
    body, _ = await gql(client, "query($n: [String!], $p: String) { population(first: 50, purpose: $p, "
                                "filter: {nodes: $n}) { rowScope nodes { divisionCode name " + field + " } } }",
                        {"n": ASKED[rows], "p": stated}, Authorization=f"Bearer {token(SCOPED_DEPT)}")
    page = body["data"]["population"]
    assert page["nodes"], "rows come back either way: only the denied field is withheld"
    divisions = {r["divisionCode"] for r in page["nodes"]}
    if ASKED[rows]:
        assert divisions == set(ASKED[rows])
    if reason is None:
        assert all(r[field] is not None for r in page["nodes"])
        scoped = share_class == "CONDITIONAL"
        assert page["rowScope"] == (["650100"] if scoped else None)
        if scoped:
            assert divisions == {"650100"}
    else:
        assert all(r[field] is None for r in page["nodes"])
        assert [(e["extensions"]["reason"], e["extensions"]["item"]) for e in body["errors"]] == [
            (reason, {"address": "address", "biometricTemplateId": "biometric_template_id"}[field])]


async def test_a_garbled_purpose_header_is_refused(client: httpx.AsyncClient) -> None:
    """Found from outside: invalid percent-encoding was decoded loosely into a silent PURPOSE_MISMATCH."""
    for header in ("%E6%9C%80%ZZ", "%FF%FE", "%E6%9C"):
        body, _ = await gql(client, "{ population(first: 1) { nodes { birthDate } } }",
                            **{"X-Govshare-Purpose": header})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (header, body)
