"""A case whose task fails again and again with text chosen to be slow to mask.

A task that quotes its input in its error lets whoever chooses the input choose the
error: a text full of ``x://`` and ``@`` takes milliseconds a time to mask, and a case
page shows up to 1,201 of them (its error, 200 jobs, 1,000 history entries). The page
is drawn off the server's event loop, so other requests are answered meanwhile, and each
distinct text is masked once, not again at every refresh.
"""

from __future__ import annotations

import threading

import pytest
import requests
from bounds import TIMEOUT
from starlette.testclient import TestClient
from ui_browser import Served

from actors import JobState, Mediator, Retry, Sequential, Workflow
from actors.stores import open_store
from actors.ui import _json_text, _templates, create_app
from actors.ui._kept import Kept

LOCAL = "http://127.0.0.1:8400"
ATTEMPTS = 30
HOSTILE_TEXT = "ab c:/@ " * 40


def parse(data, ctx):
    msg = f"cannot parse address {data['address']} (attempt {ctx.attempt})"
    raise ValueError(msg)


FLAKY = Workflow(
    "parse-input",
    start="parse",
    steps=[Sequential("parse", parse, retry=Retry(attempts=ATTEMPTS))],
)


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory):
    """A store holding one case that failed ``ATTEMPTS`` times with a hostile error."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'hostile.db'}"
    worker = Mediator([FLAKY], runners=1, store=url)
    try:
        handle = worker.schedule("parse-input", {"address": HOSTILE_TEXT}, job_id="slow-case")
        assert handle.result(timeout=TIMEOUT).state is JobState.FAULTED
    finally:
        worker.shutdown(drain=False)
    store = open_store(url)
    yield store
    store.close()


def test_a_page_being_drawn_does_not_hold_up_other_requests(hostile_store, monkeypatch):
    """Drawing the page ran on the event loop: a static file waited for the whole page."""
    drawing, release = threading.Event(), threading.Event()
    shown = _templates._shown

    def slow_shown(value):
        if value == "slow-case":  # the case's id, printed as its page is drawn
            drawing.set()
            release.wait(TIMEOUT)
        return shown(value)

    monkeypatch.setattr(_templates, "_shown", slow_shown)
    served = Served(create_app(hostile_store))
    page: list[int] = []
    opener = threading.Thread(
        target=lambda: page.append(
            requests.get(f"{served.url}/cases/slow-case", timeout=2 * TIMEOUT).status_code
        )
    )
    try:
        opener.start()
        assert drawing.wait(TIMEOUT), "the case's page was never drawn"
        try:
            css = requests.get(f"{served.url}/static/app.css", timeout=TIMEOUT / 3)
        except requests.Timeout:
            pytest.fail("a static file waited for another request's page to be drawn")
        assert css.status_code == 200
    finally:
        release.set()
        opener.join(2 * TIMEOUT)
        served.stop()
    assert page == [200]


def test_each_error_and_data_text_is_masked_once_however_often_the_page_is_drawn(
    hostile_store, monkeypatch
):
    masked: list[str] = []

    def counted(mask):
        def count(text):
            masked.append(text)
            return mask(text)

        return count

    for module in (_templates, _json_text):
        monkeypatch.setattr(module, "mask_secrets", counted(module.mask_secrets))
    # None kept from the tests before (a page drawn there).
    monkeypatch.setattr(_templates, "KEPT_TEXTS", Kept(4096), raising=False)
    monkeypatch.setattr(_json_text, "KEPT_DATA", Kept(512), raising=False)
    web = TestClient(create_app(hostile_store), base_url=LOCAL)
    first = web.get("/cases/slow-case")
    assert first.status_code == 200
    errors = [t for t in masked if "cannot parse address" in t]
    assert len(errors) >= ATTEMPTS  # each attempt's error, in the history and the job
    assert HOSTILE_TEXT in masked  # the case's data
    masked.clear()
    again = web.get("/live/cases/slow-case")
    assert again.status_code == 200
    assert [t for t in masked if "cannot parse address" in t or t == HOSTILE_TEXT] == []
    assert "cannot parse address" in again.text and HOSTILE_TEXT.strip() in again.text


def test_a_secret_remembered_later_is_masked_in_a_text_masked_before(tmp_path):
    """The texts kept masked are masked again once another password is known."""
    from actors._redact import remember_secrets

    secret = "Rem3mbered-Later-9x"
    text = f"connection to db failed: {secret} rejected"
    assert secret in _templates.masked(text)
    remember_secrets(f"postgresql://app:{secret}@db/jobs")
    assert secret not in _templates.masked(text)
