"""The dashboard under load and trouble: a case of thousands of jobs, a store that goes away.

A page reads what it shows, not the whole of a wide split's case; a store that cannot be
read is said so, once per refresh period however many browsers ask, with no 500.
"""

from __future__ import annotations

from starlette.testclient import TestClient

from actors import JobState
from actors._job import JobRecord
from actors.stores import open_store
from actors.ui import create_app

LOCAL = "http://127.0.0.1:8400"


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
        # Each shown job's data, read by the page, by the admin API's job info, and
        # once more for the first 50, whose history is shown: not the 1,001 jobs'.
        assert with_data <= 200 + 200 + 50, with_data
    finally:
        store.close()
