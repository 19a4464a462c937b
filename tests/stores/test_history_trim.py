"""``actors jobs prune --trim-history``: what a case that never ends leaves stays bounded.

A case that loops for ever (a step, a one-second ``Wait``, back to the step) adds rows to
``step_history`` at every turn on a SQL store, and a loop through a ``ParallelSplit`` adds
finished branch jobs and join arrivals; ``prune`` deletes only cases that ended: without
a trim, an operator's long-running worker grows those tables without bound.
"""

import json

from bounds import TIMEOUT, wait_until
from click.testing import CliRunner

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors._cli import main
from actors.admin import Admin

TICKER = Workflow(
    "ticker",
    start="tick",
    steps=[
        Sequential("tick", lambda d: d.update(ticks=d.get("ticks", 0) + 1), next="rest"),
        Wait("rest", duration=0.005, next="tick"),
    ],
)
ASK = Workflow(
    "ask",
    start="prepare",
    steps=[
        Sequential("prepare", lambda d: None, next="ask"),
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: None),
    ],
)


def _url(make_sql_store):
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


def _t1_rows(make_sql_store):
    return make_sql_store.raw("SELECT COUNT(*) FROM step_history WHERE job_id = 't1'")[0][0]


def _run_a_ticker_then_stop(make_sql_store, url):
    """Let t1 loop until it has a long history, with a1 parked at its request; then stop."""
    mediator = Mediator([TICKER, ASK], store=url, owner="w1", poll_interval=0.02)
    try:
        mediator.schedule("ticker", {}, job_id="t1")
        mediator.schedule("ask", {}, job_id="a1")
        with Admin(url) as admin:
            wait_until(lambda: _t1_rows(make_sql_store) >= 60, "60 history rows of t1")
            wait_until(lambda: admin.job("a1").state is JobState.WAITING, "a1 parked")
    finally:
        mediator.shutdown(drain=False, timeout=TIMEOUT)


def test_a_trim_bounds_a_looping_case_s_history_and_keeps_what_a_reset_needs(make_sql_store):
    url = _url(make_sql_store)
    _run_a_ticker_then_stop(make_sql_store, url)
    with Admin(url, operator="alice") as admin:
        # An operator's action, no worker running: recorded in a1's history, a1 ready again.
        assert admin.send_event("a1/ask", "yes").outcome == "delivered"
        rows = "SELECT step, attempt, worker FROM step_history WHERE job_id = ? AND action IS NULL"
        before = make_sql_store.raw(rows, ("t1",))
        ticks = admin.job("t1").data["ticks"]
        assert len(before) >= 60
        # Without the trim, a prune leaves the unfinished cases' history alone.
        assert admin.prune(0).history_rows == 0
        assert len(make_sql_store.raw(rows, ("t1",))) == len(before)

        total = "SELECT COUNT(*) FROM step_history"
        stored = make_sql_store.raw(total)[0][0]
        result = admin.prune(0, trim_history=True)
        after = make_sql_store.raw(rows, ("t1",))
        # Each step and attempt the job saved keeps its latest row, and the action stays.
        assert sorted((step, attempt) for step, attempt, _ in after) == sorted(
            {(step, attempt) for step, attempt, _ in before}
        )
        assert result.history_rows == stored - make_sql_store.raw(total)[0][0]
        assert result.history_rows >= len(before) - len(after) > 30
        assert [e.worker for e in admin.history("a1") if e.kind == "action"] == ["alice"]
        # The cases are untouched: they resume from their saved steps.
        assert admin.job("t1").data["ticks"] == ticks
        assert admin.job("a1").state is JobState.READY

    with Mediator([TICKER, ASK], store=url, owner="w1", poll_interval=0.02) as mediator:
        with Admin(url) as admin:
            wait_until(lambda: admin.job("t1").data["ticks"] > ticks + 3, "t1 ticking again")
            wait_until(lambda: admin.job("a1").state is JobState.DONE, "a1 done")
        mediator.shutdown(drain=False, timeout=TIMEOUT)


def test_the_command_trims_the_history_of_unfinished_cases_only_when_asked(make_sql_store):
    url = _url(make_sql_store)
    _run_a_ticker_then_stop(make_sql_store, url)
    runner = CliRunner()
    rows = _t1_rows(make_sql_store)
    plain = runner.invoke(main, ["jobs", "prune", "--older-than", "0s", "--store", url])
    assert plain.exit_code == 0, plain.output
    assert "history" not in plain.output
    assert _t1_rows(make_sql_store) == rows

    args = ["jobs", "prune", "--older-than", "90s", "--trim-history", "--store", url]
    young = runner.invoke(main, [*args, "--json"])
    assert young.exit_code == 0, young.output
    assert json.loads(young.output)["history_rows"] == 0  # nothing saved before 90s ago

    args[3] = "0s"
    trimmed = runner.invoke(main, args)
    assert trimmed.exit_code == 0, trimmed.output
    lines = trimmed.output.splitlines()
    assert lines[0].startswith("deleted 0 case(s), 0 job(s), that ended before ")
    assert lines[1].startswith("deleted ") and "history row(s) and 0 finished branch" in lines[1]
    assert _t1_rows(make_sql_store) < rows


PULSE = Workflow(
    "pulse",
    start="split",
    steps=[
        ParallelSplit("split", branches=["a", "b"]),
        Sequential("a", lambda d: None, next="join"),
        Sequential("b", lambda d: None, next="join"),
        Synchronize("join", merge=lambda p, bs: p.update(n=p.get("n", 0) + 1), next="rest"),
        Wait("rest", duration=0.005, next="split"),
    ],
)
# A split in progress: branch "now" arrives at once, "later" waits for a reply.
HALF = Workflow(
    "half",
    start="split",
    steps=[
        ParallelSplit("split", branches=["now", "later"]),
        Sequential("now", lambda d: None, next="join"),
        RequestReaction("later", send=lambda d, ctx: None, on_reply=lambda d, r: None, next="join"),
        Synchronize("join"),
    ],
)


def test_a_trim_drops_the_branches_and_arrivals_of_a_loop_s_earlier_splits(make_sql_store):
    url = _url(make_sql_store)
    raw = make_sql_store.raw

    def turns():
        return raw("SELECT COUNT(*) FROM join_counts WHERE parent_id = 'p'")[0][0]

    mediator = Mediator([PULSE, HALF], store=url, owner="w1", poll_interval=0.02)
    try:
        mediator.schedule("pulse", {}, job_id="p")
        mediator.schedule("half", {}, job_id="h")
        wait_until(lambda: turns() >= 10, "10 turns of p")
        wait_until(lambda: raw("SELECT COUNT(*) FROM join_arrivals WHERE parent_id = 'h'")[0][0])
    finally:
        mediator.shutdown(drain=False, timeout=TIMEOUT)
    jobs = "SELECT COUNT(*) FROM jobs WHERE case_id = ?"
    before = raw(jobs, ("p",))[0][0]
    n = raw("SELECT gen FROM jobs WHERE id = 'p'")[0][0]
    half = (raw(jobs, ("h",)), raw("SELECT * FROM join_arrivals WHERE parent_id = 'h'"))
    with Admin(url) as admin:
        assert admin.prune(0).branch_jobs == 0
        assert raw(jobs, ("p",))[0][0] == before
        result = admin.prune(0, trim_history=True)
    # Only the root and the branches of its latest split are left, with their arrivals.
    current = "SELECT COUNT(*) FROM jobs WHERE parent_id = 'p' AND parent_gen = ?"
    left = 1 + raw(current, (n,))[0][0]
    assert raw(jobs, ("p",))[0][0] == left
    assert result.branch_jobs == before - left >= 16
    assert {g for (g,) in raw("SELECT gen FROM join_arrivals WHERE parent_id = 'p'")} <= {n}
    assert {g for (g,) in raw("SELECT gen FROM join_counts WHERE parent_id = 'p'")} <= {n}
    gone = "SELECT COUNT(*) FROM step_history WHERE job_id NOT IN (SELECT id FROM jobs)"
    assert raw(gone)[0][0] == 0
    # A split still waiting for a branch keeps the branch that arrived, and its arrival.
    assert (raw(jobs, ("h",)), raw("SELECT * FROM join_arrivals WHERE parent_id = 'h'")) == half

    with Mediator([PULSE, HALF], store=url, owner="w1", poll_interval=0.02) as mediator:
        with Admin(url) as admin:
            turned = admin.job("p").data["n"]
            wait_until(lambda: admin.job("p").data["n"] > turned + 3, "p turning again")
            later = raw("SELECT id FROM jobs WHERE case_id = 'h' AND step = 'later'")[0][0]
            assert admin.send_event(f"{later}/later", 1).outcome == "delivered"
            wait_until(lambda: admin.job("h").state is JobState.DONE, "h joined")
        mediator.shutdown(drain=False, timeout=TIMEOUT)
