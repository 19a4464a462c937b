"""The dashboard under load and trouble: a case of thousands of jobs, a store that goes away.

A page reads what it shows, not the whole of a wide split's case, in as many queries
however wide the split; a store that cannot be read is said so, once per refresh period
however many browsers ask, with no 500.
"""

from __future__ import annotations

import re

import pytest
from bounds import TIMEOUT
from starlette.testclient import TestClient

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors._errors import StoreError
from actors._job import JobRecord
from actors.stores import open_store
from actors.ui import create_app

LOCAL = "http://127.0.0.1:8400"


def _count_rows_read(store, monkeypatch) -> dict[str, int]:
    """Rows the store's reads return from here on, by what each read says it reads."""
    per_query: dict[str, int] = {}
    read = store._read

    def counted(sql, params, what):
        rows = read(sql, params, what)
        per_query[what] = per_query.get(what, 0) + len(rows)
        return rows

    monkeypatch.setattr(store, "_read", counted)
    return per_query


def test_a_wide_case_reads_the_data_of_the_jobs_it_shows_only(tmp_path, monkeypatch):
    """Every branch's data was read (and the whole tree decoded): 23 s for 20,000 branches."""
    store = open_store(f"sqlite:///{tmp_path / 'wide.db'}")
    root = JobRecord(
        id="wide", case_id="wide", workflow="w", version=1, step="fan",
        data={"copy": "in-the-data"}, state=JobState.WAITING,
    )  # fmt: skip
    branches = [
        JobRecord.branch(f"wide.{n}", "wide", "w", 1, "item", {"copy": "in-the-data"}, "wide", n, 0)
        for n in range(1000)
    ]
    store.create_many([root, *branches])
    fetched: list[object] = []
    read = store._read

    def counted(sql, params, what):
        rows = read(sql, params, what)
        fetched.extend(rows)
        return rows

    monkeypatch.setattr(store, "_read", counted)
    try:
        page = TestClient(create_app(store), base_url=LOCAL).get("/cases/wide")
        assert page.status_code == 200
        assert page.text.count('data-kind="branch"') == 199  # the root and 199 branches
        assert page.text.count("in-the-data") == 200
        with_data = sum("in-the-data" in repr(row) for row in fetched)
        # Each shown job's data, read as text by the page and by the admin API's job
        # info: not the 1,001 jobs'.
        assert with_data <= 200 + 200, with_data
    finally:
        store.close()


def test_a_wide_case_reads_the_rows_it_lists_and_counts_the_rest(tmp_path, monkeypatch):
    """Every job's row was read at each refresh: 6 to 9 s for a split of 100,000."""
    store = open_store(f"sqlite:///{tmp_path / 'wide.db'}")
    root = JobRecord(
        id="wide", case_id="wide", workflow="w", version=1, step="fan", data={},
        state=JobState.WAITING, split_total=1000, split_step="fan", gen=1,
    )  # fmt: skip
    branches = [
        JobRecord.branch(f"wide.{n}", "wide", "w", 1, "item", {}, "wide", n, 1) for n in range(1000)
    ]
    late = branches[900]  # past the jobs listed: a cancel waits for its running step
    late.state, late.cancel_requested = JobState.RUNNING, True
    for done in branches[:10]:
        done.state = JobState.DONE
    store.create_many([root, *branches])
    per_query = _count_rows_read(store, monkeypatch)
    try:
        page = TestClient(create_app(store), base_url=LOCAL).get("/live/cases/wide")
        assert page.status_code == 200
        assert per_query["read case wide"] == 200  # the jobs listed, not the 1,001
        assert sum(per_query.values()) < 1001, per_query
        assert "and 801 more jobs" in page.text
        assert "(990 of 1000 branches live)" in page.text
        assert "Cancel requested" in page.text
    finally:
        store.close()


def test_a_store_that_cannot_be_read_is_said_so_and_read_once_per_period(store, monkeypatch):
    """Every page answered a bare 500 (and logged a traceback).

    And each waiting overview read the store again in turn: 10 s each on a PostgreSQL
    store gone away, so the sixth open tab waited a minute.
    """
    tries: list[str] = []

    def gone(sql, params, what):
        tries.append(what)
        msg = "postgresql://app:s3cr3t-pw@db/jobs: cannot read: connection refused"
        raise StoreError(msg)

    monkeypatch.setattr(store, "_read", gone)
    web = TestClient(create_app(store), base_url=LOCAL, raise_server_exceptions=False)
    first = web.get("/")
    assert first.status_code == 503
    assert "The store cannot be read" in first.text and "connection refused" in first.text
    assert "s3cr3t-pw" not in first.text
    read_once = len(tries)
    assert web.get("/live/overview").status_code == 503  # within the period: not read again
    assert len(tries) == read_once
    for path in ("/cases/parcel-0", "/live/cases/parcel-0", "/workflows/shipment"):
        answer = web.get(path)
        assert answer.status_code == 503, path
        assert "s3cr3t-pw" not in answer.text, path


FAN = Workflow(
    "fan",
    start="split",
    steps=[
        ParallelSplit("split", branches=lambda data: data["items"], each="work"),
        Sequential("work", lambda item: {**item, "worked": True}, next="check"),
        Sequential("check", lambda item: {**item, "checked": True}, next="join"),
        Synchronize("join", next="end"),
        Sequential("end", lambda data: {**data, "done": True}),
    ],
)
WIDTHS = (2, 20, 60)  # 60: more branches than the timeline shows the history of (50)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fanned(request, tmp_path):
    """A store holding a case ``fan-N`` with a split of N branches for each of ``WIDTHS``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fan.db'}"
    else:
        url = request.getfixturevalue("pg_database")("actors_ui_fan")
    with Mediator([FAN], runners=2, store=url) as worker:
        handles = [
            worker.schedule("fan", {"items": [{"i": i} for i in range(n)]}, job_id=f"fan-{n}")
            for n in WIDTHS
        ]
        assert all(h.result(timeout=TIMEOUT).state is JobState.DONE for h in handles)
    store = open_store(url)
    yield store
    store.close()


def test_a_case_page_reads_as_many_queries_however_wide_its_split(fanned, monkeypatch):
    """A case's page read each shown job, then each job's history, one query apiece.

    A split of 20 branches cost 65 queries a refresh, one of 60 cost 163.
    """
    queries: list[str] = []
    read = fanned._read

    def counted(sql, params, what):
        queries.append(what)
        return read(sql, params, what)

    monkeypatch.setattr(fanned, "_read", counted)
    web = TestClient(create_app(fanned, [FAN]), base_url=LOCAL)
    counts = {}
    for n in WIDTHS:
        for path in (f"/cases/fan-{n}", f"/live/cases/fan-{n}"):
            queries.clear()
            page = web.get(path)
            assert page.status_code == 200, path
            assert page.text.count('data-kind="branch"') == n
            counts[path] = len(queries)
    # The first jobs, the sums over all of them, their data, infos and histories (and,
    # while a listed job waits on a split, its live branches: one more).
    assert set(counts.values()) == {5}, counts


def test_the_overview_says_its_lists_show_the_first_of_many(tmp_path):
    """It counted 30 faulted cases above a list of 20, with no word of where the rest are."""
    store = open_store(f"sqlite:///{tmp_path / 'many.db'}")
    cases = [
        JobRecord(
            id=f"c{n}",
            case_id=f"c{n}",
            workflow="w",
            version=1,
            step="a",
            data={},
            state=JobState.FAULTED if n % 2 else JobState.READY,
            error="step 'a': ValueError: boom" if n % 2 else None,
        )
        for n in range(60)
    ]
    store.create_many(cases)
    try:
        page = TestClient(create_app(store), base_url=LOCAL).get("/").text
    finally:
        store.close()
    assert "The 20 most recent of 30 (" in page and "--state faulted --cases" in page
    assert "The 20 waiting longest of 30." in page


def test_a_job_that_loops_has_the_entries_drawn_read_not_every_save(tmp_path, monkeypatch):
    """Every save of a job that loops was read at each refresh: 12 s for 400,000 saves."""
    from actors.stores._admin_types import HistoryRow
    from actors.ui import _case_page

    store = open_store(f"sqlite:///{tmp_path / 'loop.db'}")
    root = JobRecord(
        id="loop", case_id="loop", workflow="w", version=1, step="turn", data={},
        state=JobState.READY,
    )  # fmt: skip
    store.create_many([root])
    store.append_history(
        [HistoryRow("loop", 0, "turn", n, "ready", 1e6 + n, "w1", None, None) for n in range(300)]
    )
    monkeypatch.setattr(_case_page, "HISTORY_ENTRIES", 20)
    per_query = _count_rows_read(store, monkeypatch)
    try:
        page = TestClient(create_app(store), base_url=LOCAL).get("/live/cases/loop")
        assert page.status_code == 200
        # The 20 drawn, one to time the first of them, one to tell there are more.
        assert per_query["read the history of jobs"] <= 22, per_query
        assert "The most recent 20 entries; there are more" in page.text
        drawn = re.search(r'<ol class="timeline">(.*?)</ol>', page.text, re.S)
        assert drawn is not None and drawn.group(1).count("<li ") == 20
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_faulted_case_can_be_paged_through(kind, request, tmp_path, monkeypatch):
    """Past the overview's 20, the faulted cases were reachable from the command line only."""
    from actors.ui import _app

    monkeypatch.setattr(_app, "FAULTED_PAGE", 7, raising=False)
    if kind == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'faulted.db'}")
    else:
        from pg_throwaway import drop_database, fresh_database

        server = request.getfixturevalue("pg_server")
        store = open_store(fresh_database(server, "actors_ui_faulted"))
        request.addfinalizer(lambda: drop_database(server, "actors_ui_faulted"))
    # All of them end in the same second: the pages must still neither repeat nor skip.
    store.create_many(
        [
            JobRecord(
                id=f"f{n:02}",
                case_id=f"f{n:02}",
                workflow="w",
                version=1,
                step="a",
                data={},
                state=JobState.FAULTED,
                error=f"step 'a': ValueError: boom {n}",
            )
            for n in range(30)
        ]
    )
    web = TestClient(create_app(store), base_url=LOCAL)
    try:
        assert 'href="/faulted"' in web.get("/").text
        seen: list[str] = []
        for page in range(1, 6):
            text = web.get("/faulted", params={"page": page}).text
            assert f"Page {page} of 5." in text
            assert ('rel="next"' in text) == (page < 5)
            assert ('rel="prev"' in text) == (page > 1)
            seen += re.findall(r'<a href="/cases/(f\d\d)">', text)
        assert sorted(seen) == [f"f{n:02}" for n in range(30)]
        assert "past the last" in web.get("/faulted", params={"page": 9}).text
        assert web.get("/faulted", params={"page": "x"}).status_code == 200
        # A page number past what a database integer holds is past the last, not a 500.
        assert "past the last" in web.get("/faulted", params={"page": 10**20}).text
    finally:
        store.close()


def test_the_faulted_list_filters_by_workflow_across_its_pages(tmp_path):
    """/faulted listed every workflow's faults: one workflow's storm hid another's few."""
    store = open_store(f"sqlite:///{tmp_path / 'faulted.db'}")
    names = ["team/a&b"] * 150 + ["other"] * 150
    store.create_many(
        [
            JobRecord(
                id=f"f{n:03}",
                case_id=f"f{n:03}",
                workflow=name,
                version=1,
                step="a",
                data={},
                state=JobState.FAULTED,
                error=f"step 'a': ValueError: boom {n}",
            )
            for n, name in enumerate(names)
        ]
    )
    web = TestClient(create_app(store), base_url=LOCAL)
    try:
        link = re.search(r'id="its-faulted" href="([^"]+)"', web.get("/workflows/team/a&b").text)
        assert link is not None
        first = web.get(link.group(1).replace("&amp;", "&"))
        assert "Page 1 of 2." in first.text
        older = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert older is not None
        second = web.get(older.group(1).replace("&amp;", "&"))
        assert "Page 2 of 2." in second.text
        seen = re.findall(r'<a href="/cases/(f\d+)">', first.text + second.text)
        assert sorted(seen) == [f"f{n:03}" for n in range(150)]
        assert "Page 1 of 3." in web.get("/faulted").text  # unfiltered: all 300
    finally:
        store.close()


def test_a_workflows_faulted_count_on_the_overview_opens_its_faulted_cases(tmp_path):
    """The overview's count of a workflow's faulted cases was a number to read, no link."""
    store = open_store(f"sqlite:///{tmp_path / 'faulted.db'}")
    store.create_many(
        [
            JobRecord(
                id=f"f{n}", case_id=f"f{n}", workflow=name, version=1, step="a",
                data={}, state=JobState.FAULTED, error="step 'a': ValueError: boom",
            )
            for n, name in enumerate(["team/a&b", "team/a&b", "other"])
        ]
    )  # fmt: skip
    web = TestClient(create_app(store), base_url=LOCAL)
    try:
        by_state = web.get("/").text.split('id="by-state"')[1].split("</section>")[0]
        links = re.findall(r'<a class="state faulted"[^>]* href="([^"]+)">(\d+)</a>', by_state)
        assert sorted(n for _, n in links) == ["1", "2"]
        team = next(href for href, n in links if n == "2")
        listed = web.get(team.replace("&amp;", "&")).text
        assert sorted(re.findall(r'<a href="/cases/(f\d)">', listed)) == ["f0", "f1"]
    finally:
        store.close()
