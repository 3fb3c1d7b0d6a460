"""CORS: dashboards on configured origins may call /graphql from a browser; nobody else, and nobody by default."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from govshare.core.errors import ConfigurationError
from govshare.core.settings import Settings
from govshare.server.app import create_app

from ..conftest import Cluster

DASHBOARD = "https://dashboard.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, x-govshare-purpose"}


def _client(settings: Settings, cluster: Cluster) -> httpx.AsyncClient:
    # Preflight and /healthz need no database: the app is not started (no lifespan).
    app = create_app(settings, cluster.service_topology)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://govshare.test")


async def test_a_configured_origin_passes_preflight_and_reads_answers(settings: Settings, cluster: Cluster) -> None:
    async with _client(replace(settings, cors_origins=(DASHBOARD,)), cluster) as http:
        preflight = await http.options("/graphql", headers={"Origin": DASHBOARD, **PREFLIGHT})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == DASHBOARD
        assert set(preflight.headers["access-control-allow-methods"].split(", ")) >= {"GET", "POST"}
        allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "x-govshare-purpose"} <= allowed
        assert "access-control-allow-credentials" not in preflight.headers  # bearer tokens, no cookies
        answer = await http.get("/healthz", headers={"Origin": DASHBOARD})
        assert answer.headers["access-control-allow-origin"] == DASHBOARD
        assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


async def test_other_origins_are_refused(settings: Settings, cluster: Cluster) -> None:
    async with _client(replace(settings, cors_origins=(DASHBOARD,)), cluster) as http:
        preflight = await http.options("/graphql", headers={"Origin": "https://evil.example", **PREFLIGHT})
        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers
        answer = await http.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answer.headers


async def test_no_origin_is_allowed_by_default(settings: Settings, cluster: Cluster) -> None:
    assert settings.cors_origins == ()
    async with _client(settings, cluster) as http:
        preflight = await http.options("/graphql", headers={"Origin": DASHBOARD, **PREFLIGHT})
        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.status_code == 405  # no CORS layer: /graphql does not answer OPTIONS


def test_origins_are_checked_when_read() -> None:
    assert Settings.from_env({"GOVSHARE_CORS_ORIGINS": f"{DASHBOARD} http://127.0.0.1:3000"}).cors_origins == (
        DASHBOARD, "http://127.0.0.1:3000")
    for bad in ("*", "dashboard.example", "https://dashboard.example/path", "ftp://x.example"):
        with pytest.raises(ConfigurationError, match="GOVSHARE_CORS_ORIGINS"):
            Settings.from_env({"GOVSHARE_CORS_ORIGINS": bad})
