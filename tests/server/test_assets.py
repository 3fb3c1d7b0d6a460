"""GraphiQL offline: the files govshare ships, how they are served, and the page in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Request, Route, async_playwright

from govshare.server.assets import STATIC
from govshare.server.console_examples import readme_examples

from ..helpers import token
from .console_browsers import CHROMIUM, CHROMIUM_ARGS, require_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots, gitignored

BROWSER_HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_vendored_packages_are_pinned_with_their_licences() -> None:
    pinned = json.loads((STATIC / "vendor" / "package.json").read_text())["dependencies"]
    folders = sorted(p.name for p in (STATIC / "vendor").iterdir() if p.is_dir())
    assert folders == sorted(f"{name}-{version}" for name, version in pinned.items())
    for folder in folders:
        files = {p.name for p in (STATIC / "vendor" / folder).iterdir()}
        assert "LICENSE" in files
        # LICENSE, and where a package ships them, NOTICE and the licences of code it bundles (LICENSE-d3).
        assert all(f.startswith("LICENSE") or f == "NOTICE" or ".min." in f for f in files), files


async def test_page_references_only_its_own_files(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers=BROWSER_HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    icon, *references = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert icon == "/favicon.ico"
    assert len(references) == 6
    assert all(ref.startswith("/static/") for ref in references), references
    assert "//" not in response.text.replace("<!doctype", "")
    for ref in references:
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        expected = "text/css" if ref.endswith(".css") else "javascript"
        assert expected in asset.headers["content-type"], ref
        assert asset.headers["x-content-type-options"] == "nosniff"
        immutable = "immutable" in asset.headers["cache-control"]
        assert immutable == ref.startswith("/static/vendor/"), ref


async def test_the_tab_icon_is_served_here(client: httpx.AsyncClient) -> None:
    # Browsers ask every origin for /favicon.ico (a 404 was the console's one error in the browser).
    response = await client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and response.text.endswith("</svg>")
    assert "script" not in response.text and "href" not in response.text  # nothing it could load or run
    for page in ("/graphql", "/console"):
        html = (await client.get(page, headers=BROWSER_HTML)).text
        assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in html, page


async def test_assets_outside_the_folder_are_not_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/../server/app.py")).status_code == 404
    assert (await client.get("/static/%2e%2e/app.py")).status_code == 404
    assert (await client.get("/static/vendor/graphiql-3.8.3/missing.js")).status_code == 404


def test_examples_are_the_readme_samples() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    examples = json.loads((STATIC / "graphiql-examples.json").read_text())
    # Every README sample is offered, and nothing else (titles follow the README's headings and may lag).
    assert [e["query"] for e in examples] == [e["query"] for e in readme_examples(readme)], (
        "regenerate: .venv/bin/python -m govshare.server.console_examples > server/static/graphiql-examples.json")
    assert len(examples) == readme.count("```graphql\n") + readme.count("```graphql_admin\n") >= 3
    assert examples[0]["title"] == "Catalog queries"


async def test_graphiql_runs_a_sample_offline_with_a_session_token(live_root: str) -> None:
    blocked: list[str] = []
    graphql_requests: list[tuple[str, str | None]] = []
    console_errors: list[str] = []

    async def only_localhost(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    def seen(request: Request) -> None:
        if urlsplit(request.url).path == "/graphql" and request.method == "POST":
            graphql_requests.append((request.url, request.headers.get("authorization")))

    bearer = token()
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            await context.route("**/*", only_localhost)
            page = await context.new_page()
            page.on("request", seen)
            page.on("console", lambda message: console_errors.append(message.text) if message.type == "error"
                    else None)
            await page.goto(f"{live_root}/graphql")
            await page.locator("#token").wait_for(state="visible", timeout=10_000)
            assert graphql_requests == []  # no schema fetch before there is a token
            # Pasted as `./dev demo` prints it: the page keeps the token alone.
            await page.fill("#token", f'  {{"Authorization": "Bearer {bearer}"}}')
            await page.click("#token-form button[type=submit]")
            # The schema loads by itself once the token is set: the docs explorer can open.
            await page.locator(".graphiql-execute-button").wait_for(timeout=15_000)
            async with page.expect_response(lambda r: r.url.endswith("/graphql")
                                            and "IntrospectionQuery" not in (r.request.post_data or "")
                                            ) as answer:
                await page.click(".graphiql-execute-button")
            body = await (await answer.value).json()
            assert body["data"]["nodes"], body
            # The header: the name, then the sign-out button apart from it (GraphiQL's `all: unset` on buttons
            # once erased the margin, and the text read "govshareSign out").
            assert await page.locator(".graphiql-logo").inner_text() == "govshare Sign out"
            brand = await page.locator(".govshare-brand").bounding_box()
            button = await page.locator(".govshare-sign-out").bounding_box()
            assert brand is not None and button is not None
            assert button["x"] - (brand["x"] + brand["width"]) >= 8
            result = page.locator(".result-window")
            # CodeMirror renders only the lines in view: the answer begins with data.resources.
            await result.get_by_text('"resources"').wait_for(timeout=10_000)
            assert '"data"' in await result.inner_text()
            # The README's samples are listed by title beside the editor; one opens in a new tab and runs.
            examples = json.loads((STATIC / "graphiql-examples.json").read_text())
            own = next(i for i, e in enumerate(examples) if "explain(department: \"650100-MZ\"" in e["query"])
            await page.locator(".govshare-example").nth(own).click()
            await page.locator(".graphiql-tab").nth(1).wait_for(timeout=10_000)
            await page.locator(".graphiql-query-editor").get_by_text("explain").first.wait_for(timeout=10_000)
            async with page.expect_response(lambda r: r.url.endswith("/graphql")
                                            and "explain" in (r.request.post_data or "")) as answer:
                await page.click(".graphiql-execute-button")
            explained = await (await answer.value).json()
            assert explained["data"]["explain"]["allowed"] is True, explained
            stored = await page.evaluate("() => [sessionStorage.getItem('govshare.token'),"
                                         " JSON.stringify(Object.assign({}, localStorage))]")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "graphiql.png"), full_page=True)
        finally:
            await browser.close()
    assert stored[0] == bearer
    assert bearer not in stored[1]
    assert blocked == []
    assert console_errors == []  # a missing /favicon.ico used to be one
    assert len(graphql_requests) >= 2  # the schema, then the sample
    assert all(url == f"{live_root}/graphql" and auth == f"Bearer {bearer}" for url, auth in graphql_requests)
