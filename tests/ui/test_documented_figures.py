"""The figures the dashboard guide gives are the dashboard's (docs/how-to/dashboard.md).

The behaviour behind each is tested beside it, with the figure made small; these hold
the figures themselves to what the page says.
"""

from __future__ import annotations

import re

from starlette.testclient import TestClient

import dashboard  # examples/dashboard.py
from actors.ui import _actions, _case_page, _gate, create_app

LOCAL = "http://127.0.0.1:8400"


def refresh_of(page: str) -> list[str]:
    """The intervals the page's parts poll at (htmx ``every Ns`` triggers)."""
    return re.findall(r'hx-trigger="[^"]*\bevery (\w+)', page)


def test_the_overview_refreshes_every_five_seconds_and_an_unfinished_case_every_two(store):
    web = TestClient(create_app(store, dashboard.WORKFLOWS), base_url=LOCAL)
    assert refresh_of(web.get("/").text) == ["5s"]  # "refreshes itself every five seconds"
    # parcel-3 waits for its pickup; parcel-0 is DONE: "While the case is unfinished, the
    # live parts of the page refresh every two seconds."
    assert refresh_of(web.get("/cases/parcel-3").text) == ["2s"]
    assert refresh_of(web.get("/cases/parcel-0").text) == []


def test_the_overview_counts_the_cases_ended_in_each_of_the_last_15_minutes(store):
    page = TestClient(create_app(store, dashboard.WORKFLOWS), base_url=LOCAL).get("/").text
    assert "Cases ended per minute, last 15 minutes" in page
    assert page.count('<div class="bar" ') == 15


def test_the_case_page_s_limits_are_the_guide_s() -> None:
    # "the first 200 jobs ..., the most recent 1,001 history entries of each of the first
    # 50"; "Past 1,000 entries ... the timeline shows the most recent 1,000".
    assert _case_page.SHOWN_JOBS == 200
    assert _case_page.HISTORY_JOBS == 50
    assert _case_page.HISTORY_ENTRIES == 1_000
    # An event's payload: "nested at most 100 levels below the top value" (the command's
    # limit too); "an action request larger than 1 MiB is refused with 413".
    assert _actions.MAX_PAYLOAD_DEPTH == 100
    assert _actions.MAX_ACTION_BYTES == 1024 * 1024


def test_a_store_that_fails_is_checked_as_the_guide_says() -> None:
    # "then at most one every 2 s; the page that starts it waits for it half a second
    # at most"
    assert _gate.RETRY == 2.0
    assert _gate.CHECK_WAIT == 0.5
