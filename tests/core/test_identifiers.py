"""Why a key names nobody: its length, its characters, or its check character, tested in that order."""

from __future__ import annotations

from govshare.core.identifiers import KeyFault, canonical_key, key_fault


def test_a_citizen_id_fault_names_the_first_thing_wrong() -> None:
    assert key_fault("citizen_id", "11010519491231002X") is None  # GB 11643-1999's own example
    assert key_fault("citizen_id", " 11010519491231002x ") is None  # canonical form first
    assert key_fault("citizen_id", "1101051949123100") == KeyFault("GB 11643-1999", "LENGTH",
                                                                  "it has 16 characters, not 18")
    assert key_fault("citizen_id", "1101051949123100X2") == KeyFault(
        "GB 11643-1999", "CHARACTERS", "it must be 17 digits then a digit or X")
    assert key_fault("citizen_id", "110105194912310021") == KeyFault(
        "GB 11643-1999", "CHECK_CHARACTER", "its check character does not follow from the others")


def test_a_credit_code_fault_names_the_first_thing_wrong() -> None:
    assert key_fault("uscc", "91350100m000100y43") is None  # GB 32100-2015's example, lower case
    assert key_fault("uscc", "91350100M000100Y4") is not None and \
        key_fault("uscc", "91350100M000100Y4").fault == "LENGTH"  # type: ignore[union-attr]
    assert key_fault("uscc", "91350100M000100Y4I").fault == "CHARACTERS"  # type: ignore[union-attr]
    assert key_fault("uscc", "91350100M000100Y44").fault == "CHECK_CHARACTER"  # type: ignore[union-attr]


def test_keys_without_a_standard_are_taken_as_given() -> None:
    assert key_fault("licence_no", "") is None
    assert canonical_key("licence_no", " dzzz-x ") == " dzzz-x "
    assert canonical_key("citizen_id", "６５０１０２１９９９０１０１１０４ｘ") == "65010219990101104X"
