"""Inputs and outputs shared by every generated data query: filters, ordering, verification."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum

import strawberry


@strawberry.input(description="Conditions on a text item; they combine with AND.")
class StringFilter:
    eq: str | None = None
    in_: list[str] | None = strawberry.field(default=None, name="in")
    is_null: bool | None = None


@strawberry.input(description="Conditions on a date item; they combine with AND.")
class DateFilter:
    eq: date | None = None
    in_: list[date] | None = strawberry.field(default=None, name="in")
    gte: date | None = None
    lte: date | None = None
    is_null: bool | None = None


@strawberry.input(description="Conditions on a date-time item; they combine with AND.")
class DateTimeFilter:
    eq: datetime | None = None
    gte: datetime | None = None
    lte: datetime | None = None
    is_null: bool | None = None


@strawberry.input(description="Conditions on an integer item; they combine with AND.")
class IntFilter:
    eq: int | None = None
    in_: list[int] | None = strawberry.field(default=None, name="in")
    gte: int | None = None
    lte: int | None = None
    is_null: bool | None = None


@strawberry.input(description="Conditions on a decimal item; they combine with AND.")
class DecimalFilter:
    eq: Decimal | None = None
    gte: Decimal | None = None
    lte: Decimal | None = None
    is_null: bool | None = None


@strawberry.input(description="Conditions on a yes/no item.")
class BooleanFilter:
    eq: bool | None = None
    is_null: bool | None = None


FILTERS: dict[str, type] = {"string": StringFilter, "date": DateFilter, "datetime": DateTimeFilter,
                            "integer": IntFilter, "decimal": DecimalFilter, "boolean": BooleanFilter}
PYTHON_TYPES: dict[str, type] = {"string": str, "date": date, "datetime": datetime, "integer": int,
                                 "decimal": Decimal, "boolean": bool}


@strawberry.enum
class Direction(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.enum(description="Result of verifying one item against the source.")
class VerificationOutcome(Enum):
    MATCH = "MATCH"
    MISMATCH = "MISMATCH"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"


@strawberry.input
class VerifyValue:
    item: str = strawberry.field(description="Item name as in the catalog, e.g. birth_date.")
    value: str = strawberry.field(description="The value the caller holds; dates as YYYY-MM-DD.")


@strawberry.type
class VerifiedItem:
    item: str
    outcome: VerificationOutcome
    reason: str | None = strawberry.field(description="Why FORBIDDEN (NOT_SHARED, POLICY_DENIED, ...).")


@strawberry.type(description="Verification result: match or not per item; stored values are never returned.")
class Verification:
    resource: str
    found: bool
    items: list[VerifiedItem]
