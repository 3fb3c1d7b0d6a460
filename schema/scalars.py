"""Scalars whose default parsing is not safe here: a DateTime must say which instant it means, a Date or a
DateTime must lie in the days core/dates.py accepts, and a PostgreSQL bigint does not fit GraphQL's Int
(32 bits) nor, past 2^53, a JavaScript number."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Final, NewType

from graphql import Node
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.schema.types.base_scalars import wrap_parser
from strawberry.types.scalar import ScalarDefinition

from govshare.core.dates import RANGE, day_out_of_range


class InputRefusal(StrawberryInputCoercionError):
    """A value of the right kind (a string) that one of these scalars refuses: the input's fault, so
    BAD_USER_INPUT wherever it is written. In a variable graphql-core wraps it ("Variable '$since' has
    invalid value: ..."); in a literal schema/literal_refusals.py names the argument, as validation
    otherwise reports it bare and with no code of its own (GRAPHQL_VALIDATION_FAILED)."""

    def __init__(self, message: str, nodes: list[Node] | None = None) -> None:
        super().__init__(message, nodes, extensions={"code": "BAD_USER_INPUT"})


def _refusing(parser: Callable[[str], object], name: str) -> Callable[[object], object]:
    parse = wrap_parser(parser, name)

    def parse_value(value: object) -> object:
        try:
            return parse(value)
        except StrawberryInputCoercionError as exc:
            raise InputRefusal(exc.message) from None

    return parse_value


def _aware(value: str) -> dt.datetime:
    # A time without an offset is ambiguous (the platform runs on China Standard Time, clients and
    # databases often on UTC: eight hours apart) and cannot be compared with the service's own clock, so it
    # is refused at the boundary instead of guessed.
    parsed = dt.datetime.fromisoformat(value)  # ISO 8601 as Python 3.11 reads it, 'Z' included
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("It needs a UTC offset, e.g. 2026-11-28T08:00:00+08:00 or 2026-11-28T00:00:00Z.")
    _in_range(parsed)
    return parsed


def _day(value: str) -> dt.date:
    parsed = dt.date.fromisoformat(value)  # as strawberry's own Date reads it
    _in_range(parsed)
    return parsed


def _in_range(day: dt.date) -> None:
    # Checked here, before any resolver converts, adds days or binds it (core/dates.py says why).
    refusal = day_out_of_range(day)
    if refusal is not None:
        raise ValueError(refusal)


AWARE_DATETIME: Final = ScalarDefinition(
    name="DateTime",
    description=f"Date with time and UTC offset (ISO 8601), e.g. 2026-11-28T08:00:00+08:00, its day {RANGE}",
    specified_by_url=None,
    serialize=dt.datetime.isoformat,
    parse_value=_refusing(_aware, "DateTime"),
    parse_literal=None,
    origin=dt.datetime,
)

DATE: Final = ScalarDefinition(
    name="Date",
    description=f"A calendar day (ISO 8601, YYYY-MM-DD) {RANGE}",
    specified_by_url=None,
    serialize=dt.date.isoformat,
    parse_value=_refusing(_day, "Date"),
    parse_literal=None,
    origin=dt.date,
)

# A PostgreSQL bigint (e.g. an audit record's lane_seq). GraphQL's Int is 32 bits (a value past 2^31 - 1 fails
# the whole field), and a JSON number past 2^53 is rounded by JavaScript clients (an auditor's tool would
# then name the wrong record), so it travels as a string of decimal digits, as GitHub's and Relay's big ids
# do, both ways: a number as input is refused like any other non-string (one form, nothing to round).
BigInt = NewType("BigInt", int)
BIGINT_MIN: Final = -(2 ** 63)
BIGINT_MAX: Final = 2 ** 63 - 1
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def _big_int(value: str) -> BigInt:
    if not _DIGITS.fullmatch(value):
        raise ValueError("It must be an integer as a string of decimal digits, e.g. \"4294967296\".")
    number = int(value)
    if not BIGINT_MIN <= number <= BIGINT_MAX:
        raise ValueError("It must fit in 64 bits (a PostgreSQL bigint).")
    return BigInt(number)


def _big_text(value: int) -> str:
    return str(int(value))


BIG_INT: Final = ScalarDefinition(
    name="BigInt",
    description="A 64-bit integer (PostgreSQL bigint) as a string of decimal digits, e.g. \"4294967296\": "
                "GraphQL's Int stops at 2^31 - 1 and JavaScript numbers are exact only up to 2^53.",
    specified_by_url=None,
    serialize=_big_text,
    parse_value=_refusing(_big_int, "BigInt"),
    parse_literal=None,
    origin=BigInt,
)

SCALAR_OVERRIDES: Final = {dt.datetime: AWARE_DATETIME, dt.date: DATE, BigInt: BIG_INT}
