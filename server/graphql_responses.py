"""What a GraphQL-over-HTTP answer looks like: the media type picked from Accept, and each error's body.

Kept apart from the endpoint so that content negotiation and error masking (expected errors keep their
message and extensions, anything else is masked with an error id) can be read, and checked, on their own.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from govshare.core.errors import GovshareError

from .logs import new_error_id

logger = logging.getLogger("govshare.graphql")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiate(accept: str | None) -> str | None:
    """Pick the response media type from an Accept header; None when nothing acceptable."""
    if not accept or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        candidate = {GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON,
                     "*/*": JSON}.get(media)
        if candidate is None or quality <= 0:
            continue
        # Prefer higher q, then the more specific graphql-response type, then header order.
        key = (-quality, 0 if candidate == GRAPHQL_RESPONSE and media == GRAPHQL_RESPONSE else 1)
        if best is None or (key[0], key[1]) < (best[0], best[1]):
            best = (key[0], key[1], candidate)
    return best[2] if best else None


def format_error(error: GraphQLError) -> dict[str, Any]:
    """Expected errors keep their message and extensions; anything else is masked."""
    original = error.original_error
    body: dict[str, Any] = {"message": error.message}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        body["path"] = list(error.path)
    if isinstance(original, GovshareError):
        body["message"] = original.message
        body["extensions"] = dict(original.extensions)
    elif isinstance(original, GraphQLError) and error.path is None:
        # A variable that does not coerce (e.g. an unknown enum value): graphql-core's message names the
        # accepted value; it is the input's fault, not ours.
        body["extensions"] = {"code": "BAD_USER_INPUT"}
    elif original is None:
        body["extensions"] = {"code": (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED"),
                              **{k: v for k, v in (error.extensions or {}).items() if k != "code"}}
    else:
        error_id = new_error_id()  # the same id in the answer and in the log line with the traceback
        logger.error("unexpected error in resolver", exc_info=original, extra={"error_id": error_id})
        body["message"] = "Unexpected error."
        body["extensions"] = {"code": "INTERNAL", "errorId": error_id}
    return body
