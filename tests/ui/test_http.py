"""The dashboard over HTTP: its pages, the guards on its actions, and masked passwords.

Guards: the CSRF token and origin, read-only, the access token, loopback host names.
"""

from __future__ import annotations

import html
import re
import time
from urllib.parse import quote

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner
from records import record
from starlette.testclient import TestClient

import dashboard  # examples/dashboard.py
from actors import (
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    Synchronize,
    Wait,
    Workflow,
)
from actors._cli import main
from actors.stores import open_store
from actors.ui import _case_page, create_app
from actors.ui._reads import Reader

LOCAL = "http://127.0.0.1:8400"

# shipments: parcel-0 and parcel-1 DONE, parcel-2 FAULTED, parcel-3 WAITING (see conftest).
FAULTED, WAITING = "parcel-2", "parcel-3"


def client(store, **options):
    app = create_app(store, dashboard.WORKFLOWS, **options)
    return TestClient(app, base_url=LOCAL)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def branch_zero(page: str) -> str:
    """The id of branch 0 in a case's page."""
    found = re.search(r"<code>([^<]+)</code></td>\s*<td>branch 0</td>", page)
    assert found, "the page lists branch 0"
    return found.group(1)


def test_each_page_shows_what_the_store_holds(any_store):
    web = client(any_store)
    overview = web.get("/")
    assert overview.status_code == 200
    assert "shipment</a> v1" in overview.text
    faulted = overview.text.split('id="faulted"')[1].split("</section>")[0]
    assert FAULTED in faulted and "parcel-0" not in faulted
    assert "carrier refused parcel 2" in faulted

    case = web.get(f"/cases/{FAULTED}")
    assert case.status_code == 200
    assert 'class="state faulted" id="case-state-value"' in case.text
    assert "flowchart TD" in case.text and "class s2_label st_faulted" in case.text
    assert "Step history" in case.text and "&#34;parcel&#34;: 2" in case.text

    workflow = web.get("/workflows/shipment")
    assert workflow.status_code == 200
    # The waiting shipment sits at await_pickup: its node says so and is drawn waiting.
    assert "request, await reply&lt;br/&gt;1 waiting&#34;]]" in workflow.text
    assert "class s6_await_pickup st_waiting" in workflow.text

    waiting = web.get(f"/cases/{WAITING}")
    assert f'value="{WAITING}/await_pickup"' in waiting.text  # the correlation id to answer

    assert web.get("/cases/no-such-case").status_code == 404
    assert web.get("/workflows/no-such-workflow").status_code == 404


def test_the_overview_counts_what_ended_in_the_last_minute(any_store):
    reader = Reader(any_store)
    now = time.time()
    recent = reader.throughput(15, now)
    # The fixture's 2 DONE and 1 FAULTED cases ended within the last minute or two.
    assert recent.total == 3 and sum(recent.done) == 2 and sum(recent.other) == 1
    assert sum(recent.done[-2:]) == 2
    # An hour on, they are out of the window; an hour before, not yet in it.
    assert reader.throughput(15, now + 3600).total == 0
    assert reader.throughput(15, now - 3600).total == 0
    # Counted per case, and the unfinished waiting case is the one no worker holds.
    counts = {c.workflow: c.states for c in reader.case_counts()}
    assert counts == {"shipment": {"done": 2, "faulted": 1, "waiting": 1}}
    assert [c.id for c in reader.unheld(now=now + 3600)] == [WAITING]
    assert reader.unheld_counts(now + 3600) == {("shipment", 1): 1}
    assert reader.unheld_counts(now + 3600) == any_store.unclaimed(now + 3600)


def test_the_assets_are_served_from_the_package(store):
    web = client(store)
    page = web.get("/").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") and s[1:2] != "/" for s in sources), sources
    for path in ("/static/vendor/htmx.min.js", "/static/vendor/mermaid.min.js", "/static/app.js"):
        assert web.get(path).status_code == 200


def test_an_action_needs_the_pages_csrf_token(store, actions):
    web = client(store, actions=actions)
    token = csrf_of(web.get(f"/cases/{WAITING}").text)
    form = {"case_id": WAITING}
    assert web.post("/actions/cancel", data=form).status_code == 403
    assert web.post("/actions/cancel", data={**form, "csrf": "guess"}).status_code == 403
    cross_site = web.post(
        "/actions/cancel", data={**form, "csrf": token}, headers={"Origin": "https://evil.test"}
    )
    assert cross_site.status_code == 403
    assert actions.calls == []

    done = web.post("/actions/cancel", data=form, headers={"X-CSRF-Token": token})
    assert done.status_code == 200 and f"cancelled {WAITING}" in done.text
    event = {"correlation_id": f"{WAITING}/await_pickup", "payload": '{"at": 9}', "csrf": token}
    assert web.post("/actions/event", data=event, headers={"Origin": LOCAL}).status_code == 200
    assert actions.calls == [
        ("cancel", WAITING),
        ("event", f"{WAITING}/await_pickup", {"at": 9}, False),
    ]


def test_a_payload_that_is_not_json_is_refused_with_the_reason(store, actions):
    web = client(store, actions=actions)
    token = csrf_of(web.get(f"/cases/{WAITING}").text)
    bad = {"correlation_id": "x/y", "payload": "{nope", "csrf": token}
    answer = web.post("/actions/event", data=bad)
    assert answer.status_code == 409 and "not JSON" in answer.text
    assert actions.calls == []


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ("NaN", "holds NaN, which is not JSON"),
        ('{"at": -Infinity}', "holds -Infinity, which is not JSON"),
        ("[1e999]", "too large for a float: it would be stored as Infinity"),
        ("9" * 4301, "an integer of more than 4300 digits"),
        ('{"at": 1, "at": 2}', "gives the key 'at' twice in one object"),
    ],
)
def test_a_payload_no_json_reader_reads_back_is_refused_as_the_command_refuses_it(
    store, actions, payload, said
):
    """The form is read as ``actors events send --data`` is.

    It took what Python's reader takes: ``NaN`` was stored, and ``jobs show --json``
    printed it back as ``NaN``, which no JSON reader reads; ``1e999`` became Infinity.
    """
    web = client(store, actions=actions)
    token = csrf_of(web.get(f"/cases/{WAITING}").text)
    event = {"correlation_id": f"{WAITING}/await_pickup", "payload": payload, "csrf": token}
    answer = web.post("/actions/event", data=event)
    assert answer.status_code == 409 and said in html.unescape(answer.text), answer.text
    assert actions.calls == []


def test_an_event_sent_from_a_case_page_to_another_cases_job_is_refused(store, actions):
    """A case page's event form names its case.

    A correlation id typed or pasted from another case's page is refused, naming both
    cases, and nothing is sent.
    """
    web = client(store, actions=actions)
    page = web.get(f"/cases/{FAULTED}").text
    assert f'name="case_id" value="{FAULTED}"' in page
    cid = f"{WAITING}/await_pickup"
    event = {"correlation_id": cid, "payload": "{}", "csrf": csrf_of(page), "case_id": FAULTED}
    answer = web.post("/actions/event", data=event)
    assert answer.status_code == 409
    assert (
        f"Refused: correlation id {cid!r} is of job {WAITING} of case {WAITING}, not of case "
        f"{FAULTED} (this page's); nothing was sent" in html.unescape(answer.text)
    )
    assert actions.calls == []
    sent = web.post("/actions/event", data={**event, "case_id": WAITING})  # from its own page
    assert sent.status_code == 200
    assert actions.calls == [("event", cid, {}, False)]


def test_read_only_disables_the_buttons_and_refuses_actions(shipments, actions):
    store = open_store(shipments, read_only=True)  # as actors ui --read-only opens it
    web = client(store, actions=actions, read_only=True)
    for path in ("/", f"/cases/{WAITING}", "/workflows/shipment"):
        assert web.get(path).status_code == 200, path
    page = web.get(f"/cases/{FAULTED}").text
    buttons = re.findall(r"<button[^>]*>", page)
    assert buttons and all("disabled" in b for b in buttons)
    assert "read-only" in page
    answer = web.post("/actions/retry", data={"job_id": FAULTED, "csrf": csrf_of(page)})
    assert answer.status_code == 403 and "read-only" in answer.text
    assert actions.calls == []
    store.close()


def test_with_a_token_every_request_must_carry_it(store):
    token = "t" * 24
    web = create_app(store, dashboard.WORKFLOWS, token=token, hosts=None)
    anonymous = TestClient(web, base_url="http://10.1.2.3:8400")
    assert anonymous.get("/").status_code == 401
    assert anonymous.get("/static/app.js").status_code == 401
    assert anonymous.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert anonymous.get("/?token=wrong").status_code == 401
    assert anonymous.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    browser = TestClient(web, base_url="http://10.1.2.3:8400", follow_redirects=False)
    signed_in = browser.get(f"/cases/{FAULTED}?token={token}")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == f"/cases/{FAULTED}"  # the token leaves the URL
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert browser.get(f"/cases/{FAULTED}").status_code == 200  # the cookie carries it now


def test_without_a_token_only_loopback_host_names_are_answered(store):
    web = create_app(store, dashboard.WORKFLOWS)
    for base in ("http://127.0.0.1:8400", "http://localhost:8400", "http://[::1]:8400"):
        assert TestClient(web, base_url=base).get("/").status_code == 200, base
    # A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) gets nothing.
    assert TestClient(web, base_url="http://evil.test:8400").get("/").status_code == 400
    with pytest.raises(ValueError, match="needs a token"):
        create_app(store, hosts=None)


@pytest.mark.slow
def test_passwords_in_urls_are_never_shown(tmp_path):
    url = f"sqlite:///{tmp_path / 'secrets.db'}"
    secret = "postgresql://app:s3cr3t-pw@db.internal/orders"
    worker = dashboard.Mediator([_leaky()], runners=1, store=url)
    try:
        data = {"dsn": secret, "login": {"user": "app", "Password": "hunter2-pw"}, "api_key": "k-9"}
        job = worker.schedule("leaky", data, job_id="leak-1").result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    # The engine masks the error as it records it; the stored data still holds the
    # password, so the pages must mask it themselves.
    assert job.state is JobState.FAULTED and "s3cr3t-pw" not in job.error
    assert "s3cr3t-pw" in job.data["dsn"]
    store = open_store(url)
    store.url = "postgresql://app:s3cr3t-pw@db.internal/orders"  # as a PostgreSQL store's
    web = client(store)
    for path in ("/", "/cases/leak-1", "/live/cases/leak-1", "/workflows/leaky"):
        page = web.get(path)
        assert page.status_code == 200, path
        for secret_text in ("s3cr3t-pw", "hunter2-pw", "k-9"):
            assert secret_text not in page.text, (path, secret_text)
    case = web.get("/cases/leak-1").text
    assert "app:***@db.internal" in case
    assert "&#34;Password&#34;: &#34;***&#34;" in case and "&#34;user&#34;: &#34;app&#34;" in case
    store.close()


def _leaky():
    def connect(data):
        msg = f"cannot connect to {data['dsn']}"
        raise ConnectionError(msg)

    return dashboard.Workflow("leaky", [dashboard.Sequential("connect", connect)], start="connect")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "give it --token"),
        (["--host", "192.168.1.5", "--token", "short"], "at least 16 characters"),
        (["--host", "192.168.1.5", "--token", "пароль-очень-длинный-1"], "printable ASCII"),
    ],
)
def test_the_command_refuses_an_open_bind_without_a_token(shipments, args, message):
    result = CliRunner().invoke(main, ["ui", "--store", shipments, *args])
    assert result.exit_code == 2
    assert message in result.output


def test_the_command_refuses_a_memory_store():
    result = CliRunner().invoke(main, ["ui", "--store", "memory://"])
    assert result.exit_code == 2
    assert "lives inside one process" in result.output


def test_the_buttons_use_the_admin_api_and_record_the_operator(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    worker = dashboard.fill(url, done=0, faulted=0, waiting=1)
    worker.shutdown(drain=False)  # nobody holds the case now: the change is made in the store
    store = open_store(url)
    try:
        web = client(store, operator="alice")
        case = "parcel-0"
        token = csrf_of(web.get(f"/cases/{case}").text)
        answer = web.post("/actions/cancel", data={"case_id": case, "csrf": token})
        assert answer.status_code == 200, answer.text
        assert "cancelled" in answer.text and "alice" in answer.text
        assert store.get(case).state is JobState.CANCELLED
        page = web.get(f"/cases/{case}").text
        assert "by alice" in page  # the action, in the case's history
        again = web.post("/actions/retry", data={"job_id": case, "csrf": token})
        assert again.status_code == 409  # refused: the job did not fault; the reason is shown
        assert "flash error" in again.text
    finally:
        store.close()


@pytest.mark.slow
def test_a_wide_case_is_listed_within_bounds_and_a_branch_leads_to_its_case(tmp_path):
    url = f"sqlite:///{tmp_path / 'wide.db'}"
    wide = dashboard.Workflow(
        "wide",
        [
            dashboard.ParallelSplit("fan", branches=lambda d: list(range(d["n"])), each="item"),
            dashboard.Sequential("item", lambda d: None, next="join"),
            dashboard.Synchronize("join", merge=lambda parent, branches: None),
        ],
        start="fan",
    )
    worker = dashboard.Mediator([wide], runners=2, store=url)
    try:
        worker.schedule("wide", {"n": 260}, job_id="wide-1").result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    store = open_store(url)
    try:
        web = TestClient(create_app(store, [wide]), base_url=LOCAL, follow_redirects=False)
        page = web.get("/cases/wide-1").text
        assert page.count('data-kind="branch"') == 199  # the root and 199 branches
        assert "and 61 more jobs" in page
        assert "Of the first 50 of 261 jobs." in page
        moved = web.get(f"/cases/{branch_zero(page)}")
        assert moved.status_code == 303 and moved.headers["location"].endswith("/cases/wide-1")
    finally:
        store.close()


def test_a_long_history_draws_its_most_recent_entries(store, monkeypatch):
    """A job that loops keeps a row per save: 20,000 made a 6.7 MB page, 0.8 s a refresh."""
    web = TestClient(create_app(store, dashboard.WORKFLOWS), base_url=LOCAL)
    timeline = re.compile(r'<ol class="timeline">(.*?)</ol>', re.S)
    whole = web.get(f"/cases/{FAULTED}").text
    every = timeline.search(whole).group(1).count("<li ")
    assert every > 3
    assert "The most recent" not in whole
    monkeypatch.setattr(_case_page, "HISTORY_ENTRIES", 3, raising=False)
    page = web.get(f"/cases/{FAULTED}").text
    assert timeline.search(page).group(1).count("<li ") == 3
    # Only each job's most recent entries are read: the page says there are more.
    assert "The most recent 3 entries; there are more" in page
    # The entries drawn are the last ones, timed from the case's first entry.
    last = re.findall(r'<span class="at"[^>]*>([^<]*)</span>', whole)
    assert re.findall(r'<span class="at"[^>]*>([^<]*)</span>', page) == last[-3:]


def test_the_search_box_opens_a_case_by_its_id_or_a_branch_id(store):
    web = TestClient(create_app(store, dashboard.WORKFLOWS), base_url=LOCAL)
    assert web.get("/find", params={"id": f" {FAULTED} "}).url.path == f"/cases/{FAULTED}"
    branch = branch_zero(web.get(f"/cases/{FAULTED}").text)
    assert web.get("/find", params={"id": branch}).url.path == f"/cases/{FAULTED}"
    assert web.get("/find", params={"id": "nope"}).status_code == 404
    assert web.get("/find").url.path == "/"


@pytest.mark.slow
def test_ids_names_and_errors_that_look_like_markup_or_url_syntax_stay_text(tmp_path):
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    odd_id = 'x"><img src=x onerror=alert(1)> ?a#b%c'

    def boom(data):
        msg = "</pre><script>alert(2)</script>"
        raise ValueError(msg)

    odd = dashboard.Workflow("w<b>", [dashboard.Sequential('s<i>"', boom)], start='s<i>"')
    worker = dashboard.Mediator([odd], runners=1, store=url)
    try:
        data = {"k": "</pre><script>alert(3)</script>"}
        worker.schedule("w<b>", data, job_id=odd_id).result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    store = open_store(url)
    try:
        web = TestClient(create_app(store, [odd]), base_url=LOCAL)
        home = web.get("/").text
        found = re.findall(r'href="([^"]*/(?:cases|workflows)/[^"]*)"', home)
        links = [html.unescape(h) for h in found]
        assert len(links) == 2  # the workflow, and the case among the faulted
        for link in [*links, f"{LOCAL}/find?id={quote(odd_id)}"]:
            page = web.get(link)
            assert page.status_code == 200, link
            assert "<script>alert" not in page.text and "<img src=x" not in page.text, link
    finally:
        store.close()


def test_a_case_page_counts_the_branches_of_a_split_that_have_not_ended(tmp_path):
    """The count comes from the branches' rows, not the parent's saved bookkeeping."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    flow = Workflow(
        "fan",
        [
            ParallelSplit("fan", branches=lambda d: d["long"], each="which"),
            ExclusiveChoice("which", spec=lambda d: d, if_true="pause", if_false="join"),
            Wait("pause", duration=3600, next="join"),
            Synchronize("join", merge=lambda parent, branches: None),
        ],
        start="fan",
    )
    worker = Mediator([flow], runners=2, store=url)
    worker.schedule("fan", {"long": [False, True, False]}, job_id="fan-1")
    # The drain ends once nothing runs: two branches at the join, one parked for an hour.
    assert worker.shutdown(drain=True, timeout=TIMEOUT)
    store = open_store(url)
    try:
        page = TestClient(create_app(store, [flow]), base_url=LOCAL).get("/cases/fan-1").text
        assert "(1 of 3 branches live)" in page
        assert page.count('data-kind="branch"') == 3
    finally:
        store.close()


def test_a_case_page_shows_the_runs_of_a_job_whose_workers_stopped(tmp_path):
    url = f"sqlite:///{tmp_path / 'tries.db'}"
    store = open_store(url)
    try:
        flow = dashboard.WORKFLOWS[0]
        store.create(record("order-1", workflow=flow.name, version=flow.version, step=flow.start))
        for n, now in enumerate((100.0, 200.0, 300.0, 400.0)):
            store.owner = f"w{n}"
            [job] = store.claim(f"w{n}", now=now, lease_seconds=10.0, limit=10)
            if n:  # the first claim took a new case, not one a stopped worker held
                store.count_try(job)
        page = client(store).get("/cases/order-1").text
        assert "(run 3 time(s) by workers that took it over from a stopped one)" in page
    finally:
        store.close()


def test_the_command_shows_the_dashboards_own_log_lines(shipments, monkeypatch):
    """Its store-down and store-back lines (the ``actors.ui`` logger) reach stderr."""
    import logging

    import uvicorn

    def serve(self, sockets=None):
        logging.getLogger("actors.ui").warning("the store cannot be read (a test's line)")
        for sock in sockets or ():
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", serve)
    result = CliRunner().invoke(main, ["ui", "--store", shipments, "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "WARNING actors.ui: the store cannot be read (a test's line)" in result.output


def test_the_command_answers_the_loopback_address_it_binds(shipments, monkeypatch):
    """Bound to 127.0.0.2 (loopback, so no token needed), it answers there.

    It said it served there and refused every request: "This dashboard answers only
    requests addressed to 127.0.0.1 or localhost."
    """
    import uvicorn

    answers = {}

    def serve(self, sockets=None):
        port = sockets[0].getsockname()[1]
        web = TestClient(self.config.app, base_url=f"http://127.0.0.2:{port}")
        answers["bound"] = web.get("/").status_code
        answers["other name"] = web.get("/", headers={"Host": "evil.test"}).status_code
        for sock in sockets:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", serve)
    args = ["ui", "--store", shipments, "--host", "127.0.0.2", "--port", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert answers == {"bound": 200, "other name": 400}


def test_an_event_nothing_waited_for_is_shown_refused_as_the_command_exits_3(store):
    """It was answered 200 and shown green ("event of parcel-0: finished"), as if done."""
    web = client(store)
    token = csrf_of(web.get("/cases/parcel-0").text)
    event = {"correlation_id": "parcel-0/await_pickup", "payload": "true", "csrf": token}
    answer = web.post("/actions/event", data=event)
    assert answer.status_code == 409, answer.text
    assert "flash error" in answer.text and "event of parcel-0: finished" in answer.text


def test_the_search_box_keeps_the_spaces_of_an_id_the_store_holds_with_them(tmp_path):
    """An earlier release admitted ids with a space at an end: `` 7`` is not ``7``."""
    store = open_store(f"sqlite:///{tmp_path / 'spaced.db'}")
    try:
        for job_id in (" 7", "7", "8"):
            store.create(record(job_id))
        web = TestClient(create_app(store), base_url=LOCAL)
        assert web.get("/find", params={"id": " 7"}).url.path == "/cases/ 7"
        assert web.get("/find", params={"id": "7 "}).url.path == "/cases/7"  # none so: dropped
        assert web.get("/find", params={"id": " 8 "}).url.path == "/cases/8"
        assert web.get("/cases/%207").status_code == 200
    finally:
        store.close()
