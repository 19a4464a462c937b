"""Parents and splits edited by hand: a case's tree shows every job once, and ends.

A job whose ``parent_id`` named itself, or one of its own branches, made ``jobs show
--tree`` (and the ``Admin.case`` tree) go round without end, its memory growing; a job
whose parent is no job of the case was left out of the tree. A ``split_total`` edited
into a billion listed a billion awaited branches (gigabytes) before a line was printed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from records import record, saved_split

from actors._admin_model import CaseNode
from actors._admin_views import LISTED
from actors._cli import main
from actors.admin import ActionRefusedError, Admin
from actors.stores import SqliteStore

EDITS = {
    "a root that is its own parent": "UPDATE jobs SET parent_id = id WHERE id = 'root'",
    "a branch that is its own parent": "UPDATE jobs SET parent_id = id WHERE id = 'root.0'",
    "two branches each other's parent": (
        "UPDATE jobs SET parent_id = CASE id WHEN 'root.0' THEN 'root.1' ELSE 'root.0' END "
        "WHERE id IN ('root.0', 'root.1')"
    ),
    "a root under its own branch": "UPDATE jobs SET parent_id = 'root.1' WHERE id = 'root'",
    "a parent that is no job": "UPDATE jobs SET parent_id = 'gone' WHERE id = 'root.1'",
    "a second root": "UPDATE jobs SET parent_id = NULL, branch_index = NULL WHERE id = 'root.2'",
}
JOBS = ["root", "root.0", "root.1", "root.2"]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        saved_split(store, 3, build=lambda job_id="root", **kw: record(job_id, **kw))
    finally:
        store.close()
    return tmp_path / "jobs.db"


def _nodes(top: CaseNode, most: int) -> list[str]:
    """The ids below ``top`` (itself included), stopping past ``most`` of them."""
    out: list[str] = []
    stack = [top]
    while stack and len(out) <= most:
        node = stack.pop()
        out.append(node.job.id)
        stack.extend(node.children)
    return out


@pytest.mark.parametrize("edit", list(EDITS.values()), ids=list(EDITS))
def test_the_tree_of_a_case_with_edited_parents_shows_every_job_once(path, edit):
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(edit)
    url = f"sqlite:///{path}"
    for shown in JOBS:
        with Admin(url) as admin:
            case = admin.case(shown)
        assert sorted(_nodes(case.root, most=len(JOBS))) == JOBS, shown
        assert sorted(node.job.id for _, node in case.walk()) == JOBS
    result = CliRunner().invoke(main, ["jobs", "show", "root.0", "--tree", "--store", url])
    assert result.exit_code == 0, result.output
    assert all(job in result.output for job in JOBS)
    result = CliRunner().invoke(main, ["jobs", "show", "root", "--tree", "--json", "--store", url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tree"]["jobs"] == len(JOBS)


def test_a_split_total_edited_past_every_branch_lists_the_first_million(path):
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(f"UPDATE jobs SET split_total = {LISTED + 5} WHERE id = 'root'")
    url = f"sqlite:///{path}"
    with Admin(url) as admin:
        split = admin.case("root").root.split
    assert split is not None and split.total == LISTED + 5
    assert len(split.waiting_for) == LISTED
    assert split.waiting_for[:2] == (0, 1)
    result = CliRunner().invoke(main, ["jobs", "show", "root", "--tree", "--store", url])
    assert result.exit_code == 0, result.output
    assert f"[0-{LISTED - 1}, ... of {LISTED + 5:,}]" in " ".join(result.output.split())


@pytest.mark.parametrize("parent", ["gone", "other"])
def test_a_retry_of_a_branch_whose_parent_is_no_job_of_its_case_says_so(tmp_path, parent):
    """It said the parent was missing from the store, also of a parent in another case."""
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        saved_split(store, 2, build=lambda job_id="root", **kw: record(job_id, **kw))
        store.save(record("other"))
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "jobs.db", isolation_level=None) as conn:
        conn.execute("UPDATE jobs SET state = 'done'")
        conn.execute(
            "UPDATE jobs SET state = 'faulted', parent_id = ? WHERE id = 'root.1'", (parent,)
        )
    with (
        Admin(f"sqlite:///{tmp_path / 'jobs.db'}") as admin,
        pytest.raises(ActionRefusedError) as refused,
    ):
        admin.retry("root.1")
    assert (
        f"the parent {parent!r} of job root.1 is no job of its case 'root' (missing from "
        "the store, or a job of another case: a row changed by hand)"
    ) in str(refused.value)
