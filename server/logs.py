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

    class JsonFormatter(OrjsonFormatter):
        """python-json-logger's orjson formatter, collecting a line's fields in one pass over the record:
        its ``add_fields`` calls a method and looks the renames up for every field (~30 of the ~1,200 Python
        calls of a one-row request go to the access line's fields). The same fields in the same order with
        the same values (tests/server/test_logs.py compares both); whatever our configuration does not use
        (defaults, static fields, a timestamp, kept missing renames, a dict message, an exception's text)
        goes through the library's own ``add_fields``."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._plain = not (getattr(self, "defaults", None) or self.static_fields or self.timestamp
                               or self.rename_fields_keep_missing)
            self._required = [(field, self.rename_fields.get(field, field)) for field in self._required_fields]
            # Whether an extra field can be renamed at all (ours rename only fields of every line).
            self._renames_extras = bool(set(self.rename_fields) - self._skip_fields)

        def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                       message_dict: dict[str, Any]) -> None:
            if message_dict or not self._plain:
                super().add_fields(log_data, record, message_dict)
                return
            values = record.__dict__
            for field, name in self._required:
                log_data[name] = values.get(field)
            skip, rename, renames = self._skip_fields, self.rename_fields, self._renames_extras
            for key, value in values.items():  # the library's merge_record_extra
                if key in skip:
                    continue
                if key.__class__ is str:
                    if key[:1] == "_":
                        continue
                elif hasattr(key, "startswith") and key.startswith("_"):
                    continue
                log_data[rename.get(key, key) if renames else key] = value

    return JsonFormatter(list(FIELDS), rename_fields=RENAMED, datefmt="%Y-%m-%dT%H:%M:%S%z")


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
            access = self.access
            if access.isEnabledFor(logging.INFO):
                client = scope.get("client")
                method, path = scope.get("method"), scope.get("path")
                # The record as ``access.info`` makes it, less the search of the stack for the caller's file
                # and line (no format prints them; ~20 of a one-row request's ~1,200 Python calls).
                access.handle(access.makeRecord(
                    access.name, logging.INFO, __file__, 0, "%s %s %d", (method, path, status), None,
                    "__call__", {"method": method, "path": path, "status": status,
                                 "duration_ms": round((time.perf_counter() - began) * 1000, 2),
                                 "client": client[0] if client else None}))
            request_id.reset(token)
