"""The dashboard against a hostile client: headers, redirects, Host, payloads, odd ids.

Every answer carries the security headers; sign-in and the other redirects stay on the
dashboard; the Host check takes no junk; a payload nested too deep, or an id holding a
NUL, gets a 4xx answer; names and ids with a ``/`` are linked so that the link opens them.
"""

from __future__ import annotations

import html
import re

import pytest
from bounds import TIMEOUT
from starlette.testclient import TestClient

import dashboard  # examples/dashboard.py
from actors.stores import open_store
from actors.ui import create_app
from actors.ui._reads import pretty_json
from actors.ui._security import host_name

LOCAL = "http://127.0.0.1:8400"
TOKEN = "t" * 24
FAULTED, WAITING = "parcel-2", "parcel-3"


@pytest.fixture
def store(shipments):
    store = open_store(shipments)
    yield store
    store.close()


@pytest.fixture
def any_store(any_shipments):
    store = open_store(any_shipments)
    yield store
    store.close()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def test_every_answer_carries_the_security_headers(store, actions):
    local = TestClient(create_app(store, dashboard.WORKFLOWS, actions=actions), base_url=LOCAL)
    signed = TestClient(
        create_app(store, dashboard.WORKFLOWS, token=TOKEN, hosts=None),
        base_url="http://10.1.2.3:8400",
        follow_redirects=False,
    )
    token = csrf_of(local.get(f"/cases/{WAITING}").text)
    answers = {
        "overview": local.get("/"),
        "live": local.get("/live/overview"),
        "case": local.get(f"/cases/{FAULTED}"),
        "static": local.get("/static/app.js"),
        "missing": local.get("/cases/no-such-case"),
        "no route": local.get("/no/such/page"),
        "action": local.post("/actions/cancel", data={"case_id": WAITING, "csrf": token}),
        "refused action": local.post("/actions/cancel", data={"case_id": WAITING}),
        "wrong host": TestClient(local.app, base_url="http://evil.test").get("/"),
        "no token": signed.get("/"),
        "sign-in": signed.get(f"/?token={TOKEN}"),
    }
    for what, answer in answers.items():
        for name, value in HEADERS.items():
            assert answer.headers.get(name) == value, (what, name, answer.headers)
        policy = answer.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy, (what, policy)
        assert "frame-ancestors 'none'" in policy, (what, policy)
        scripts = re.search(r"script-src ([^;]*)", policy)
        assert scripts and "unsafe-inline" not in scripts.group(1), (what, policy)


def test_the_pages_hold_no_inline_script(store):
    web = TestClient(create_app(store, dashboard.WORKFLOWS), base_url=LOCAL)
    for path in ("/", f"/cases/{FAULTED}", "/workflows/shipment"):
        page = web.get(path).text
        for tag in re.findall(r"<script[^>]*>", page):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", page), path  # no onclick= and the like
