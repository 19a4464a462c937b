"""Commands that only look (``status``, ``jobs show``) open a store read-only and write nothing.

A mistyped path or database is an error, never a new empty store; an unreadable row is
shown FAULTED but left as it is, so the worker that meets it later tells the case why:
a branch whose row cannot be read makes its case end FAULTED naming the join, the
branch and the problem.
"""

import threading
import uuid

import psycopg
import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    StoreError,
    Synchronize,
    Wait,
    Workflow,
)
from actors._cli import main
from actors.stores import open_store


def _url(factory):
    return f"sqlite:///{factory.path}" if factory.kind == "sqlite" else factory.url


def _look(url, *more):
    """Run ``status`` and ``jobs show`` on ``url``; return their results."""
    runner = CliRunner()
    return [
        runner.invoke(main, ["status", "--store", url]),
        runner.invoke(main, ["jobs", "show", *(more or ("nosuchjob",)), "--store", url]),
    ]


def test_read_only_commands_refuse_a_missing_sqlite_database(tmp_path):
    for result in _look(f"sqlite:///{tmp_path / 'typo.db'}"):
        assert result.exit_code == 2, result.output
        assert "no SQLite database at" in result.output
    assert list(tmp_path.iterdir()) == []  # nothing was created


@pytest.mark.postgres
def test_read_only_commands_refuse_a_postgres_database_without_a_store(pg_server, pg_database):
    name = f"actors_empty_{uuid.uuid4().hex[:8]}"
    url = pg_database(name)
    for result in _look(url):
        assert result.exit_code == 2, result.output
        assert "holds no actors store" in result.output
    with psycopg.connect(url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone()[0] == 0  # no schema was created
    for result in _look(pg_server.get_uri(f"{name}_typo")):
        assert result.exit_code == 2, result.output
        assert "does not exist" in result.output


def _split_flow(arrived):
    return Workflow(
        "fan",
        start="split",
        steps=[
            ParallelSplit("split", branches=["quick", "nap"]),
            Sequential("quick", lambda d: arrived.set(), next="join"),
            Wait("nap", 3600, next="join"),
            Synchronize("join", next="end"),
            Sequential("end", lambda d: None),
        ],
    )


def test_read_only_commands_leave_an_unreadable_row_as_it_is(make_sql_store):
    url = _url(make_sql_store)
    arrived = threading.Event()
    with Mediator([_split_flow(arrived)], store=url) as mediator:
        case = mediator.schedule("fan", {}).job_id
        assert arrived.wait(TIMEOUT)
    [(branch,)] = make_sql_store.raw(
        "SELECT id FROM jobs WHERE parent_id = ? AND branch_index = 1", (case,)
    )
    make_sql_store.raw("UPDATE jobs SET data = ? WHERE id = ?", ("{broken", branch))
    before = make_sql_store.raw("SELECT * FROM jobs ORDER BY id")
    history = make_sql_store.raw("SELECT count(*) FROM step_history")
    status, show = _look(url, branch)
    assert status.exit_code == 0, status.output
    assert show.exit_code == 0, show.output
    assert "faulted" in show.output and "unreadable" in show.output  # shown as it reads
    assert make_sql_store.raw("SELECT * FROM jobs ORDER BY id") == before  # written: nothing
    assert make_sql_store.raw("SELECT count(*) FROM step_history") == history

    # The worker that takes the case over meets the row itself, and the case says why.
    with Mediator([_split_flow(threading.Event())], store=url) as worker:
        ended = worker.get_job(case)
    assert ended.state is JobState.FAULTED
    assert "join 'join'" in ended.error, ended.error
    assert f"branch 1 (job {branch})" in ended.error
    assert "stored job row is unreadable" in ended.error
    assert "data of job" in ended.error


def test_the_operators_views_of_an_unreadable_row_write_nothing(make_sql_store):
    """Looking at a case writes nothing, though these open the store to write.

    Admin.job/case/history and the dashboard can act on cases; a bad row they show
    FAULTED stays as it is in the store (a DONE case stays DONE).
    """
    from starlette.testclient import TestClient

    from actors.admin import Admin
    from actors.ui import create_app

    url = _url(make_sql_store)
    done = Workflow("one", [Sequential("a", lambda d: None)], start="a")
    with Mediator([done], store=url) as mediator:
        job = mediator.schedule("one", {}, job_id="c001").result(timeout=TIMEOUT)
        assert job.state is JobState.DONE
    make_sql_store.raw("UPDATE jobs SET data = ? WHERE id = ?", ("{bad", "c001"))
    before = make_sql_store.raw("SELECT * FROM jobs ORDER BY id")
    admin = Admin(url)
    try:
        seen = admin.job("c001")
        assert seen.state is JobState.FAULTED and "unreadable" in (seen.error or "")
        admin.case("c001")
        admin.history("c001")
    finally:
        admin.close()
    store = open_store(url)
    try:
        client = TestClient(create_app(store, [done]), base_url="http://127.0.0.1:8400")
        assert client.get("/cases/c001").status_code == 200
        assert client.get("/find?id=c001", follow_redirects=False).status_code in (302, 303, 307)
    finally:
        store.close()
    assert make_sql_store.raw("SELECT * FROM jobs ORDER BY id") == before  # written: nothing


def test_a_read_only_store_refuses_writes(make_sql_store):
    make_sql_store().close()  # the database and its schema exist
    reader = open_store(_url(make_sql_store), read_only=True)
    try:
        assert reader.counts()[JobState.READY] == 0
        with pytest.raises(StoreError, match=r"read-only|readonly"):
            reader.delete("anything")
    finally:
        reader.close()


def test_a_branch_row_faulted_before_its_case_was_resumed_still_names_the_problem(
    make_sql_store,
):
    """A reader that wrote (an older ``status``, a worker that died after its claim)."""
    url = _url(make_sql_store)
    arrived = threading.Event()
    with Mediator([_split_flow(arrived)], store=url) as mediator:
        case = mediator.schedule("fan", {}).job_id
        assert arrived.wait(TIMEOUT)
    [(branch,)] = make_sql_store.raw(
        "SELECT id FROM jobs WHERE parent_id = ? AND branch_index = 1", (case,)
    )
    make_sql_store.raw("UPDATE jobs SET data = ? WHERE id = ?", ("{broken", branch))
    writer = open_store(url)
    try:
        assert writer.get(branch).state is JobState.FAULTED  # saved FAULTED by this read
    finally:
        writer.close()
    with Mediator([_split_flow(threading.Event())], store=url) as worker:
        ended = worker.get_job(case)
    assert ended.state is JobState.FAULTED
    assert "join 'join' got 1 of 2 branches" in ended.error, ended.error
    assert f"branch 1 (job {branch})" in ended.error
    assert "stored job row is unreadable" in ended.error


def test_a_sqlite_file_whose_name_is_not_utf8_is_opened_read_only_too(tmp_path):
    # Such a name reaches Python with a surrogate for each byte: quoted for SQLite's
    # read-only URI it raised UnicodeEncodeError, so a Mediator (its watch of the file
    # opens it read-only) stopped at its start ("the mediator is shut down") and
    # status printed a traceback.
    name = b"jobs-\xff.db".decode("utf-8", "surrogateescape")
    url = f"sqlite:///{tmp_path}/{name}"
    flow = Workflow("w", [Sequential("a", lambda d: None)], start="a")
    with Mediator([flow], store=url) as mediator:
        assert mediator.schedule("w", {}, job_id="c1").result(timeout=TIMEOUT).state is (
            JobState.DONE
        )
    status, show = _look(url, "c1")
    assert status.exit_code == 0, status.output
    assert show.exit_code == 0, show.output
    assert "done" in show.output
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".db")] == [name]
