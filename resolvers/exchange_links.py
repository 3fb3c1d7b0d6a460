"""Download links of finished exports: signed (HMAC) for one department until the job's expiry.

The signing key is derived from the audit key, so no further secret is stored anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from govshare.core.errors import Forbidden

from .exchanges import Job


def url_key(audit_key: bytes) -> bytes:
    """The key download links are signed with, derived from the audit key (never stored anywhere)."""
    return hmac.new(audit_key, b"govshare exchange download links", hashlib.sha256).digest()


def signature(key: bytes, job_id: int, department: str, expires: int) -> str:
    return hmac.new(key, f"{job_id}|{department}|{expires}".encode(), hashlib.sha256).hexdigest()


def download_path(key: bytes, found: Job) -> str | None:
    """The link of a finished job's file: valid for its department until the job's expiry."""
    if found.state != "done" or found.expires_at is None:
        return None
    expires = int(found.expires_at.timestamp())
    return f"/exchange/{found.id}?expires={expires}&signature={signature(key, found.id, found.department, expires)}"


def check_link(key: bytes, job_id: int, department: str, expires: str | None, given: str | None,
               now: datetime | None = None) -> None:
    """A link is good for the department it was made for, until it expires; Forbidden otherwise."""
    try:
        until = int(expires or "")
    except ValueError as exc:
        raise Forbidden("the download link is malformed", reason="LINK_INVALID") from exc
    if not given or not hmac.compare_digest(signature(key, job_id, department, until), given):
        raise Forbidden("the download link is not valid for your department", reason="LINK_INVALID")
    if (now or datetime.now(UTC)).timestamp() >= until:
        raise Forbidden("the download link has expired: start the export again", reason="LINK_EXPIRED")
