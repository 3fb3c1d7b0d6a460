"""Structured logs: one JSON object per line, the request id on every line of a request, masked errors
carrying an error id that is in their log line."""

from __future__ import annotations

import io
import logging
import logging.config
import os
from collections.abc import Iterator

import httpx
import orjson
import pytest

from govshare.policies.authority import AuthorityModel
from govshare.server.logs import RequestIdFilter, config, json_formatter

from ..helpers import gql


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the service logs under ``govshare``, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("govshare")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]  # every line one JSON object


async def test_a_masked_error_carries_an_id_that_is_in_its_log_line(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, lines: io.StringIO) -> None:
    from govshare.resolvers import catalog

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("select secret_column from resources -- internal detail")

    monkeypatch.setattr(catalog, "resource_page", broken)
    body, response = await gql(client, "{ resources(first: 1) { edges { cursor } } }")
    error_id = body["errors"][0]["extensions"]["errorId"]
    assert "secret_column" not in response.text
    [line] = [entry for entry in _parsed(lines) if entry.get("error_id") == error_id]
    assert line["level"] == "ERROR" and line["logger"] == "govshare.graphql"
    assert line["request_id"] == response.headers["x-request-id"]
    assert "secret_column" in str(line["exc_info"])  # the traceback is in the log, not in the answer


async def test_each_request_has_its_own_id_and_lines_outside_requests_none(client: httpx.AsyncClient, lines: io.StringIO) -> None:
    logging.getLogger("govshare.test").info("outside any request")
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    inside = [line["request_id"] for line in _parsed(lines) if line["request_id"] is not None]
    assert inside == [first.headers["x-request-id"], second.headers["x-request-id"]]  # their access lines
    outside = [line for line in _parsed(lines) if line["request_id"] is None]
    assert outside == [{"time": outside[0]["time"], "level": "INFO", "logger": "govshare.test", "pid": os.getpid(),
                        "message": "outside any request", "request_id": None}]


async def test_an_unexpected_exception_outside_graphql_is_a_masked_500(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, lines: io.StringIO) -> None:
    from govshare.server import health

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(health, "JSONResponse", broken)
    response = await client.get("/healthz")
    assert response.status_code == 500
    error = response.json()["errors"][0]
    assert error["message"] == "Unexpected error." and error["extensions"]["code"] == "INTERNAL"
    assert "internal detail" not in response.text
    [line] = [entry for entry in _parsed(lines) if entry.get("error_id") == error["extensions"]["errorId"]]
    assert line["request_id"] == response.headers["x-request-id"] and "internal detail" in str(line["exc_info"])


async def test_an_unexpected_exception_in_the_graphql_endpoint_is_a_masked_500(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, lines: io.StringIO) -> None:
    # /graphql is dispatched without starlette's error middleware: RequestContext alone masks and logs.
    from govshare.server import graphql_http

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(graphql_http, "negotiate", broken)
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 500 and response.headers["cache-control"] == "no-store"
    error = response.json()["errors"][0]
    assert error["message"] == "Unexpected error." and error["extensions"]["code"] == "INTERNAL"
    assert "internal detail" not in response.text
    [line] = [entry for entry in _parsed(lines) if entry.get("error_id") == error["extensions"]["errorId"]]
    assert line["request_id"] == response.headers["x-request-id"] and "internal detail" in str(line["exc_info"])
    [access] = [entry for entry in _parsed(lines) if entry["logger"] == "govshare.access"]
    assert (access["method"], access["path"], access["status"]) == ("POST", "/graphql", 500)


async def test_one_access_line_per_request_without_the_query_string(client: httpx.AsyncClient,
                                                                     lines: io.StringIO) -> None:
    response = await client.get("/graphql", params={"query": '{ verify(key: "650100198001011234") }'},
                                headers={"Accept": "application/json"})
    [line] = [entry for entry in _parsed(lines) if entry["logger"] == "govshare.access"]
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/graphql", response.status_code)
    assert line["message"] == f"GET /graphql {response.status_code}" and line["duration_ms"] >= 0
    assert "650100198001011234" not in lines.getvalue()  # variables and queries never reach the log


def test_the_logging_configuration_formats_uvicorn_lines_too() -> None:
    """uvicorn's access log propagates to the one JSON handler, which tags the request id."""
    settings = config("json")
    assert settings["loggers"]["uvicorn.access"] == {"level": "INFO", "handlers": [], "propagate": True}
    assert settings["root"]["handlers"] == ["default"]
    assert settings["handlers"]["default"]["filters"] == ["request_id"]
    assert "()" in config("json")["formatters"]["default"] and "format" in config("text")["formatters"]["default"]




def test_building_an_enforcer_logs_nothing_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """pycasbin logs its whole model at INFO whenever an enforcer is built (every rules reload): noise.

    The sequence of a start: pycasbin's loggers exist (an enforcer was built), then uvicorn applies our
    configuration (which re-enables loggers pycasbin had disabled), then the rules load."""
    AuthorityModel("650000", [])
    names = ["casbin", "casbin.policy", "casbin.enforcer", "casbin.role"]
    before = {name: logging.getLogger(name).level for name in names}
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, "loggers": config("json")["loggers"]})
    try:
        with caplog.at_level(logging.INFO):
            AuthorityModel("650000", [])
        assert not [r.getMessage() for r in caplog.records if r.name.startswith("casbin")]
        assert logging.getLogger("casbin.policy").getEffectiveLevel() == logging.WARNING  # warnings still pass
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def test_our_json_lines_are_the_librarys_byte_for_byte() -> None:
    """json_formatter collects fields in its own pass (cheaper); every line must stay what python-json-logger
    writes: the access line with its extras, a line without extras, an exception's line, a dict message,
    a record carrying private and non-text attributes."""
    from pythonjsonlogger.orjson import OrjsonFormatter

    from govshare.server.logs import FIELDS, RENAMED

    ours, theirs = json_formatter(), OrjsonFormatter(list(FIELDS), rename_fields=RENAMED,
                                                    datefmt="%Y-%m-%dT%H:%M:%S%z")
    logger = logging.getLogger("govshare.access")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        error = exc
    records = [
        logger.makeRecord("govshare.access", logging.INFO, __file__, 0, "%s %s %d", ("POST", "/graphql", 200),
                          None, "f", {"method": "POST", "path": "/graphql", "status": 200, "duration_ms": 1.25,
                                      "client": None, "request_id": "ab" * 16}),
        logger.makeRecord("govshare.http", logging.WARNING, __file__, 3, "plain %s", ("line",), None),
        logger.makeRecord("govshare.http", logging.ERROR, __file__, 3, "failed", (),
                          (type(error), error, error.__traceback__), "f", {"error_id": "e1"}),
        logger.makeRecord("govshare.http", logging.INFO, __file__, 3, {"a": 1}, (), None),
    ]
    odd = logger.makeRecord("govshare.http", logging.INFO, __file__, 3, "odd", (), None, None, {"level": "x"})
    odd.__dict__["_private"] = 1
    odd.__dict__[7] = "seven"  # a key that is not text: kept, as the library keeps it
    records.append(odd)
    for record in records:
        first = ours.format(record)
        assert first == theirs.format(record), record.__dict__
