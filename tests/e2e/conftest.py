"""A real headless Chromium (Debian's package, driven by Playwright) in front of the whole stack."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

from tests.client_demo.conftest import stack  # noqa: F401 - fixture
from tests.programs import require_program

CHROMIUM = os.environ.get("AUTHORIUM_TEST_CHROMIUM", "/usr/bin/chromium")
# As root and on a machine without outside network: no sandbox, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    executable = require_program(CHROMIUM, "chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile per test: no cookies or storage carried over."""
    ctx = await chromium.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    await ctx.close()
