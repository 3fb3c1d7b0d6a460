"""Check digits of Chinese identifiers, used to generate and to verify demo data (the standards' own check
characters: govshare.core.identifiers, which verification applies to the keys it is given)."""

from __future__ import annotations

from govshare.core.identifiers import citizen_id_check, is_valid_citizen_id, uscc_check
from govshare.core.identifiers import is_valid_uscc as credit_code_checks

__all__ = ["citizen_id", "citizen_id_check", "is_valid_citizen_id", "is_valid_uscc", "org_code_check", "uscc",
           "uscc_check"]

# GB 11714-1997: organisation code (characters 9-17 of a credit code), MOD 11.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def citizen_id(address_code: str, birth_yyyymmdd: str, sequence: int) -> str:
    body = f"{address_code}{birth_yyyymmdd}{sequence:03d}"
    return body + citizen_id_check(body)


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def org_code_check(body8: str) -> str:
    remainder = 11 - sum(_org_value(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def uscc(registry: str, kind: str, division: str, org_body8: str) -> str:
    """Build a credit code; ``org_body8`` uses digits and letters of the USCC alphabet."""
    org = org_body8 + org_code_check(org_body8)
    body = f"{registry}{kind}{division}{org}"
    return body + uscc_check(body)


def is_valid_uscc(value: str) -> bool:
    """A credit code whose check character (GB 32100) and organisation code's (GB 11714) are both right."""
    return credit_code_checks(value) and org_code_check(value[8:16]) == value[16]
