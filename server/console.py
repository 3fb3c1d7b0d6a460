"""The web console at /console: supervision dashboard and policy administration, plain HTML and ES modules
served from ``server/static`` (``console.html``, ``console-*.js``, ``console.css``) with ECharts vendored.

The page is one document; its views are chosen in the browser (``#dashboard``, ``#rules`` …) from what the
caller's ``me { permissions }`` allows, and every request it makes goes to ``/graphql``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from .assets import CONTENT_SECURITY_POLICY, STATIC

CONSOLE_PAGE = (STATIC / "console.html").read_text(encoding="utf-8")


async def console_page(request: Request) -> HTMLResponse:
    return HTMLResponse(CONSOLE_PAGE, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                               "Cache-Control": "no-cache",
                                               "X-Content-Type-Options": "nosniff"})
