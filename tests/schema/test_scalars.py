"""A DateTime argument without a UTC offset is refused at the boundary (it used to reach a comparison
with the service's aware clock and end as an internal error), in literals and in variables alike."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from graphql import GraphQLError

from govshare.schema.scalars import AWARE_DATETIME, BIG_INT, DATE

from ..admin_helpers import as_user
from ..helpers import gql, token

USAGE = "{ usageStatistics(since: %s) { rows { department } unavailableNodes } }"
USAGE_VARIABLES = "query($since: DateTime) { usageStatistics(since: $since) { rows { department } } }"


@pytest.mark.parametrize("since", ['"2000-01-01T00:00:00"', '"2026-11-28 08:00"'])
async def test_a_naive_datetime_literal_is_bad_input(client: httpx.AsyncClient, since: str) -> None:
    body, _ = await gql(client, USAGE % since, **as_user("supervisor.region"))
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}, error  # as in a variable (closing7 "Left")
    assert "UTC offset" in error["message"]
    assert error["message"].startswith("Argument 'since' of field 'usageStatistics' has invalid value: "), error
    assert error["locations"] == [{"line": 1, "column": 26}], error  # the literal


async def test_a_naive_datetime_variable_is_bad_input(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, USAGE_VARIABLES, variables={"since": "2000-01-01T00:00:00"},
                        **as_user("supervisor.region"))
    [error] = body["errors"]
    assert error["extensions"]["code"] in ("BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"), error
    assert "UTC offset" in error["message"]


@pytest.mark.parametrize("since", ['"2000-01-01T00:00:00Z"', '"2000-01-01T08:00:00+08:00"'])
async def test_an_aware_datetime_is_accepted(client: httpx.AsyncClient, since: str) -> None:
    body, _ = await gql(client, USAGE % since, **as_user("supervisor.region"))
    assert "errors" not in body, body
    assert body["data"]["usageStatistics"]["unavailableNodes"] == []


def test_a_bigint_travels_as_digits_and_is_checked_on_the_way_in() -> None:
    """BigInt (an audit record's laneSeq): a string of digits out, so no client rounds it; in, a string of
    digits within 64 bits, anything else refused (a number too: one form, nothing a client could round)."""
    assert BIG_INT.serialize(2 ** 53 + 1) == "9007199254740993"
    assert BIG_INT.parse_value("9007199254740993") == 2 ** 53 + 1
    assert BIG_INT.parse_value("-5") == -5
    for bad in ("12a", "", " 1", "1.0", "١٢", str(2 ** 63), str(-(2 ** 63) - 1), 5, True, 1.5, None):
        with pytest.raises(GraphQLError):
            BIG_INT.parse_value(bad)


# trial-s7 F13/F14: a day beyond the accepted range (core/dates.py) used to reach the database (asyncpg's
# DataError, the region counted as down) or the calendar arithmetic (OverflowError, INTERNAL).
FAR_ARGUMENTS = [
    ("developer", '{ auditRecords(first: 1, since: "9999-12-31T23:59:59-12:00") { edges { node { seq } } } }'),
    ("developer", '{ auditRecords(first: 1, since: "0001-01-01T00:00:00+14:00") { edges { node { seq } } } }'),
    ("supervisor.region", '{ policyChanges(since: "9999-12-31T23:59:59-12:00") { id } }'),
    ("supervisor.region", '{ usageStatistics(since: "0001-01-01T00:00:00+14:00") { rows { department } } }'),
    ("supervisor.region", '{ policyAt(at: "9999-12-31T23:59:59-12:00") { at } }'),
    ("developer", '{ assessment(until: "9999-12-31T23:59:59Z") { rows { score } } }'),
    ("admin.region", '{ requestStatistics(groupBy: [MONTH], since: "9999-12-30T00:00:00Z", '
                     'until: "9999-12-31T23:59:59Z") { rows { received } } }'),
    ("developer", 'mutation { submitShareRequest(resourceCode: "650000-B01-000001", items: ["phone"], purpose: "x", '
                  'scenario: "s", users: ["u"], shareModes: [INTERFACE], until: "9999-12-31", basis: "b") { id } }'),
    ("admin.region", 'mutation { createGrant(grant: {department: "650100-GA", resource: "650000-B01-000001", '
                     'items: ["phone"], purpose: "x", until: "2027-01-01", validFrom: "0001-01-01"}, reason: "r") '
                     '{ grant { id } } }'),
]


@pytest.mark.parametrize(("user", "document"), FAR_ARGUMENTS)
async def test_a_day_out_of_range_is_bad_input_before_any_statement(client: httpx.AsyncClient, user: str,
                                                                   document: str) -> None:
    headers = as_user(user) if user != "developer" else {"Authorization": f"Bearer {token('650100-MZ')}"}
    pools = client.app.state.pools  # type: ignore[attr-defined]
    failures: list[str] = []
    observer = pools.observer
    pools.observer = lambda database, seconds, answered, *cause: failures.append(database) if not answered else None
    try:
        body, response = await gql(client, document, **headers)
    finally:
        pools.observer = observer
    assert body["errors"] and body.get("data") is None, body
    for error in body["errors"]:  # one per argument out of range, nothing else
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error  # literals and variables alike
        assert error["message"].startswith("Argument '") and "of field '" in error["message"], error
        assert "errorId" not in error["extensions"] and "Traceback" not in error["message"]
        assert "between 1800-01-01 and 2999-12-31" in error["message"], error
    assert response.headers.get("X-Govshare-Statements") in (None, "0"), response.headers
    assert failures == []  # no node counted as failing


async def test_a_day_out_of_range_in_a_variable_names_the_variable(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, USAGE_VARIABLES, variables={"since": "3000-01-01T00:00:00Z"},
                        **as_user("supervisor.region"))
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "$since" in error["message"] and "between 1800-01-01 and 2999-12-31" in error["message"], error


async def test_a_day_out_of_range_in_an_input_literal_names_its_argument(client: httpx.AsyncClient) -> None:
    document = ('mutation { createGrant(grant: {department: "650100-GA", resource: "650000-B01-000001", '
                'items: ["phone"], purpose: "x", until: "3000-01-01"}, reason: "r") { grant { id } } }')
    body, _ = await gql(client, document, **as_user("admin.region"))
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}, error
    assert error["message"] == ("Argument 'grant' of field 'createGrant' has invalid value: Value cannot represent "
                                'a Date: "3000-01-01". It must lie between 1800-01-01 and 2999-12-31: a day outside '
                                "that range means nothing here."), error


async def test_other_literal_errors_stay_validation_errors(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "{ usageStatistics(since: 5) { rows { department } } }",
                        **as_user("supervisor.region"))
    [error] = body["errors"]  # a number where a DateTime string belongs: refused by the scalar, named too
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "Argument 'since'" in error["message"], error
    body, _ = await gql(client, "{ auditRecords(first: \"x\") { edges { node { seq } } } }", Authorization=f"Bearer {token('650100-MZ')}")
    [error] = body["errors"]  # graphql-core's own finding keeps its validation code
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error


def test_the_scalars_take_the_range_inclusive() -> None:
    assert AWARE_DATETIME.parse_value("2999-12-31T23:59:59-12:00").year == 2999  # its own day counts
    assert AWARE_DATETIME.parse_value("1800-01-01T00:00:00+14:00").year == 1800
    assert DATE.parse_value("2999-12-31") == dt.date(2999, 12, 31)
    for bad in ("3000-01-01T00:00:00Z", "1799-12-31T23:59:59Z", "9999-12-31T23:59:59-12:00"):
        with pytest.raises(GraphQLError, match="between 1800-01-01 and 2999-12-31"):
            AWARE_DATETIME.parse_value(bad)
    for bad_day in ("3000-01-01", "1799-12-31", "0001-01-01", "9999-12-31"):
        with pytest.raises(GraphQLError, match="between 1800-01-01 and 2999-12-31"):
            DATE.parse_value(bad_day)
