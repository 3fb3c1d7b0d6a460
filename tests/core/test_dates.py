"""The one range of days taken as input (GraphQL's Date and DateTime, the command line's days)."""

from __future__ import annotations

import datetime as dt

from govshare.core.dates import EARLIEST, LATEST, day_out_of_range

PLUS_14 = dt.timezone(dt.timedelta(hours=14))
MINUS_12 = dt.timezone(dt.timedelta(hours=-12))


def test_the_range_is_inclusive_and_a_date_times_own_day_counts() -> None:
    assert (dt.date(1800, 1, 1), dt.date(2999, 12, 31)) == (EARLIEST, LATEST)
    for day in (EARLIEST, LATEST, dt.datetime(1800, 1, 1, tzinfo=PLUS_14),
                dt.datetime(2999, 12, 31, 23, 59, 59, tzinfo=MINUS_12)):
        assert day_out_of_range(day) is None, day
    for day in (dt.date(1799, 12, 31), dt.date(3000, 1, 1), dt.date.min, dt.date.max,
                dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_12), dt.datetime(1, 1, 1, tzinfo=PLUS_14)):
        assert day_out_of_range(day) == ("It must lie between 1800-01-01 and 2999-12-31: a day outside that "
                                         "range means nothing here."), day


def test_every_accepted_instant_converts_and_moves_a_day_safely() -> None:
    """What the range is for: in UTC, in China Standard Time, and a day on, nothing overflows."""
    cst = dt.timezone(dt.timedelta(hours=8))
    for moment in (dt.datetime.combine(EARLIEST, dt.time(0), PLUS_14),
                   dt.datetime.combine(LATEST, dt.time(23, 59, 59), MINUS_12)):
        for zone in (dt.UTC, cst):
            assert moment.astimezone(zone) + dt.timedelta(days=1) > moment.astimezone(zone) - dt.timedelta(days=1)
