"""A department's facts come from its code; its catalog row may only make it stricter (README *Trust
model*): add sector:institution, never remove it, never change its node or level."""

from __future__ import annotations

import logging

import pytest

from govshare.policies.groups import DepartmentFacts, Memberships, department_facts

REGION = "650000"

# code, the row's (level, node, sector) or None for no row -> (level, node, sector), whether a warning is logged
TRUTH_TABLE = [
    # honest rows: the code's facts, the row's sector where it may set it
    ("650000-GA", ("region", "650000", "government"), ("region", "650000", "government"), False),
    ("650100-MZ", ("prefecture", "650100", "government"), ("prefecture", "650100", "government"), False),
    ("650100-CA-MZ", ("county", "650100", "government"), ("county", "650100", "government"), False),
    ("650100-JG-YY", ("prefecture", "650100", "institution"), ("prefecture", "650100", "institution"), False),
    ("650000-JG-YH", ("region", "650000", "institution"), ("region", "650000", "institution"), False),
    ("654300-GA", ("prefecture", "654300", "government"), ("prefecture", "654300", "government"), False),
    # the row makes a department stricter: kept
    ("650100-MZ", ("prefecture", "650100", "institution"), ("prefecture", "650100", "institution"), False),
    ("650100-CA-MZ", ("county", "650100", "institution"), ("county", "650100", "institution"), False),
    # no row (its database did not answer): the code alone
    ("650100-JG-YY", None, ("prefecture", "650100", "institution"), False),
    ("650100-CA-MZ", None, ("county", "650100", "government"), False),
    # the row makes it looser or contradicts its code: that claim ignored, logged
    ("650100-JG-YY", ("prefecture", "650100", "government"), ("prefecture", "650100", "institution"), True),
    ("650000-JG-YH", ("region", "650000", "government"), ("region", "650000", "institution"), True),
    ("650100-JG-YY", ("prefecture", "650100", "company"), ("prefecture", "650100", "institution"), True),
    ("650100-MZ", ("prefecture", "650100", "company"), ("prefecture", "650100", "government"), True),
    ("650200-CA-MZ", ("prefecture", "650200", "government"), ("county", "650200", "government"), True),
    ("650200-GA", ("region", "650200", "government"), ("prefecture", "650200", "government"), True),
    ("650000-GA", ("prefecture", "650000", "government"), ("region", "650000", "government"), True),
    ("654300-XX", ("region", "650000", "government"), ("prefecture", "654300", "government"), True),
    ("650100-JG-YY", ("region", "650000", "government"), ("prefecture", "650100", "institution"), True),
    # contradicting the code and adding institution: the institution is kept, the rest ignored
    ("650200-GA", ("region", "650000", "institution"), ("prefecture", "650200", "institution"), True),
]


@pytest.mark.parametrize(("code", "row", "expected", "warned"), TRUTH_TABLE)
def test_a_departments_facts_are_its_codes_made_stricter_by_its_row(
        caplog: pytest.LogCaptureFixture, code: str, row: tuple[str, str, str] | None,
        expected: tuple[str, str, str], warned: bool) -> None:
    with caplog.at_level(logging.WARNING, logger="govshare.groups"):
        facts = department_facts(code, REGION, *(row or ()))
    assert facts == DepartmentFacts(code, *expected)
    warnings = [r.getMessage() for r in caplog.records if r.name == "govshare.groups"]
    assert bool(warnings) == warned, warnings
    if warned:
        assert warnings[0].startswith(f"department {code}: its catalog row says ")


def test_groups_of_an_institution_whose_row_says_government() -> None:
    memberships = Memberships.build(REGION, [department_facts("650100-JG-YY", REGION, "prefecture", "650100",
                                                              "government")], {})
    assert memberships.groups_of("650100-JG-YY") == {"kind:YY", "level:prefecture", "node:650100",
                                                     "sector:institution"}
    assert memberships.members_of("sector:institution") == ["650100-JG-YY"]
