"""Structured logs: one JSON object per line, the request id on every line logged while a request runs.

The request id lives in a context variable set by ``RequestContext`` (below) at the start of every HTTP
request, so any logger anywhere (resolvers, the node pools, uvicorn's access log, which is written from
inside the request's ``send``) is tagged without being handed the id. Formatting is
python-json-logger's orjson formatter; ``GOVSHARE_LOG_FORMAT=text`` keeps plain lines for people.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
import uuid
from typing import Any

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("govshare_request_id", default=None)

# The fields of every JSON line, in this order (python-json-logger adds extras such as ``error_id`` after).
FIELDS = ("asctime", "levelname", "name", "process", "message", "request_id")
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}


class RequestIdFilter(logging.Filter):
    """Tags each record with the id of the request being served (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def json_formatter() -> logging.Formatter:
    from pythonjsonlogger.orjson import OrjsonFormatter

    formatter = OrjsonFormatter(list(FIELDS), rename_fields=RENAMED, datefmt="%Y-%m-%dT%H:%M:%S%z")
    return formatter


def config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and uvicorn (passed as uvicorn's ``log_config``,
    so every worker process configures itself the same way)."""
    formatter: dict[str, Any] = (
        {"()": "govshare.server.logs.json_formatter"} if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"})
    handler = {"class": "logging.StreamHandler", "formatter": "default", "filters": ["request_id"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "govshare.server.logs.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        # uvicorn's loggers propagate to the root: one handler, one format for every line.
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": level, "handlers": [], "propagate": True},
            # pycasbin logs its whole model at INFO each time an enforcer is built: noise in every start.
            "casbin": {"level": "WARNING", "handlers": [], "propagate": True},
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def new_error_id() -> str:
    """The id of one masked internal error: in the answer (``extensions.errorId``) and in its log line."""
    return uuid.uuid4().hex[:16]


class RequestContext:
    """ASGI middleware: a fresh request id for every HTTP request (``X-Request-Id`` on every answer, the
    ``request_id`` of every log line), one access line per request, and an unexpected exception answered
    as a masked 500 whose error id is in the log line with the traceback.

    The access line replaces uvicorn's: the path without its query string (a GET /graphql carries the
    query and its variables there, personal data included), the status and duration as fields, and
    cheaper (uvicorn's JSON access line was ~3% of a one-row request's CPU).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.logger = logging.getLogger("govshare.http")
        self.access = logging.getLogger("govshare.access")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = os.urandom(16).hex()  # as uuid4().hex looks, at a fifth of its cost
        token = request_id.set(rid)
        header = (b"x-request-id", rid.encode())
        started = False
        status = 500
        began = time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    message = {**message, "headers": [*headers, header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error_id = new_error_id()
            self.logger.error("unexpected error serving %s %s", scope.get("method"), scope.get("path"),
                              exc_info=exc, extra={"error_id": error_id})
            if started:
                raise  # the answer is on its way: the connection is cut, the log line says why
            body = orjson.dumps({"errors": [{"message": "Unexpected error.",
                                             "extensions": {"code": "INTERNAL", "errorId": error_id}}]})
            await send({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json; charset=utf-8"), (b"cache-control", b"no-store"),
                (b"content-length", str(len(body)).encode()), header]})
            await send({"type": "http.response.body", "body": body})
        finally:
            if self.access.isEnabledFor(logging.INFO):
                client = scope.get("client")
                self.access.info("%s %s %d", scope.get("method"), scope.get("path"), status, extra={
                    "method": scope.get("method"), "path": scope.get("path"), "status": status,
                    "duration_ms": round((time.perf_counter() - began) * 1000, 2),
                    "client": client[0] if client else None})
            request_id.reset(token)
