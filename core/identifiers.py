"""Check characters of the natural keys people type: GB 11643-1999 citizen identity numbers (ISO 7064
MOD 11-2) and GB 32100-2015 unified social credit codes (MOD 31 over the code's own alphabet). A key whose
check character does not follow from its other 17 is mistyped (or made up): it names nobody; so does one of
the wrong length or with characters outside the standard's, and the refusal says which."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# GB 11643-1999: 17 digits, then the check character (0-9 or X).
CITIZEN_ID = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
CITIZEN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CITIZEN_ID_CHECKS = "10X98765432"  # by the weighted sum modulo 11

# GB 32100-2015: 18 characters of this alphabet (digits and the upper-case letters but I, O, Z, S, V).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUES = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def citizen_id_check(body17: str) -> str:
    """The check character of a citizen ID's first 17 digits."""
    total = sum(int(d) * w for d, w in zip(body17, CITIZEN_ID_WEIGHTS, strict=True))
    return CITIZEN_ID_CHECKS[total % 11]


def is_valid_citizen_id(value: str) -> bool:
    """18 ASCII characters, 17 digits then the check character they give (upper-case X)."""
    return citizen_id_fault(value) is None


def uscc_check(body17: str) -> str:
    """The check character of a credit code's first 17 characters (each of USCC_ALPHABET)."""
    remainder = 31 - sum(USCC_VALUES[c] * w for c, w in zip(body17, USCC_WEIGHTS, strict=True)) % 31
    return USCC_ALPHABET[0 if remainder == 31 else remainder]


def is_valid_uscc(value: str) -> bool:
    """18 characters of USCC_ALPHABET, the last the check character of the first 17 (GB 32100-2015 alone:
    the organisation code inside it, characters 9-17, is not checked here)."""
    return uscc_fault(value) is None


@dataclass(frozen=True)
class KeyFault:
    """Why a key names nobody: ``fault`` LENGTH, CHARACTERS or CHECK_CHARACTER (tested in that order, so a
    key is sent to recompute its check character only when its length and characters are right)."""

    standard: str
    fault: str
    why: str


def citizen_id_fault(value: str) -> tuple[str, str] | None:
    """(fault, why) of a citizen ID that breaks GB 11643-1999, or None."""
    if len(value) != 18:
        return "LENGTH", f"it has {len(value)} characters, not 18"
    if CITIZEN_ID.fullmatch(value) is None:
        return "CHARACTERS", "it must be 17 digits then a digit or X"
    if citizen_id_check(value[:17]) != value[17]:
        return "CHECK_CHARACTER", "its check character does not follow from the others"
    return None


def uscc_fault(value: str) -> tuple[str, str] | None:
    """(fault, why) of a credit code that breaks GB 32100-2015, or None."""
    if len(value) != 18:
        return "LENGTH", f"it has {len(value)} characters, not 18"
    if any(c not in USCC_VALUES for c in value):
        return "CHARACTERS", "it must be digits and upper-case letters other than I, O, S, V and Z"
    if uscc_check(value[:17]) != value[17]:
        return "CHECK_CHARACTER", "its check character does not follow from the others"
    return None


# Key items that follow a standard: people type their letters in either case and width (X typed x or
# full-width by people and OCR), so they are checked, asked and compared in canonical form.
KEY_STANDARDS: dict[str, tuple[str, Callable[[str], tuple[str, str] | None]]] = {
    "citizen_id": ("GB 11643-1999", citizen_id_fault),
    "uscc": ("GB 32100-2015", uscc_fault),
}


def canonical_key(item: str, key: str) -> str:
    """The key as the register spells it: for a citizen ID or credit code, full-width characters as ASCII
    and letters upper-case (``x`` is the check character X); any other key as given."""
    if item not in KEY_STANDARDS:
        return key
    return unicodedata.normalize("NFKC", key).strip().upper()


def key_fault(item: str, key: str) -> KeyFault | None:
    """Why ``key`` of key item ``item`` (checked in canonical form) names nobody, or None: it is well formed
    with the right check character, or ``item`` follows no standard checked here. The one check of verify
    and raiseObjection."""
    checked = KEY_STANDARDS.get(item)
    if checked is None:
        return None
    found = checked[1](canonical_key(item, key))
    return None if found is None else KeyFault(checked[0], *found)
