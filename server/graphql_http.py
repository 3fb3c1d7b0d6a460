"""/graphql following the GraphQL-over-HTTP specification, on a strawberry schema.

A small view of our own rather than strawberry's: we need content negotiation with
``application/graphql-response+json`` (400 and no ``data`` for request errors), authentication
before any execution (401), the schema read per request (so it can be swapped atomically), and
errors masked at one place.

The endpoint speaks ASGI itself: it reads the request's headers once from the scope and sends its answer
as two ASGI messages, without starlette's Request and Response objects (a small answer's fixed cost is
what the many small requests of a dashboard pay; server/app.py also routes /graphql straight here).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote

import orjson
from graphql import GraphQLError, OperationDefinitionNode
from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from strawberry import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from govshare.core.callers import Caller
from govshare.core.errors import (
    GovshareError,
    LimitExceeded,
    NodeUnavailable,
    RateLimited,
    Unauthenticated,
    UnknownDepartment,
)
from govshare.federation.nodes import statement_log
from govshare.policies.ratelimits import SharedRateLimiter
from govshare.resolvers.context import Context, language_from_header
from govshare.schema.documents import parse_document, validate_ahead
from govshare.schema.plans import execute_planned

from . import payloads
from .assets import graphiql_page
from .departments import KnownDepartments
from .graphql_responses import GRAPHQL_RESPONSE, JSON, format_error, negotiate
from .identity import Authenticator
from .limits import Limits
from .logs import request_id as current_request_id
from .metrics import Metrics
from .persisted import PersistedDocuments

# A caller's X-Request-Id lands in its audit records (client_request_id): printable ASCII without spaces
# (no control character reaches the trail), bounded; one outside the rule is refused, never dropped silently.
REQUEST_ID = re.compile(r"[!-~]{1,128}")
REQUEST_ID_RULE = "1 to 128 printable ASCII characters without spaces (! to ~)"
CHECKED_DOCUMENTS = 512  # documents whose checks are remembered (as many as the parse cache holds)
Scope = dict[str, Any]


class Answer:
    """A JSON answer as the two ASGI messages starlette's Response would send (same headers, same order)."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(self, body: bytes, status_code: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.body = body
        self.status_code = status_code
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


# The request headers the endpoint reads (ASGI servers give names in lower case), by their raw names.
_READ_HEADERS = {name.encode("latin-1"): name for name in (
    "accept", "accept-language", "authorization", "content-length", "content-type", "x-govshare-purpose",
    "x-request-id")}


class Exchange:
    """One request as the endpoint reads it: method, headers (the first of each name, as starlette's
    ``Headers.get``), and what the metrics want to know of its answer."""

    __slots__ = ("context", "errors", "headers", "method", "pending", "receive", "scope")

    def __init__(self, scope: Scope, receive: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # only the names the endpoint reads are decoded
            if name in _READ_HEADERS:
                key = _READ_HEADERS[name]
                if key not in headers:
                    headers[key] = value.decode("latin-1")
        self.headers = headers
        self.context: Context | None = None
        self.errors: list[dict[str, Any]] = []
        self.pending: dict[str, Any] | None = None  # a message read ahead of stream()

    def query_params(self) -> QueryParams:
        return QueryParams(self.scope["query_string"])

    async def stream(self) -> Any:
        """The body's chunks, as starlette's ``Request.stream`` yields them (a disconnect raises)."""
        while True:
            message, self.pending = self.pending or await self.receive(), None
            if message["type"] == "http.request":
                body = message.get("body", b"")
                if body:
                    yield body
                if not message.get("more_body", False):
                    return
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect()


def _document_problem(limits: Limits, schema: Schema, query: str, operation_name: str | None
                      ) -> GovshareError | None:
    """Why a document is refused before execution, or None. Runs in a worker thread: it also parses
    and validates the document into the caches execution reads."""
    try:
        document = parse_document(query)
    except GraphQLError:
        return None  # execution reports the syntax error the standard way
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) > 1 and operation_name is None:
        return GovshareError("the document has several operations: name the one to run in 'operationName'",
                             code="BAD_REQUEST")
    try:
        limits.check_document(document)
    except GovshareError as exc:
        return exc
    validate_ahead(schema, document)
    return None



_UNCHECKED: Any = object()  # a document not checked yet (None is "checked: no problem")
GET_OPERATIONS = frozenset({OperationType.QUERY})
POST_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})
# Content-Type values that are application/json in UTF-8 as they stand (anything else is parsed)
PLAIN_JSON = frozenset({JSON, f"{JSON}; charset=utf-8", f"{JSON};charset=utf-8", f"{JSON}; charset=UTF-8"})
# Accept and Accept-Language values seen by an endpoint, with what they come to (both pure functions of the
# header): a client sends the same ones with every request. Cleared when full, so a client varying them
# costs memory of at most this many entries.
HEADER_MEMO = 256
T = TypeVar("T")


Memo = dict[tuple[Callable[[str | None], T], str | None], T]


def _memo(memo: Memo[T], work: Callable[[str | None], T], header: str | None) -> T:
    """``work(header)``, remembered per function and header value."""
    key = (work, header)
    found = memo.get(key, _UNCHECKED)
    if found is _UNCHECKED:
        found = work(header)
        if len(memo) >= HEADER_MEMO:
            memo.clear()
        memo[key] = found
    return found  # type: ignore[no-any-return]


_CONTENT_TYPES = {media: f"{media}; charset=utf-8".encode("latin-1") for media in (GRAPHQL_RESPONSE, JSON)}


class GraphQLEndpoint:
    """ASGI endpoint for GET and POST /graphql."""

    def __init__(self, schema_source: Callable[[], Schema], authenticator: Authenticator,
                 context_factory: Callable[[Caller, str], Context], metrics: Metrics,
                 limits: Limits, departments: KnownDepartments, budget: SharedRateLimiter | None = None) -> None:
        self._limits = limits
        self._budget = budget  # the per-department query budget (GOVSHARE_QUERY_BUDGET_PER_MINUTE)
        self._departments = departments
        self._checked: OrderedDict[tuple[int, str, str | None], GovshareError | None] = OrderedDict()
        self._negotiated: Memo[str | None] = {}
        self._languages: Memo[str] = {}
        self._schema_source = schema_source
        self._authenticator = authenticator
        self._context_factory = context_factory
        self._metrics = metrics
        self._persisted = PersistedDocuments()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        request = Exchange(scope, receive)
        started = time.perf_counter()
        response = await self.handle(request)
        outcome = "ok" if response.status_code < 400 else str(response.status_code)
        self._metrics.observe(outcome, time.perf_counter() - started, request.context, request.errors)
        await response(scope, receive, send)

    def _json(self, body: Mapping[str, Any], status: int, media: str,
              headers: Mapping[str, str] | None = None, encoded: list[tuple[bytes, bytes]] | None = None
              ) -> Answer:
        """``headers`` by name as in the specification; ``encoded`` as ASGI sends them (lower-case names),
        after ``headers``."""
        # Answers carry personal data: no shared or private cache may keep them (GET is allowed).
        data = orjson.dumps(body)
        raw = [(b"cache-control", b"no-store")]
        if headers:
            raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        if encoded:
            raw.extend(encoded)
        raw.append((b"content-length", str(len(data)).encode("latin-1")))
        raw.append((b"content-type", _CONTENT_TYPES.get(media) or f"{media}; charset=utf-8".encode("latin-1")))
        return Answer(data, status, raw)

    async def handle(self, request: Exchange) -> Answer | Response:
        if request.method not in ("GET", "POST"):
            return self._json({"errors": [{"message": "GraphQL supports GET and POST",
                                           "extensions": {"code": "METHOD_NOT_ALLOWED"}}]},
                              405, JSON, {"Allow": "GET, POST"})
        accept = request.headers.get("accept")
        if request.method == "GET" and accept and "text/html" in accept and not request.query_params():
            return graphiql_page()
        media = _memo(self._negotiated, negotiate, accept)
        if media is None:
            return self._json({"errors": [{"message": f"cannot answer in {accept}; accept "
                                           f"{GRAPHQL_RESPONSE} or {JSON}",
                                           "extensions": {"code": "NOT_ACCEPTABLE"}}]}, 406, JSON)
        try:
            caller = await self._authenticator.authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            return self._json({"errors": [{"message": exc.message, "extensions": exc.extensions}]}, 401, media,
                              {"WWW-Authenticate": 'Bearer realm="govshare"'})
        try:
            await self._departments.check(caller.department)
        except UnknownDepartment as exc:
            return self._json({"errors": [{"message": exc.message, "extensions": exc.extensions}]}, 403, media)
        except NodeUnavailable as exc:
            return self._json({"errors": [{"message": exc.message, "extensions": exc.extensions}]}, 503, media,
                              {"Retry-After": "5"})
        if self._budget is not None:
            wait = await self._budget.take(caller.department)  # from memory, but once per leased block
            if wait is not None:
                error = RateLimited(f"query budget of {caller.department} spent; retry in {wait:.0f} s",
                                    retryAfterSeconds=round(wait, 1))
                return self._json({"errors": [{"message": error.message, "extensions": error.extensions}]}, 429,
                                  media, {"Retry-After": str(max(1, round(wait)))})
        params_or_error = await self._read_params(request, media)
        if isinstance(params_or_error, Answer):
            return params_or_error
        query, variables, operation_name, extensions = params_or_error
        purpose_header = request.headers.get("x-govshare-purpose")
        try:
            self._limits.check_variables(variables)
            if purpose_header is not None:
                self._limits.check_string(unquote(purpose_header), "header X-Govshare-Purpose")
        except GovshareError as exc:
            return self._refused(exc, media)
        schema = self._schema_source()
        key = (id(schema), query, operation_name)
        problem = self._checked.get(key, _UNCHECKED)
        if problem is _UNCHECKED:
            problem = await self._document_problem(schema, query, operation_name)
        else:
            self._checked.move_to_end(key)
        if problem is not None:
            return self._refused(problem, media)
        # The request id is ours (unique); a caller's X-Request-Id is kept beside it for correlation only
        # (an empty one counts as none). It goes into the audit trail: one outside the rule is refused.
        offered = request.headers.get("x-request-id") or None
        if offered is not None and REQUEST_ID.fullmatch(offered) is None:
            return self._json({"errors": [{"message": f"header X-Request-Id must be {REQUEST_ID_RULE}",
                                           "extensions": {"code": "BAD_REQUEST", "header": "X-Request-Id",
                                                          "pattern": REQUEST_ID.pattern, "rule": REQUEST_ID_RULE}}]},
                              400, media)
        request_id = current_request_id.get() or os.urandom(16).hex()  # the id of this request's log lines
        lang = _memo(self._languages, language_from_header, request.headers.get("accept-language"))
        context = self._context_factory(caller, request_id)
        context.client_request_id = offered
        request.context = context
        context.lang = lang
        context.purpose_header = purpose_header
        allowed = GET_OPERATIONS if request.method == "GET" else POST_OPERATIONS
        token = statement_log.set(context.statements)
        try:
            result = await execute_planned(
                schema, query, variable_values=variables, context_value=context,
                operation_name=operation_name, allowed_operation_types=allowed, operation_extensions=extensions)
        except InvalidOperationTypeError:
            return self._json({"errors": [{"message": "mutations are only accepted with POST",
                                           "extensions": {"code": "METHOD_NOT_ALLOWED"}}]},
                              405, media, {"Allow": "POST"})
        except CannotGetOperationTypeError as exc:  # an unknown operationName: a request error like a missing one
            return self._refused(GovshareError(exc.as_http_error_reason(), code="BAD_REQUEST"), media)
        finally:
            statement_log.reset(token)
        return self._result_response(request, result, media, request_id, context)

    async def _document_problem(self, schema: Schema, query: str, operation_name: str | None
                                ) -> GovshareError | None:
        """A new document is parsed, checked and validated in a worker thread, so that its cost (up to ~80 ms
        for 4,000 tokens) never holds the loop (one seen before is answered from memory, in ``handle``)."""
        key = (id(schema), query, operation_name)
        problem = await asyncio.to_thread(_document_problem, self._limits, schema, query, operation_name)
        self._checked[key] = problem
        if len(self._checked) > CHECKED_DOCUMENTS:
            self._checked.popitem(last=False)
        return problem

    def _refused(self, error: GovshareError, media: str) -> Answer:
        """A request error found before execution: no data, 400 (200 for application/json clients)."""
        return self._json({"errors": [{"message": error.message, "extensions": dict(error.extensions)}]},
                          400 if media == GRAPHQL_RESPONSE else 200, media)

    def _bad_request(self, message: str, media: str, code: str = "BAD_REQUEST") -> Answer:
        return self._json({"errors": [{"message": message, "extensions": {"code": code}}]}, 400, media)

    def _undecodable(self, error: GovshareError, media: str) -> Answer:
        """A payload that cannot be decoded: 400 whatever the media type, as no GraphQL request was read."""
        return self._json({"errors": [{"message": error.message, "extensions": error.extensions}]}, 400, media)

    def _too_large(self, media: str) -> Answer:
        error = LimitExceeded(f"the request is larger than {self._limits.body_bytes} bytes",
                              limit="maxBodyBytes", maximum=self._limits.body_bytes)
        return self._json({"errors": [{"message": error.message, "extensions": error.extensions}]}, 413, media)

    async def _body(self, request: Exchange) -> bytes | None:
        """The body, or None as soon as it exceeds the limit (never buffered beyond it)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limits.body_bytes:
            return None
        message = await request.receive()  # most bodies come whole in the first message
        if message["type"] == "http.request" and not message.get("more_body", False):
            body: bytes = message.get("body", b"")
            return None if len(body) > self._limits.body_bytes else body
        request.pending = message
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._limits.body_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read_params(self, request: Exchange, media: str
                           ) -> Answer | tuple[str, dict[str, Any] | None, str | None, dict[str, Any] | None]:
        raw: dict[str, Any]
        if request.method == "GET":
            raw = dict(request.query_params())
            for name in ("variables", "extensions"):
                if isinstance(raw.get(name), str) and raw[name] != "":
                    try:
                        raw[name] = orjson.loads(raw[name])
                    except orjson.JSONDecodeError as exc:
                        return self._undecodable(payloads.refusal(raw[name], f"'{name}'", str(exc)), media)
                elif raw.get(name) == "":
                    raw[name] = None
        else:
            content_type = request.headers.get("content-type", "")
            if content_type not in PLAIN_JSON:  # the usual values need no parsing
                mime, *ct_params = (p.strip().lower() for p in content_type.split(";"))
                if mime != JSON:
                    return self._json({"errors": [{"message": "POST bodies must be application/json",
                                                   "extensions": {"code": "UNSUPPORTED_MEDIA_TYPE"}}]}, 415, media)
                charset = next((p.partition("=")[2] for p in ct_params if p.startswith("charset=")), "utf-8")
                if charset.strip('"') not in ("utf-8", "utf8"):
                    return self._json({"errors": [{"message": "only utf-8 request bodies are supported",
                                                   "extensions": {"code": "UNSUPPORTED_MEDIA_TYPE"}}]}, 415, media)
            body = await self._body(request)
            if body is None:
                return self._too_large(media)
            try:
                raw = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return self._undecodable(payloads.refusal(body, "the request body", str(exc)), media)
            if not isinstance(raw, dict):
                return self._bad_request("the request body must be a JSON object", media)
        query, variables = raw.get("query"), raw.get("variables")
        operation_name, extensions = raw.get("operationName"), raw.get("extensions")
        if extensions is not None and not isinstance(extensions, dict):
            return self._bad_request("'extensions' must be an object", media)
        if query is not None and not isinstance(query, str):
            return self._bad_request("'query' must be a non-empty string", media)
        try:  # a persisted operation's hash instead of the text (server/persisted.py)
            query = self._persisted.resolve(query, extensions)
        except GovshareError as exc:
            return self._refused(exc, media)
        if not isinstance(query, str) or not query.strip():
            return self._bad_request("'query' must be a non-empty string", media)
        if variables is not None and not isinstance(variables, dict):
            return self._bad_request("'variables' must be an object", media)
        if operation_name is not None and not isinstance(operation_name, str):
            return self._bad_request("'operationName' must be a string", media)
        return query, variables, operation_name, extensions

    @staticmethod
    def _node_errors(context: Context, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One NODE_UNAVAILABLE error per node whose data is missing from the answer."""
        if not context.node_failures:
            return []
        reported = {e["extensions"].get("node") for e in errors
                    if e.get("extensions", {}).get("code") == "NODE_UNAVAILABLE"}
        extra: list[dict[str, Any]] = []
        for node, reason in sorted(context.node_failures.items()):
            if node not in reported:
                extra.append({"message": f"node {node} did not answer ({reason}); its data is missing",
                              "extensions": {"code": "NODE_UNAVAILABLE", "node": node, "reason": reason}})
        return extra

    def _result_response(self, request: Exchange, result: ExecutionResult, media: str, request_id: str,
                         context: Context) -> Answer:
        headers = [(b"x-request-id", request_id.encode("latin-1")),
                   (b"x-govshare-statements", str(context.statements.count()).encode("latin-1"))]
        body: dict[str, Any] = {}
        errors = [format_error(e) for e in result.errors or []]
        request_error = result.data is None and bool(errors) and all("path" not in e for e in errors)
        request.errors = errors
        if request_error:
            if any(e["extensions"].get("code") == "OPERATION_NOT_ALLOWED" for e in errors):
                return self._json({"errors": errors}, 405, media, encoded=[*headers, (b"allow", b"POST")])
            return self._json({"errors": errors}, 400 if media == GRAPHQL_RESPONSE else 200, media,
                              encoded=headers)
        body["data"] = result.data
        errors.extend(context.errors)
        errors.extend(self._node_errors(context, errors))
        request.errors = errors
        if errors:
            body["errors"] = errors
        if result.extensions:
            body["extensions"] = result.extensions
        return self._json(body, 200, media, encoded=headers)
