"""The dashboard's guards as a real browser meets them: a sign-in link, another site's page.

A link to ``/?token=TOKEN`` followed from another site (a chat, a mail) signs in and
shows the page; that site's page cannot have the browser fetch the dashboard's pages.
"""

from __future__ import annotations

from typing import Any

import pytest
from bounds import TIMEOUT
from ui_browser import Served, chromium, need_chromium

import dashboard  # examples/dashboard.py
from actors.ui import create_app

pytestmark = pytest.mark.slow

TIMEOUT_MS = int(TIMEOUT * 1000)
TOKEN = "k" * 24


@pytest.fixture
def browser(tmp_path):
    need_chromium()
    with chromium(tmp_path / "profile") as browser:
        yield browser


def test_a_sign_in_link_followed_from_another_site_opens_the_page(store, browser):
    """The cookie is SameSite=Strict: a redirect of another site's navigation had none."""
    served = Served(create_app(store, dashboard.WORKFLOWS, token=TOKEN, hosts=None))
    try:
        page = browser.page()
        # A page that is no site of the dashboard's (a chat's message with the link).
        page.set_content(f'<a id="link" href="{served.url}/cases/parcel-2?token={TOKEN}">go</a>')
        with page.expect_navigation(url=f"{served.url}/cases/parcel-2", timeout=TIMEOUT_MS):
            page.click("#link")
        page.wait_for_selector("#case-state-value", timeout=TIMEOUT_MS)
        assert TOKEN not in page.url
        assert page.inner_text("h1") == "Case parcel-2"
    finally:
        served.stop()


class Answers:
    """An ASGI application's answers, recorded: ``(path, status)`` each."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.given: list[tuple[str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.given.append((scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


def test_another_sites_page_cannot_fetch_the_dashboards_pages(store, browser):
    answers = Answers(create_app(store, dashboard.WORKFLOWS))
    served = Served(answers)
    try:
        page = browser.page()
        page.set_content("<p>another site</p>")
        # An opaque answer: the page sees nothing, but the dashboard did the work.
        fetched = page.evaluate(
            "url => fetch(url, {mode: 'no-cors'}).then(r => r.type, () => 'failed')",
            f"{served.url}/workflows/shipment",
        )
        assert fetched == "opaque"
        assert answers.given == [("/workflows/shipment", 403)]
    finally:
        served.stop()


def test_a_phone_wide_screen_scrolls_no_page_sideways(store, browser):
    """The header's search box kept its 220 px: every page was 17 px wider than a phone."""
    served = Served(create_app(store, dashboard.WORKFLOWS))
    try:
        page = browser.page()
        page.set_viewport_size({"width": 375, "height": 800})
        for path in ("/", "/faulted", "/workflows/shipment", "/cases/parcel-2"):
            page.goto(f"{served.url}{path}", timeout=TIMEOUT_MS)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 375, (path, wide)
    finally:
        served.stop()
