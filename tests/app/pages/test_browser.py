"""The served dashboard of the default configuration in Debian's headless Chromium (Playwright with
``executable_path``; never ``playwright install``): it renders, cells open their deployment pages, the view links
(stage, test environment) work without scripts of ours being needed, and the page fits 390 px and 1280 px
screens. The December 2018 grid (8 and 20 clouds) is ``test_dashboard_browser.py``'s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import chromium
from tests.helpers.servers import Served


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_dashboard_in_chromium(browser: Any, served: Served, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(served.url)
    assert page.locator("section.relation h2").all_inner_texts() == ["Graduated", "Incubating"]
    badge = page.locator('td[data-project="prometheus"][data-stage="deploy"][data-cloud="local"] a.badge')
    assert badge.get_attribute("href") == "/projects/prometheus/stable/local"
    assert badge.get_attribute("aria-label") == "Prometheus stable deploy on Local: success"
    stale = page.locator('td[data-project="nats"][data-release="stable"][data-stage="deploy"]')
    assert stale.inner_text().split() == ["success", "stale"]
    assert stale.locator(".stale-mark").count() == 1

    page.click('nav.selector a[data-kubernetes="head"]')
    page.wait_for_url("**/views/deploy/head/any/")
    assert page.locator("nav.selector a.current").all_inner_texts() == ["head", "each project's first"]
    page.click('nav.stages a:text("Provision")')
    page.wait_for_url("**/views/provision/head/any/")
    assert page.locator('td[data-stage="provision"][data-project="etcd"]').get_attribute("data-status") == "success"
    assert errors == []  # no CSP violations, no missing assets

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(served.url)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page body scrolls sideways by {overflow} px at 390 px"
    card = page.locator("table.grid tbody tr").first  # one card per project and release
    assert card.evaluate("e => getComputedStyle(e).display") == "grid"
    shot = tmp_path / "dashboard-390.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    print(f"screenshot: {shot}")
    page.set_viewport_size({"width": 1280, "height": 900})
    wide = tmp_path / "dashboard-1280.png"
    page.screenshot(path=str(wide), full_page=True)
    print(f"screenshot: {wide}")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    served.stop()
