"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright, a live
govshare on 127.0.0.1, every other host blocked, and screenshots kept in tests/artifacts/ (gitignored)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, Request, Route, async_playwright

from govshare.core.settings import Settings
from govshare.seed.roles import DEMO_USERS
from govshare.server.app import create_app
from govshare.server.identity import mint_demo_token
from govshare.server.postgres import free_port

from ..conftest import Cluster
from ..helpers import SECRET

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def demo_token(user: str) -> str:
    department = next(u.department for u in DEMO_USERS if u.user == user)
    return mint_demo_token(SECRET, department, user=user)


async def serve(cluster: Cluster, settings: Settings) -> AsyncIterator[str]:
    """govshare on a real port for the browser (module fixtures yield from this)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, cluster.service_topology), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def require_chromium() -> None:
    # Never skipped: ./dev pytest installs Debian's chromium when it is missing.
    assert CHROMIUM.exists(), "/usr/bin/chromium is missing: run ./dev pytest (it installs Debian's chromium)"


async def chromium() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Tab:
    """One browser tab with the network blocked except 127.0.0.1, recording what it asked for."""

    context: BrowserContext
    page: Page
    root: str
    blocked: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, authorization
    console_errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    def graphql_only(self) -> bool:
        """Every request of the page's scripts went to /graphql (pages and static files aside)."""
        return all(path == "/graphql" or path == "/console" or path.startswith("/static/")
                   for _, path, _ in self.requests)


async def open_tab(browser: Browser, root: str, **context_options: Any) -> Tab:
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, **context_options)
    tab = Tab(context, await context.new_page(), root)

    async def only_localhost(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            tab.blocked.append(route.request.url)
            await route.abort()

    def seen(request: Request) -> None:
        tab.requests.append((request.method, urlsplit(request.url).path, request.headers.get("authorization")))

    await context.route("**/*", only_localhost)
    tab.page.on("request", seen)
    tab.page.on("pageerror", lambda exc: tab.console_errors.append(str(exc)))
    return tab


async def graphql(root: str, bearer: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same question the page asks, straight over HTTP."""
    async with httpx.AsyncClient(base_url=root, timeout=10) as http:
        response = await http.post("/graphql", json={"query": query, "variables": variables or {}},
                                   headers={"Authorization": f"Bearer {bearer}"})
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def sign_in(browser: Browser, root: str, user: str, bearer: str | None = None) -> Tab:
    """Open /console and paste the user's token as `./dev demo` prints it (the page keeps the token alone)."""
    tab = await open_tab(browser, root)
    await tab.page.goto(f"{root}/console")
    await tab.page.locator("#token").wait_for(state="visible", timeout=10_000)
    await tab.page.fill("#token", f'{{"Authorization": "Bearer {bearer or demo_token(user)}"}}')
    await tab.page.click("#token-form button[type=submit]")
    await tab.page.locator("#nav a").first.wait_for(timeout=30_000)  # the first request builds the schema
    return tab
