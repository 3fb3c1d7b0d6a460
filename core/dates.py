"""The one range of calendar days the service takes as input, for GraphQL's Date and DateTime scalars and
the command line's days alike.

Python's dates end at years 1 and 9999, PostgreSQL's timestamptz needs the instant in UTC within those too,
and the service turns instants into days of China Standard Time and adds days to them (a grant's end, a
working-day deadline): a value near either end overflows in one of these steps, which used to surface as an
internal error, a traceback, or a driver error counted against a node's health. A day outside this range
never means anything here (nobody the platform serves was born before 1800, and its records, calendars and
grants lie centuries inside 2999), so it is refused where it is read, before any arithmetic or SQL, with a
margin that keeps every such conversion safe.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

EARLIEST: Final = dt.date(1800, 1, 1)
LATEST: Final = dt.date(2999, 12, 31)
RANGE: Final = f"between {EARLIEST} and {LATEST}"


def day_out_of_range(day: dt.date) -> str | None:
    """Why ``day`` (a date, or a date-time's day in its own offset) is refused, or None when accepted.
    A date-time's offset is under a day, so its instant in UTC or in China Standard Time stays in range too."""
    if EARLIEST <= (day.date() if isinstance(day, dt.datetime) else day) <= LATEST:
        return None
    return f"It must lie {RANGE}: a day outside that range means nothing here."
