"""The dashboard in a real browser, and the screenshots the docs show.

Each page opens and draws its graph; a faulted case is retried and reaches DONE; a
waiting case is cancelled, and another is answered from the send-event form.

Screenshots go to ``$ACTORS_SCREENSHOTS`` when set (``docs/how-to/img`` refreshes the
docs' pictures), else to a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bounds import TIMEOUT
from ui_browser import Browser, Served, chromium, need_chromium

import dashboard  # examples/dashboard.py
from actors import Mediator, StoreError
from actors.stores import open_store
from actors.ui import create_app

pytestmark = pytest.mark.slow

TIMEOUT_MS = int(TIMEOUT * 1000)  # the browser counts milliseconds
FAST_REFRESH = "300ms"  # a case page's polls in these tests (2 s in use)


@pytest.fixture
def live(tmp_path_factory, monkeypatch):
    """A worker and the dashboard over one SQLite store of shipments, and a browser."""
    need_chromium()
    # Case pages poll every 0.3 s, not 2 s: a state the worker changed shows that much
    # sooner; what the pages show, and the screenshots, are the same.
    monkeypatch.setattr("actors.ui._app._REFRESH", FAST_REFRESH)
    root = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{root / 'shipments.db'}"
    worker: Mediator = dashboard.fill(url, done=6, faulted=2, waiting=2)
    store = open_store(url)
    served = Served(create_app(store, dashboard.WORKFLOWS))
    try:
        with chromium(root / "profile") as browser:
            yield served.url, browser, worker
    finally:
        served.stop()
        worker.shutdown(drain=False)
        store.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    where = os.environ.get("ACTORS_SCREENSHOTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def graph_drawn(page):
    """Wait until Mermaid has drawn the page's graph (an SVG inside the graph element)."""
    page.wait_for_selector(".graph[data-drawn='true'] svg", timeout=TIMEOUT_MS)


def test_each_page_opens_and_draws_its_graph(live, shots):
    base, browser, _ = live
    page = browser.page()
    page.goto(base + "/")
    page.wait_for_selector("#faulted >> text=parcel-6", timeout=TIMEOUT_MS)
    assert page.inner_text("#by-state tbody").startswith("shipment v1")
    page.screenshot(path=str(shots / "dashboard-overview.png"), full_page=True)

    page.click("#by-state >> text=shipment")
    page.wait_for_url("**/workflows/shipment")
    graph_drawn(page)
    page.screenshot(path=str(shots / "dashboard-workflow.png"), full_page=True)

    page.goto(base + "/cases/parcel-6")
    graph_drawn(page)
    # The faulted branch's step is drawn in the faulted style.
    label = page.locator(".graph svg .node.st_faulted")
    assert label.count() >= 1
    assert page.inner_text("#case-state-value") == "faulted"
    page.screenshot(path=str(shots / "dashboard-case.png"), full_page=True)

    _assert_clean(browser)


def _assert_clean(browser: Browser) -> None:
    assert browser.elsewhere == [], "a page fetched from elsewhere"
    assert browser.errors == [], "a page's script failed"


def test_retry_cancel_and_send_an_event_from_the_pages(live, shots):
    base, browser, _worker = live
    expect = pytest.importorskip("playwright.sync_api").expect
    page = browser.page()

    # parcel-6's label branch faulted (the carrier was down); the carrier is back for
    # the next attempt. The worker holds no ended case: the retry is made in the store
    # and the worker takes the case on its next poll.
    page.goto(base + "/cases/parcel-6")
    graph_drawn(page)
    branch = page.locator("#jobs tr[data-kind=branch]").filter(has=page.locator(".state.faulted"))
    branch.get_by_role("button", name="Retry").click()  # confirmed in the dialog
    expect(page.locator("#flash")).to_contain_text("retried", timeout=TIMEOUT_MS)
    expect(page.locator("#case-state-value")).to_have_text("done", timeout=TIMEOUT_MS)
    expect(page.locator("#timeline")).to_contain_text("retry")  # the action, in the history
    graph_drawn(page)
    page.screenshot(path=str(shots / "dashboard-case-retried.png"), full_page=True)

    # parcel-9 waits for its pickup; the live worker holds it and carries out the cancel.
    page.goto(base + "/cases/parcel-9")
    expect(page.locator("#case-state-value")).to_have_text("waiting", timeout=TIMEOUT_MS)
    expect(page.locator("input[name=correlation_id]")).to_have_value("parcel-9/await_pickup")
    graph_drawn(page)
    page.screenshot(path=str(shots / "dashboard-case-waiting.png"), full_page=True)
    page.get_by_role("button", name="Cancel case").click()
    expect(page.locator("#flash")).to_contain_text("cancelled", timeout=TIMEOUT_MS)
    expect(page.locator("#case-state-value")).to_have_text("cancelled", timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Cancel case")).to_be_disabled()

    # parcel-8 waits too: answer its pickup request from the form, as the desk would.
    page.goto(base + "/cases/parcel-8")
    expect(page.locator("input[name=correlation_id]")).to_have_value("parcel-8/await_pickup")
    page.fill("textarea[name=payload]", '{"van": 4, "at": "08:30"}')
    page.get_by_role("button", name="Send event").click()
    expect(page.locator("#flash")).to_contain_text("delivered", timeout=TIMEOUT_MS)
    expect(page.locator("#case-state-value")).to_have_text("done", timeout=TIMEOUT_MS)
    expect(page.locator("#data pre.json").first).to_contain_text('"van": 4')

    _assert_clean(browser)


def test_a_page_whose_store_goes_away_says_its_figures_are_stale(tmp_path, monkeypatch):
    """A refresh that failed left the page as it was, with nothing to say it was old."""
    need_chromium()
    expect = pytest.importorskip("playwright.sync_api").expect
    # The case page polls every 0.3 s, not 2 s: the failed refresh and the next good
    # one, both waited for below, come that much sooner; what they show is the same.
    monkeypatch.setattr("actors.ui._app._REFRESH", FAST_REFRESH)
    url = f"sqlite:///{tmp_path / 'shipments.db'}"
    worker: Mediator = dashboard.fill(url, done=1, faulted=0, waiting=1)
    worker.shutdown(drain=False)  # the waiting case's page keeps polling (not final)
    store = open_store(url)
    served = Served(create_app(store, dashboard.WORKFLOWS))
    try:
        with chromium(tmp_path / "profile") as browser:
            page = browser.page()
            page.goto(served.url + "/cases/parcel-1")
            expect(page.locator("#case-state-value")).to_have_text("waiting")
            expect(page.locator("#stale")).to_be_empty()

            def gone(*_: object) -> None:
                raise StoreError("postgresql://app:s3cr3t-pw@db/jobs: connection refused")

            with monkeypatch.context() as patch:
                patch.setattr(store, "_read", gone)
                stale = page.locator("#stale")
                expect(stale).to_contain_text("Not updated since", timeout=TIMEOUT_MS)
                expect(stale).to_contain_text("The store cannot be read")
                assert "s3cr3t-pw" not in stale.inner_text()
                expect(page.locator("#case-state-value")).to_have_text("waiting")  # kept
            expect(page.locator("#stale")).to_be_empty(timeout=TIMEOUT_MS)  # back
            assert browser.elsewhere == [] and browser.errors == []
    finally:
        served.stop()
        store.close()
