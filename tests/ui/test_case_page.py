"""The case page's names for the jobs of a case: branches of nested splits told apart."""

from __future__ import annotations

import re
import threading

from bounds import TIMEOUT
from starlette.testclient import TestClient

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors.stores import open_store
from actors.ui import create_app
from actors.ui._reads import Reader

LOCAL = "http://127.0.0.1:8400"


def _leaf(data: dict) -> None:
    if (data["i"], data["j"]) == (1, 0):
        msg = "leaf 1.0 broke"
        raise ValueError(msg)


NESTED = Workflow(
    "nested",
    start="outer",
    steps=[
        ParallelSplit("outer", branches=lambda d: [{"i": i} for i in range(2)], each="inner"),
        ParallelSplit("inner", branches=lambda d: [{**d, "j": j} for j in range(2)], each="leaf"),
        Sequential("leaf", _leaf, next="inner_join"),
        Synchronize("inner_join", next="outer_join"),
        Synchronize("outer_join"),
    ],
)


def test_a_nested_split_names_each_branch_by_its_path(tmp_path):
    """Each inner split has a "branch 0": the page named four jobs alike, the faulted one too."""
    url = f"sqlite:///{tmp_path / 'nested.db'}"
    worker = Mediator([NESTED], runners=2, store=url)
    try:
        ended = worker.schedule("nested", {}, job_id="n-1").result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    assert ended.state is JobState.FAULTED
    store = open_store(url)
    try:
        page = TestClient(create_app(store, [NESTED]), base_url=LOCAL).get("/cases/n-1").text
    finally:
        store.close()
    row = (
        r'<tr id="job-\d+" data-kind="\w+">\s*<td><code>[^<]*</code></td>\s*'
        r"<td>([^<]*)</td>\s*<td>([^<]*?)\s*(?:<span[^>]*>[^<]*</span>)?</td>\s*"
        r'<td><span class="state (\w+)"'
    )
    named = sorted(re.findall(row, page))
    assert named == [
        ("branch 0", "outer_join", "done"),
        ("branch 0.0", "inner_join", "done"),
        ("branch 0.1", "inner_join", "done"),
        ("branch 1", "inner", "faulted"),
        ("branch 1.0", "leaf", "faulted"),
        ("branch 1.1", "inner_join", "done"),
        ("case", "outer", "faulted"),
    ], named


def test_a_cancel_waiting_for_its_running_step_is_not_shown_as_a_failure(tmp_path):
    """A worker cancels a running job once its step ends; the page said a retry was due."""
    started, go_on = threading.Event(), threading.Event()

    def hold(data: dict) -> None:
        started.set()
        assert go_on.wait(TIMEOUT)

    flow = Workflow(
        "held",
        start="hold",
        steps=[Sequential("hold", hold, next="after"), Sequential("after", lambda d: None)],
    )
    url = f"sqlite:///{tmp_path / 'held.db'}"
    worker = Mediator([flow], runners=1, store=url)
    store = open_store(url)
    try:
        handle = worker.schedule("held", {}, job_id="h-1")
        assert started.wait(TIMEOUT)
        web = TestClient(create_app(store, [flow], operator="ann"), base_url=LOCAL)
        page = web.get("/cases/h-1").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        answer = web.post("/actions/cancel", data={"case_id": "h-1", "csrf": token})
        assert answer.status_code == 200 and "cancelled" in answer.text, answer.text
        page = web.get("/cases/h-1").text
        assert 'id="case-cancel-requested"' in page
        assert "a retry is due" not in page and "last failure" not in page
        assert "cancel requested (the running step ends first)" in page
        go_on.set()
        assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED
        page = web.get("/cases/h-1").text
        assert "case-cancel-requested" not in page and "cancel requested" not in page
    finally:
        go_on.set()
        worker.shutdown(drain=False)
        store.close()


def test_a_case_whose_parents_form_a_cycle_is_shown(tmp_path):
    """Damaged rows whose parents lead back to themselves: the page read them forever.

    Naming a branch walks up its parents; a job its own parent, or two jobs each the
    other's, kept the page's read spinning (and each refresh started another).
    """
    import sqlite3

    url = f"sqlite:///{tmp_path / 'cycle.db'}"
    worker = Mediator([NESTED], runners=2, store=url)
    try:
        worker.schedule("nested", {}, job_id="n-1").result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    with sqlite3.connect(tmp_path / "cycle.db") as db:
        leaves = [row[0] for row in db.execute("SELECT id FROM jobs WHERE step = 'leaf'")]
        inner = [row[0] for row in db.execute("SELECT id FROM jobs WHERE step = 'inner'")]
        db.execute("UPDATE jobs SET parent_id = id WHERE id = ?", (leaves[0],))
        db.execute("UPDATE jobs SET parent_id = ? WHERE id = ?", (leaves[0], inner[0]))
    store = open_store(url)
    answers: list[int] = []
    try:
        web = TestClient(create_app(store, [NESTED]), base_url=LOCAL)
        reader = threading.Thread(
            target=lambda: answers.extend(
                web.get(page).status_code for page in ("/cases/n-1", "/live/cases/n-1")
            ),
            daemon=True,  # left spinning when the page never answers
        )
        reader.start()
        reader.join(TIMEOUT)
        assert answers == [200, 200], "the case page did not answer"
    finally:
        store.close()


def test_a_history_row_holding_text_in_a_number_column_is_shown_unreadable(tmp_path):
    """SQLite keeps text in any column: such a history row made the case page answer 500.

    (And ``actors jobs show --history`` end in a traceback.) The row is named as
    unreadable, where it stands in the job's history, and the rest is shown.
    """
    import sqlite3

    from actors.admin import Admin

    url = f"sqlite:///{tmp_path / 'history.db'}"
    worker = Mediator([NESTED], runners=2, store=url)
    try:
        worker.schedule("nested", {}, job_id="n-1").result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    with sqlite3.connect(tmp_path / "history.db") as db:
        seqs = [r[0] for r in db.execute("SELECT seq FROM step_history WHERE job_id = 'n-1'")]
        assert len(seqs) >= 3, seqs
        db.execute("UPDATE step_history SET at = 'x' WHERE seq = ?", (seqs[0],))
        db.execute("UPDATE step_history SET started = 'x' WHERE seq = ?", (seqs[1],))
        db.execute("UPDATE step_history SET attempt = 'x' WHERE seq = ?", (seqs[2],))
    store = open_store(url)
    try:
        rows = Admin(store).history("n-1")
        unreadable = [row.error for row in rows if row.action == "unreadable history"]
        assert len(unreadable) == 3 and "its at holds 'x'" in unreadable[0], unreadable
        web = TestClient(create_app(store, [NESTED]), base_url=LOCAL)
        for page in ("/cases/n-1", "/live/cases/n-1"):
            answer = web.get(page)
            assert answer.status_code == 200, page
            assert "its started holds" in answer.text, page
    finally:
        store.close()


def test_a_row_edited_into_what_no_save_writes_is_shown_damaged(tmp_path):
    """A waiting case whose due time is text read as plain "waiting" on its page.

    ``actors jobs show`` reads it FAULTED, naming the column; the page now says so too,
    and offers no Retry (an action would save its stand-in over the row).
    """
    import sqlite3

    from actors._job import JobRecord

    path = tmp_path / "damaged.db"
    store = open_store(f"sqlite:///{path}")
    try:
        store.create(JobRecord("bad", "bad", "w", 1, "a", {}))
        store.create(JobRecord("good", "good", "w", 1, "a", {}))
        store.create(JobRecord("no-json", "no-json", "w", 1, "a", {}))
        store.create(JobRecord("bytes", "bytes", "w", 1, "a", {}))
        with sqlite3.connect(path) as db:
            db.execute("UPDATE jobs SET state = 'waiting', due = 'soon' WHERE id = 'bad'")
            db.execute("UPDATE jobs SET state = 'waiting', due = 1e12 WHERE id = 'good'")
            db.execute("UPDATE jobs SET data = 'not json{' WHERE id = 'no-json'")
            # Bytes, which SQLite keeps in a TEXT column: the page answered 500.
            db.execute("UPDATE jobs SET data = x'00ff' WHERE id = 'bytes'")
        web = TestClient(create_app(store, []), base_url=LOCAL)
        for page, problem in [
            ("/cases/bad", "column due holds"),
            ("/live/cases/bad", "column due holds"),
            ("/cases/no-json", "not valid JSON"),
            ("/cases/bytes", "stored value is bytes"),
            ("/live/cases/bytes", "stored value is bytes"),
        ]:
            answer = web.get(page)
            assert answer.status_code == 200, page
            state = re.search(r'id="case-state-value">([^<]*)<', answer.text)
            assert state is not None and state.group(1) == "faulted", page
            assert "damaged row" in answer.text and problem in answer.text, page
            assert "Retry</button>" not in answer.text, page
        good = web.get("/cases/good").text
        assert "damaged row" not in good and 'id="case-state-value">waiting<' in good
        # The overview counts it by the state its row holds.
        [counts] = Reader(store).case_counts()
        assert counts.states == {"waiting": 2, "ready": 2}
    finally:
        store.close()
