"""Values the node databases can take, checked before any SQL.

PostgreSQL refuses some values Python holds happily: a NUL character in text, a numeric beyond its
range (``1e999999``), an integer beyond bigint. Sent as parameters they fail inside the database and
would surface as internal errors; checked here they are the caller's BAD_USER_INPUT.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from govshare.core.errors import BadRequest

# Far inside numeric's range (131,072 digits before the point, 16,383 after) and any column's
# precision: a value beyond it can only be a mistake, and expanding it would cost for nothing.
MAX_DECIMAL_DIGITS = 1000
BIGINT = 2**63


def check(value: Any, where: str) -> Any:
    """``value`` unchanged when the database can take it (lists element by element)."""
    if isinstance(value, list):
        for element in value:
            check(element, where)
    elif isinstance(value, str):
        if "\x00" in value:
            raise BadRequest(f"{where}: strings must not contain the NUL character")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise BadRequest(f"{where}: {value} is not a finite decimal")
        exponent = value.adjusted()
        if abs(exponent) > MAX_DECIMAL_DIGITS or len(value.as_tuple().digits) > MAX_DECIMAL_DIGITS:
            raise BadRequest(f"{where}: decimals may have at most {MAX_DECIMAL_DIGITS} digits "
                             "before or after the point")
    elif isinstance(value, int) and not isinstance(value, bool) and not -BIGINT <= value < BIGINT:
        raise BadRequest(f"{where}: integers must lie within 64-bit signed range")
    return value
