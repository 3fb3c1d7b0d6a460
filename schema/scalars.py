"""Scalars whose default parsing is not safe here: a DateTime must say which instant it means."""

from __future__ import annotations

import datetime as dt
from typing import Final

from strawberry.schema.types.base_scalars import wrap_parser
from strawberry.types.scalar import ScalarDefinition


def _aware(value: str) -> dt.datetime:
    # A time without an offset is ambiguous (the platform runs on China Standard Time, clients and
    # databases often on UTC: eight hours apart) and cannot be compared with the service's own clock, so it
    # is refused at the boundary instead of guessed.
    parsed = dt.datetime.fromisoformat(value)  # ISO 8601 as Python 3.11 reads it, 'Z' included
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("It needs a UTC offset, e.g. 2026-11-28T08:00:00+08:00 or 2026-11-28T00:00:00Z.")
    return parsed


AWARE_DATETIME: Final = ScalarDefinition(
    name="DateTime",
    description="Date with time and UTC offset (ISO 8601), e.g. 2026-11-28T08:00:00+08:00",
    specified_by_url=None,
    serialize=dt.datetime.isoformat,
    parse_value=wrap_parser(_aware, "DateTime"),
    parse_literal=None,
    origin=dt.datetime,
)

SCALAR_OVERRIDES: Final = {dt.datetime: AWARE_DATETIME}
