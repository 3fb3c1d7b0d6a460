"""Working days in China (工作日): weekends, public holidays and the adjusted working days (调休) of the
State Council's yearly notice, in China Standard Time (UTC+8).

Years 2004-2026 come from the ``chinesecalendar`` package (PyPI ``chinese-calendar``). Later years and
local rest days come from a table (``GOVSHARE_WORKDAYS_FILE``, TOML)::

    [years.2027]                      # a year listed here is taken wholly from the table
    holidays = ["2027-01-01", ...]    # days off that would otherwise be working days
    workdays = ["2027-02-20", ...]    # weekend days that are working days (调休)
    [local]
    rest_days = ["2026-11-20"]        # local rest days, any year

The State Council publishes each year's notice in the autumn before; 2027's dates are not shipped (no
published notice could be checked), so a deadline that reaches into a year neither source knows raises
``CalendarNotConfigured``: a wrong deadline would be worse than a refused mutation.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import chinese_calendar

from govshare.core.errors import CalendarNotConfigured, ConfigurationError

CST = timezone(timedelta(hours=8), "CST")
LIBRARY_YEARS = (min(d.year for d in chinese_calendar.holidays), max(d.year for d in chinese_calendar.holidays))
# A deadline further away than this is a mistake in the caller, not a calendar question.
MAX_WORKING_DAYS = 366


def china_date(moment: datetime) -> date:
    """The calendar date in China Standard Time of an aware ``moment``."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no date in China Standard Time")
    return moment.astimezone(CST).date()


@dataclass(frozen=True)
class YearTable:
    holidays: frozenset[date]
    workdays: frozenset[date]


@dataclass(frozen=True)
class WorkCalendar:
    years: Mapping[int, YearTable] = field(default_factory=dict)
    rest_days: frozenset[date] = frozenset()

    def covered_years(self) -> list[int]:
        return sorted({*range(LIBRARY_YEARS[0], LIBRARY_YEARS[1] + 1), *self.years})

    def is_workday(self, day: date) -> bool:
        if day in self.rest_days:
            return False
        table = self.years.get(day.year)
        if table is not None:
            if day in table.workdays:
                return True
            return day.weekday() < 5 and day not in table.holidays
        if LIBRARY_YEARS[0] <= day.year <= LIBRARY_YEARS[1]:
            return bool(chinese_calendar.is_workday(day))
        raise CalendarNotConfigured(
            f"working days of {day.year} are not known: chinese-calendar covers {LIBRARY_YEARS[0]}-"
            f"{LIBRARY_YEARS[1]}; add [years.{day.year}] to the GOVSHARE_WORKDAYS_FILE table from the State "
            "Council's holiday notice", year=day.year, coveredYears=self.covered_years())

    def add(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        if not 0 <= days <= MAX_WORKING_DAYS:
            raise ValueError(f"working days must be between 0 and {MAX_WORKING_DAYS}")
        current = start
        while days > 0:
            current += timedelta(days=1)
            if self.is_workday(current):
                days -= 1
        return current

    def between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when ``end`` <= ``start``)."""
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_workday(current):
                count += 1
        return count

    def due(self, moment: datetime, days: int) -> date:
        """The deadline, in China Standard Time, of something received at ``moment``: the end of the
        ``days``-th working day after that day."""
        return self.add(china_date(moment), days)

    @classmethod
    def load(cls, path: Path | None) -> WorkCalendar:
        if path is None:
            return cls()
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"working-day table {path} cannot be read: {exc}") from exc
        return cls.from_mapping(raw, str(path))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object], source: str = "table") -> WorkCalendar:
        years: dict[int, YearTable] = {}
        year_tables = raw.get("years", {})
        if not isinstance(year_tables, Mapping):
            raise ConfigurationError(f"{source}: [years] must be a table")
        for key, table in year_tables.items():
            if not str(key).isdigit() or not isinstance(table, Mapping):
                raise ConfigurationError(f"{source}: [years.{key}] must be a table named by a year")
            year = int(key)
            holidays = _dates(table.get("holidays", []), f"{source} years.{key}.holidays")
            workdays = _dates(table.get("workdays", []), f"{source} years.{key}.workdays")
            stray = sorted(d for d in holidays | workdays if d.year != year)
            if stray:
                raise ConfigurationError(f"{source}: [years.{key}] lists {stray[0]}, a day of another year")
            if holidays & workdays:
                raise ConfigurationError(f"{source}: [years.{key}] lists {min(holidays & workdays)} as both")
            years[year] = YearTable(holidays, workdays)
        local = raw.get("local", {})
        if not isinstance(local, Mapping):
            raise ConfigurationError(f"{source}: [local] must be a table")
        return cls(years, _dates(local.get("rest_days", []), f"{source} local.rest_days"))


def _dates(values: object, where: str) -> frozenset[date]:
    if not isinstance(values, Iterable) or isinstance(values, str | bytes):
        raise ConfigurationError(f"{where} must be a list of dates")
    days: set[date] = set()
    for value in values:
        if isinstance(value, date) and not isinstance(value, datetime):
            days.add(value)
            continue
        try:
            days.add(date.fromisoformat(str(value)))
        except ValueError as exc:
            raise ConfigurationError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from exc
    return frozenset(days)
