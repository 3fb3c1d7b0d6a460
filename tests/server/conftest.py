"""Fixtures of the browser tests: govshare on a real port and one headless Chromium per module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from govshare.core.settings import Settings

from ..conftest import Cluster
from .console_browsers import chromium, serve


@pytest.fixture(scope="module")
async def live_root(cluster: Cluster, settings: Settings) -> AsyncIterator[str]:
    async for root in serve(cluster, settings):
        yield root


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async for instance in chromium():
        yield instance
