"""The dashboard's overview shows the workers: live or stopped, their cases, their leases."""

from __future__ import annotations

import html
import re
import time

from records import record
from starlette.testclient import TestClient

from actors.stores import open_store
from actors.ui import create_app


def test_the_overview_lists_the_stopped_workers_first_with_their_cases(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        for name in ("a", "b", "c"):
            store.create(record(name))
        now = time.time()
        assert len(store.claim("w-stopped", now=now - 180, lease_seconds=60.0, limit=2)) == 2
        assert len(store.claim("w-live", now=now, lease_seconds=300.0, limit=1, case_id="c")) == 1
        web = TestClient(create_app(store, []), base_url="http://127.0.0.1:8400")
        page = html.unescape(web.get("/live/overview").text)
    finally:
        store.close()
    section = page[page.index('id="workers"') : page.index('id="unheld"')]
    assert re.search(r"<h2>Workers <span class=\"count\">2</span></h2>", section), section
    rows = re.findall(
        r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td class=\"num\">(\d+)</td>", section
    )
    assert rows == [
        ("w-stopped", "expired: its cases wait for a takeover", "2"),
        ("w-live", "live", "1"),
    ]
    assert re.search(r"ended 2 min ago", section), section
    assert re.search(r"in 5 min", section), section


def test_the_overview_lists_20_workers_and_counts_the_rest(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        now = time.time()
        for n in range(22):
            store.heartbeat(f"w{n:02}", now=now + n, lease_seconds=60.0)
        web = TestClient(create_app(store, []), base_url="http://127.0.0.1:8400")
        page = html.unescape(web.get("/live/overview").text)
    finally:
        store.close()
    section = page[page.index('id="workers"') : page.index('id="unheld"')]
    assert len(re.findall(r"<td>w\d\d</td>", section)) == 20
    assert "The 20 whose lease ended first, of 22 (22 live)." in section
