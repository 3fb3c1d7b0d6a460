"""A DateTime argument without a UTC offset is refused at the boundary (it used to reach a comparison
with the service's aware clock and end as an internal error), in literals and in variables alike."""

from __future__ import annotations

import httpx
import pytest
from graphql import GraphQLError

from govshare.schema.scalars import BIG_INT

from ..admin_helpers import as_user
from ..helpers import gql

USAGE = "{ usageStatistics(since: %s) { rows { department } unavailableNodes } }"
USAGE_VARIABLES = "query($since: DateTime) { usageStatistics(since: $since) { rows { department } } }"


@pytest.mark.parametrize("since", ['"2000-01-01T00:00:00"', '"2026-11-28 08:00"'])
async def test_a_naive_datetime_literal_is_bad_input(client: httpx.AsyncClient, since: str) -> None:
    body, _ = await gql(client, USAGE % since, **as_user("supervisor.region"))
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] in ("BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"), error
    assert "UTC offset" in error["message"]
    assert "errorId" not in error["extensions"]


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
