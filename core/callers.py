"""Who is calling, as the identity layer established it: every layer above reads this, none builds it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user: str
    department: str
    node: str
    # No roles: what a caller may administer comes from the role assignments (policies/authority.py),
    # never from the token. A role in a token names no domain (node), and granting one would bypass the
    # audited history of who gave whom which role; so a `roles` claim, if an identity provider sends
    # one, is ignored.
