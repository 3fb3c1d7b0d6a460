"""Browser files govshare ships and serves itself (government networks are offline: no CDN).

``server/static/vendor/<package>-<version>/`` holds npm packages' minified browser builds with their
licences (pinned in ``server/static/vendor/package.json``); the rest of ``server/static`` is ours.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
GRAPHIQL_PAGE = (STATIC / "graphiql.html").read_text(encoding="utf-8")

# The browser itself refuses anything not from this origin: a stray CDN reference fails loudly here
# instead of hanging on a network that does not exist. GraphiQL sets inline styles and embeds its fonts
# as data: URLs.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


# The tab icon: the console's red (--accent in console.css) with three rows of a shared table. It lives here,
# not as a file under static/, so that the wheel's package data needs no new kind of file; browsers ask
# for /favicon.ico of every page (JSON answers too), and the two HTML pages link it as SVG.
FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
           b'<rect width="32" height="32" rx="6" fill="#b3261e"/>'
           b'<rect x="7" y="8" width="18" height="3" rx="1" fill="#fff"/>'
           b'<rect x="7" y="14.5" width="18" height="3" rx="1" fill="#fff"/>'
           b'<rect x="7" y="21" width="11" height="3" rx="1" fill="#fff"/></svg>')


async def favicon(request: Request) -> Response:
    return Response(FAVICON, media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff",
                             "Content-Security-Policy": "default-src 'none'"})


def graphiql_page() -> HTMLResponse:
    return HTMLResponse(GRAPHIQL_PAGE, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                                "Cache-Control": "no-cache",
                                                "X-Content-Type-Options": "nosniff"})


class Assets(StaticFiles):
    """StaticFiles with caching headers: vendored files have their version in the path and never change
    (cache for a year); our own files are revalidated (ETag) on every load."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        vendored = Path(full_path).resolve().is_relative_to(STATIC / "vendor")
        response.headers["Cache-Control"] = ("public, max-age=31536000, immutable" if vendored
                                             else "no-cache")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_files() -> Assets:
    return Assets(directory=STATIC)
