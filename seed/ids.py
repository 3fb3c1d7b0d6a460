"""Check digits of Chinese identifiers, used to generate and to verify demo data."""

from __future__ import annotations

# GB 11643-1999: citizen identity number, ISO 7064 MOD 11-2.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# GB 32100-2015: unified social credit code; alphabet without I, O, Z, S, V.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB 11714-1997: organisation code (characters 9-17 of a credit code), MOD 11.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def citizen_id_check(body17: str) -> str:
    total = sum(int(d) * w for d, w in zip(body17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def citizen_id(address_code: str, birth_yyyymmdd: str, sequence: int) -> str:
    body = f"{address_code}{birth_yyyymmdd}{sequence:03d}"
    return body + citizen_id_check(body)


def is_valid_citizen_id(value: str) -> bool:
    return (len(value) == 18 and value[:17].isdigit()
            and citizen_id_check(value[:17]) == value[17])


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def org_code_check(body8: str) -> str:
    remainder = 11 - sum(_org_value(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def uscc_check(body17: str) -> str:
    remainder = 31 - sum(_USCC_VALUE[c] * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True)) % 31
    return _USCC_ALPHABET[0 if remainder == 31 else remainder]


def uscc(registry: str, kind: str, division: str, org_body8: str) -> str:
    """Build a credit code; ``org_body8`` uses digits and letters of the USCC alphabet."""
    org = org_body8 + org_code_check(org_body8)
    body = f"{registry}{kind}{division}{org}"
    return body + uscc_check(body)


def is_valid_uscc(value: str) -> bool:
    if len(value) != 18 or any(c not in _USCC_VALUE for c in value):
        return False
    org = value[8:17]
    return org_code_check(org[:8]) == org[8] and uscc_check(value[:17]) == value[17]
