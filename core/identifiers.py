"""Check characters of the natural keys people type: GB 11643-1999 citizen identity numbers (ISO 7064
MOD 11-2) and GB 32100-2015 unified social credit codes (MOD 31 over the code's own alphabet). A key whose
check character does not follow from its other 17 is mistyped (or made up): it names nobody."""

from __future__ import annotations

import re

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
    return CITIZEN_ID.fullmatch(value) is not None and citizen_id_check(value[:17]) == value[17]


def uscc_check(body17: str) -> str:
    """The check character of a credit code's first 17 characters (each of USCC_ALPHABET)."""
    remainder = 31 - sum(USCC_VALUES[c] * w for c, w in zip(body17, USCC_WEIGHTS, strict=True)) % 31
    return USCC_ALPHABET[0 if remainder == 31 else remainder]


def is_valid_uscc(value: str) -> bool:
    """18 characters of USCC_ALPHABET, the last the check character of the first 17 (GB 32100-2015 alone:
    the organisation code inside it, characters 9-17, is not checked here)."""
    return len(value) == 18 and all(c in USCC_VALUES for c in value) and uscc_check(value[:17]) == value[17]
