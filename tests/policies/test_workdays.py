"""Working-day arithmetic: weekends, the National Day week, adjusted Saturday working days (调休),
the configured table for years chinese-calendar does not cover, and China Standard Time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from govshare.core.errors import CalendarNotConfigured, ConfigurationError
from govshare.policies.workdays import LIBRARY_YEARS, WorkCalendar, china_date

CALENDAR = WorkCalendar()
# A test table, not the State Council's 2027 notice: only New Year's Day and one adjusted Sunday.
TABLE_2027 = WorkCalendar.from_mapping({"years": {"2027": {"holidays": ["2027-01-01"],
                                                           "workdays": ["2027-01-10"]}}})


def test_library_years() -> None:
    assert LIBRARY_YEARS == (2004, 2026)
    assert CALENDAR.covered_years()[0] == 2004 and CALENDAR.covered_years()[-1] == 2026
    assert TABLE_2027.covered_years()[-1] == 2027


def test_across_a_weekend() -> None:
    # Friday 2026-11-20 + 1 working day = Monday 2026-11-23; + 10 = Friday 2026-12-04
    assert CALENDAR.add(date(2026, 11, 20), 1) == date(2026, 11, 23)
    assert CALENDAR.add(date(2026, 11, 20), 10) == date(2026, 12, 4)
    assert CALENDAR.between(date(2026, 11, 20), date(2026, 11, 23)) == 1


def test_national_day_week_and_adjusted_saturday() -> None:
    # 2026-09-30 (Wed) is a working day; 10-01..10-07 are rest days; Saturday 10-10 is a working day.
    assert not CALENDAR.is_workday(date(2026, 10, 1)) and not CALENDAR.is_workday(date(2026, 10, 7))
    assert CALENDAR.is_workday(date(2026, 10, 10)) and date(2026, 10, 10).weekday() == 5
    assert CALENDAR.add(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert CALENDAR.add(date(2026, 9, 30), 3) == date(2026, 10, 10)  # 10-08, 10-09, Saturday 10-10
    assert CALENDAR.add(date(2026, 9, 30), 4) == date(2026, 10, 12)


def test_ten_and_fifteen_working_days() -> None:
    # From Monday 2026-09-28: 09-29, 09-30, 10-08, 10-09, 10-10 (Sat), 10-12 .. 10-16 = 10; .. 10-23 = 15
    assert CALENDAR.add(date(2026, 9, 28), 10) == date(2026, 10, 16)
    assert CALENDAR.add(date(2026, 9, 28), 15) == date(2026, 10, 23)
    # Sunday 2026-09-20 is an adjusted working day before the Mid-Autumn Festival (09-25..27).
    assert CALENDAR.add(date(2026, 9, 19), 1) == date(2026, 9, 20)


def test_later_years_need_the_table() -> None:
    with pytest.raises(CalendarNotConfigured) as refused:
        CALENDAR.add(date(2026, 12, 24), 10)
    assert refused.value.extensions["code"] == "CALENDAR_NOT_CONFIGURED" and refused.value.extensions["year"] == 2027
    # 12-25, 12-28..12-31 = 5; 2027-01-01 off; 01-04..01-08 = 10
    assert TABLE_2027.add(date(2026, 12, 24), 10) == date(2027, 1, 8)
    assert TABLE_2027.is_workday(date(2027, 1, 10))  # a Sunday the table makes a working day


def test_local_rest_days_and_file(tmp_path: Path) -> None:
    table = tmp_path / "workdays.toml"
    table.write_text('[years.2027]\nholidays = ["2027-01-01"]\n[local]\nrest_days = [2026-11-23]\n')
    calendar = WorkCalendar.load(table)
    assert calendar.add(date(2026, 11, 20), 1) == date(2026, 11, 24)
    table.write_text('[years.2027]\nholidays = ["2026-01-01"]\n')
    with pytest.raises(ConfigurationError):
        WorkCalendar.load(table)
    table.write_text('[years.2027]\nholidays = ["not a date"]\n')
    with pytest.raises(ConfigurationError):
        WorkCalendar.load(table)


def test_china_standard_time() -> None:
    # 17:00 UTC on 2026-11-27 is already 2026-11-28 in China.
    assert china_date(datetime(2026, 11, 27, 17, 0, tzinfo=UTC)) == date(2026, 11, 28)
    assert china_date(datetime(2026, 11, 27, 15, 59, tzinfo=UTC)) == date(2026, 11, 27)
    assert CALENDAR.due(datetime(2026, 9, 28, 15, 0, tzinfo=UTC), 10) == date(2026, 10, 16)  # 23:00 on 09-28 CST
    assert CALENDAR.due(datetime(2026, 9, 28, 16, 30, tzinfo=UTC), 10) == date(2026, 10, 19)  # 00:30 on 09-29 CST
