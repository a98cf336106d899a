"""Debian's headless Chromium driven by Playwright: the one way tests (and the screenshot script) open a
browser. ``executable_path`` is the ``chromium`` on PATH; never ``playwright install``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright import sync_api

from tests.helpers.required_tools import path_of

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser, closed on leaving."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path_of("chromium"), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
