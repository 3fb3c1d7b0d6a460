"""One error hierarchy for govshare.

Foreign errors (asyncpg, OS, JWT) are translated once, at the boundary where they are caught, with
``raise X from exc``. Every error carries a machine-readable ``code`` that reaches GraphQL clients as
``extensions.code``; the message never contains SQL or a stack trace.
"""

from __future__ import annotations

from typing import Any


class GovshareError(Exception):
    """Base class: an expected failure with a stable code."""

    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class ConfigurationError(GovshareError):
    code = "CONFIGURATION"


class TopologyError(ConfigurationError):
    code = "TOPOLOGY"


class MigrationError(GovshareError):
    code = "MIGRATION"


class MigrationChecksumMismatch(MigrationError):
    code = "MIGRATION_EDITED"


class NodeUnavailable(GovshareError):
    code = "NODE_UNAVAILABLE"

    def __init__(self, node: str, reason: str) -> None:
        super().__init__(f"node {node} is unavailable: {reason}", node=node, reason=reason)
        self.node = node


class InvalidRows(NodeUnavailable):
    """Rows a database returned under ``codes`` that the catalog cannot serve (resolvers/row_values.py): left
    out, and their nodes reported as NODE_UNAVAILABLE, reason InvalidRows, as a database that did not answer."""

    def __init__(self, database: str, codes: list[str]) -> None:
        super().__init__(database, "InvalidRows")
        self.codes = codes


class AmbiguousSource(GovshareError):
    """Rows of one key from several nodes (or rows that disagree): no node's answer is taken over another's."""

    code = "AMBIGUOUS_SOURCE"


class BadRequest(GovshareError):
    code = "BAD_USER_INPUT"


class MalformedRequest(GovshareError):
    """A request the GraphQL endpoint cannot read as GraphQL over HTTP (a body that is not JSON)."""

    code = "BAD_REQUEST"


class LimitExceeded(BadRequest):
    """A request beyond one of the configured bounds on work per request."""

    code = "LIMIT_EXCEEDED"


class NotFound(GovshareError):
    code = "NOT_FOUND"


class PersistedQueryNotFound(GovshareError):
    """A persisted operation's hash this process does not know: the client sends the query with it."""

    code = "PERSISTED_QUERY_NOT_FOUND"


class Unauthenticated(GovshareError):
    code = "UNAUTHENTICATED"


class Forbidden(GovshareError):
    code = "FORBIDDEN"


class UnknownDepartment(Forbidden):
    """A validly signed token for a department that no node's catalog lists."""

    code = "UNKNOWN_DEPARTMENT"


class EmbeddedPostgresError(GovshareError):
    code = "EMBEDDED_POSTGRES"


class FieldForbidden(GovshareError):
    """A field the caller may not use: refused before any SQL runs."""

    code = "FIELD_FORBIDDEN"


class AuditUnavailable(GovshareError):
    """The audit record could not be written, so no data is returned (fail closed)."""

    code = "AUDIT_UNAVAILABLE"


class RateLimited(GovshareError):
    code = "RATE_LIMITED"


class RateLimitUnavailable(GovshareError):
    """A shared rate limit that fails closed could not reach the database that keeps it."""

    code = "RATE_LIMIT_UNAVAILABLE"


class CannotListen(GovshareError):
    """The HTTP listener could not bind its address (port in use, no permission, no such address)."""

    code = "CANNOT_LISTEN"


class CalendarNotConfigured(ConfigurationError):
    """A deadline reaches into a year whose working days no source knows (see policies/workdays.py)."""

    code = "CALENDAR_NOT_CONFIGURED"


class Conflict(GovshareError):
    """A change names a revision that is no longer current: someone changed it since it was read."""

    code = "CONFLICT"


class InvalidTransition(GovshareError):
    """A workflow step that the current state does not allow (e.g. publishing a draft)."""

    code = "INVALID_TRANSITION"


class RuleViolated(GovshareError):
    """A catalog entry or request breaks a rule; ``code`` is the rule's own code, all listed in
    ``extensions.violations``."""

    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.code = code
        self.extensions["code"] = code
