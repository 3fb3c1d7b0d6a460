"""/graphql over HTTP: every MUST and SHOULD audit of graphql-http, authentication, negotiation."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import orjson
import pytest
import uvicorn

from govshare.core.settings import Settings
from govshare.server.app import create_app
from govshare.server.postgres import free_port

from ..conftest import Cluster
from ..helpers import SECRET, gql, token

AUDIT = Path(__file__).resolve().parents[1] / "http_audit"


@pytest.fixture(scope="module")
async def live_url(cluster: Cluster, settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, cluster.service_topology), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}/graphql"
    server.should_exit = True
    await task


async def test_graphql_http_audits_must_and_should_pass(live_url: str) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the graphql-http audits (./dev pytest installs them)"
    assert (AUDIT / "node_modules" / "graphql-http").exists(), "run: cd tests/http_audit && npm ci"
    process = await asyncio.create_subprocess_exec(
        node, str(AUDIT / "audit.mjs"), live_url, token(), cwd=AUDIT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    results = json.loads(out)
    assert len(results) >= 50
    failed = [f"{r['name']}: {r['reason']}" for r in results
              if r["status"] != "ok" and r["name"].split()[0] in ("MUST", "SHOULD")]
    assert failed == []


async def test_methods_and_paths_beside_the_graphql_route(client: httpx.AsyncClient) -> None:
    # The route's methods reach the endpoint (its own 405 for all but GET and POST); /graphql/ is
    # starlette's: a redirect to /graphql.
    for method in ("PUT", "PATCH", "DELETE"):
        response = await client.request(method, "/graphql", headers={"Authorization": f"Bearer {token()}"})
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert response.headers["x-request-id"] and response.headers["cache-control"] == "no-store"
    # OPTIONS (no CORS origins configured: not a preflight anyone answers) and HEAD: the same 405, whose
    # Allow names only the methods served (trial-s7 F9: it listed PUT, PATCH and DELETE, refused above)
    for method in ("OPTIONS", "HEAD"):
        response = await client.request(method, "/graphql", headers={
            "Authorization": "", "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
        assert "access-control-allow-origin" not in response.headers
        if method == "OPTIONS":
            assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    response = await client.post("/graphql/", json={"query": "{ __typename }"})
    assert response.status_code == 307 and response.headers["location"].endswith("/graphql")


async def test_no_token_is_401_without_data(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ nodes { code } }"},
                                 headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("bad", [
    "Bearer not-a-jwt",
    "Basic dXNlcjpwYXNz",
    "Bearer " + jwt.encode({"sub": "u", "dept": "650100-MZ", "iat": 1, "exp": int(time.time()) + 60,
                            "iss": "govshare", "aud": "govshare"}, "another-secret-of-at-least-32-bytes!!",
                           algorithm="HS256"),
    "Bearer " + jwt.encode({"sub": "u", "dept": "650100-MZ", "iat": 1, "exp": 2, "iss": "govshare",
                            "aud": "govshare"}, SECRET, algorithm="HS256"),
    "Bearer " + jwt.encode({"sub": "u", "dept": "650100-MZ", "iat": 1, "exp": int(time.time()) + 60,
                            "iss": "govshare", "aud": "someone-else"}, SECRET, algorithm="HS256"),
    "Bearer " + jwt.encode({"sub": "u", "iat": 1, "exp": int(time.time()) + 60, "iss": "govshare",
                            "aud": "govshare"}, SECRET, algorithm="HS256"),
    "Bearer " + jwt.encode({"sub": "u", "dept": "650100-MZ", "iat": 1, "exp": int(time.time()) + 60,
                            "iss": "govshare", "aud": "govshare"}, "", algorithm="none"),
], ids=["garbage", "basic", "wrong-key", "expired", "wrong-audience", "no-department", "alg-none"])
async def test_bad_tokens_are_401(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.post("/graphql", json={"query": "{ nodes { code } }"}, headers={"Authorization": bad})
    assert response.status_code == 401
    assert "data" not in response.json()


async def test_answers_are_never_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ nodes { code } }"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


async def test_graphiql_is_served_to_browsers(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_unacceptable_media_type_is_406(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ nodes { code } }"}, headers={"Accept": "text/csv"})
    assert response.status_code == 406


async def test_validation_error_is_machine_readable(client: httpx.AsyncClient) -> None:
    body, response = await gql(client, "{ nodes { noSuchField } }", Accept="application/graphql-response+json")
    assert response.status_code == 400
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_limits_refuse_deep_and_wide_queries(client: httpx.AsyncClient) -> None:
    deep = "{ department(code: \"650100-GA\") { " + "parent { " * 12 + "code" + " }" * 12 + " } }"
    body, _ = await gql(client, deep)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: nodes {{ code }}" for i in range(40)) + " }"
    body, _ = await gql(client, aliases)
    assert "aliases" in body["errors"][0]["message"]


async def test_unexpected_errors_are_masked(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from govshare.resolvers import catalog

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("select secret_column from resources -- internal detail")

    monkeypatch.setattr(catalog, "resource_page", broken)
    body, response = await gql(client, "{ resources(first: 1) { edges { cursor } } nodes { code } }")
    assert response.status_code == 200
    assert body["data"]["resources"] is None and len(body["data"]["nodes"]) == 5  # the other field survives
    error_id = body["errors"][0]["extensions"]["errorId"]  # the same id is in the log line (test_logs.py)
    assert len(error_id) == 16 and int(error_id, 16) >= 0
    assert body["errors"] == [{"message": "Unexpected error.", "locations": [{"line": 1, "column": 3}],
                               "path": ["resources"], "extensions": {"code": "INTERNAL", "errorId": error_id}}]


async def test_several_operations_need_an_operation_name(client: httpx.AsyncClient) -> None:
    document = "query A { nodes { code } } query B { sharingCatalog(first: 1) { pageInfo { hasNextPage } } }"
    response = await client.post("/graphql", json={"query": document},
                                 headers={"Accept": "application/graphql-response+json"})
    assert response.status_code == 400
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    named = await client.post("/graphql", json={"query": document, "operationName": "B"})
    assert named.json() == {"data": {"sharingCatalog": {"pageInfo": {"hasNextPage": True}}}}


async def test_a_missing_or_unknown_operation_name_is_one_request_error_per_media_type(
        client: httpx.AsyncClient) -> None:
    """Both are GraphQL request errors: 400 under graphql-response+json, 200 under application/json (the
    default), the same body (trial-s7 F4: an unknown name was 400 under application/json)."""
    document = "query A { nodes { code } } query B { sharingCatalog(first: 1) { pageInfo { hasNextPage } } }"
    for accept, status in (("application/graphql-response+json", 400), ("application/json", 200), ("*/*", 200),
                           (None, 200)):
        for name in (None, "C"):
            payload: dict[str, str] = {"query": document, **({"operationName": name} if name else {})}
            response = await client.post("/graphql", json=payload, headers={"Accept": accept} if accept else {})
            assert response.status_code == status, (accept, name)
            body = response.json()
            assert "data" not in body and [e["extensions"]["code"] for e in body["errors"]] == ["BAD_REQUEST"]
            expected = "several operations" if name is None else 'Unknown operation named "C"'
            assert expected in body["errors"][0]["message"], body


def test_the_readme_says_which_status_a_missing_operation_name_gets() -> None:
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert ("with status 400 under `Accept: application/graphql-response+json` and 200 under `application/json` "
            "(also with no `Accept` or `*/*`)") in readme


async def test_a_failed_or_rate_limited_verify_keeps_the_other_root_fields(client: httpx.AsyncClient) -> None:
    query = """{ nodes { code } sharingCatalog(first: 1) { pageInfo { hasNextPage } }
        verify(resource: "population", key: "650100198001011231", values: [{item: "name", value: "x"}]) { found } }"""
    department = "654300-GA"
    limiter = client.app.state.limiter  # type: ignore[attr-defined]
    while await limiter.take(department) is None:
        pass
    body, _ = await gql(client, query, Authorization=f"Bearer {token(department)}")
    assert body["data"]["verify"] is None and len(body["data"]["nodes"]) == 5
    assert body["data"]["sharingCatalog"] == {"pageInfo": {"hasNextPage": True}}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
    body, _ = await gql(client, query.replace('"population"', '"nothing"'))
    assert body["data"]["verify"] is None and len(body["data"]["nodes"]) == 5
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_a_body_in_several_messages_is_read_whole(client: httpx.AsyncClient) -> None:
    """A body that does not come in one ASGI message (a streaming client, no Content-Length) is read
    chunk by chunk, as one that does is taken from its first message."""
    document = orjson.dumps({"query": "{ __typename }"})

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(document), 5):
            yield document[start:start + 5]

    streamed = await client.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    whole = await client.post("/graphql", content=document, headers={"Content-Type": "application/json"})
    assert streamed.status_code == whole.status_code == 200
    assert streamed.json() == whole.json() == {"data": {"__typename": "Query"}}


async def test_a_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    limit = Settings().max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "variables": {"p": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}}'

    response = await client.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["limit"] == "maxBodyBytes"


def test_accept_headers_are_negotiated_once_each_and_the_memo_stays_bounded() -> None:
    """The endpoint remembers what each Accept and Accept-Language value comes to (a client sends the same
    ones every time); a client varying them gets the same answers and costs at most HEADER_MEMO entries."""
    from govshare.resolvers.context import language_from_header
    from govshare.server import graphql_http
    from govshare.server.graphql_responses import negotiate

    negotiated: graphql_http.Memo[str | None] = {}
    languages: graphql_http.Memo[str] = {}
    for i in range(2 * graphql_http.HEADER_MEMO + 3):
        accept = f"application/json;q=0.{i % 9 + 1}, text/x-{i}" if i % 3 else f"text/x-{i}"
        language = f"en;q=0.{i % 9 + 1}, zh;q=0.5" if i % 2 else f"fr-{i}"
        for _ in range(2):
            assert graphql_http._memo(negotiated, negotiate, accept) == negotiate(accept)
            assert graphql_http._memo(languages, language_from_header, language) == language_from_header(language)
        assert 0 < len(negotiated) <= graphql_http.HEADER_MEMO and 0 < len(languages) <= graphql_http.HEADER_MEMO


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=UTF-8",
                                          "Application/JSON ; Charset=\"utf8\""])
async def test_json_bodies_are_accepted_in_each_spelling(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post("/graphql", content=orjson.dumps({"query": "{ __typename }"}),
                                 headers={"Content-Type": content_type})
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("content_type", ["application/json; charset=latin-1", "text/plain", ""])
async def test_other_bodies_are_415(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post("/graphql", content=orjson.dumps({"query": "{ __typename }"}),
                                 headers={"Content-Type": content_type})
    assert response.status_code == 415
