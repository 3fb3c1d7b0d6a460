"""schema/builders.py: levels are their codes', whatever the row holds (NULL and values outside the enum
included: review-s7 finding 1); a row read without the column is left as it is."""

from __future__ import annotations

from typing import Any

import pytest

from govshare.schema import builders

REGION = "650000"


@pytest.mark.parametrize("said", [None, "hourly", "region", "prefecture"])
def test_a_departments_level_is_its_code_s_whatever_the_row_holds(said: Any) -> None:
    rows = [{"code": "650200-ZE", "level": said}, {"code": "650000-GA", "level": said},
            {"code": "650200-CA-ZE", "level": said}]
    assert [r["level"] for r in builders.coded_levels(rows, REGION)] == ["prefecture", "region", "county"]


@pytest.mark.parametrize("said", [None, "hourly", "region"])
def test_a_resources_provider_level_is_its_provider_code_s_whatever_the_row_holds(said: Any) -> None:
    rows = [{"code": "650200-Z97-000001", "provider_code": "650200-ZE", "provider_level": said}]
    [coded] = builders.coded_provider_levels(rows, REGION)
    assert coded["provider_level"] == "prefecture"
    assert builders._LEVEL(coded["provider_level"]).value == "prefecture"


def test_rows_read_without_the_level_are_as_they_were() -> None:
    rows = [{"code": "650200-ZE"}]
    assert builders.coded_levels(rows, REGION) == rows
    assert builders.coded_provider_levels([{"code": "x", "provider_code": "650200-ZE"}], REGION) \
        == [{"code": "x", "provider_code": "650200-ZE"}]
