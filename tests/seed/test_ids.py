"""Check digits: published examples as truth, and tampering detected."""

from __future__ import annotations

import pytest

from govshare.seed import ids


@pytest.mark.parametrize(("value", "valid"), [
    ("11010519491231002X", True),   # GB 11643-1999 example
    ("440524188001010014", True),
    ("11010519491231002A", False),
    ("110105194912310021", False),
    ("1101051949123100", False),
])
def test_citizen_id_truth_table(value: str, valid: bool) -> None:
    assert ids.is_valid_citizen_id(value) is valid


@pytest.mark.parametrize(("value", "valid"), [
    ("91350100M000100Y43", True),   # published example of GB 32100-2015
    ("91350100M000100Y44", False),  # wrong check character
    ("91350100M000100Z43", False),  # organisation-code check broken
    ("91350100M000100Y4I", False),  # I is not in the alphabet
    ("91350100M000100Y4", False),
])
def test_credit_code_truth_table(value: str, valid: bool) -> None:
    assert ids.is_valid_uscc(value) is valid


def test_generated_codes_are_valid() -> None:
    assert ids.is_valid_citizen_id(ids.citizen_id("650100", "19800101", 123))
    assert ids.is_valid_uscc(ids.uscc("9", "1", "650100", "ABC12345"))
