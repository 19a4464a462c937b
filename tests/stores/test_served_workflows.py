"""Workers serving different workflows share one store; none touches another's cases."""

import logging
import threading

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

from actors import (
    EventOutcome,
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Workflow,
    enqueue,
)
from actors._cli import main
from actors.stores import MemoryStore, open_store


def _flow(name, version, done):
    """A split and a join, then a step that marks who ran it and counts down ``done``."""

    def finish(data):
        data["ran"] = f"{name} v{version}"
        done.release()

    return Workflow(
        name,
        start="fan_out",
        version=version,
        steps=[
            ParallelSplit("fan_out", branches=["a", "b"]),
            Sequential("a", lambda d: d.update(a=1), next="join"),
            Sequential("b", lambda d: d.update(b=1), next="join"),
            Synchronize("join", next="finish"),
            Sequential("finish", finish),
        ],
    )


@pytest.fixture
def store_url(make_sql_store):
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


def test_two_workers_serving_different_workflows_run_every_case_to_done(store_url, caplog):
    done = threading.Semaphore(0)
    alpha1, alpha2, beta = _flow("alpha", 1, done), _flow("alpha", 2, done), _flow("beta", 1, done)
    cases = {}
    for flow in (alpha1, alpha2, beta):
        for i in range(3):
            cases[enqueue(store_url, flow, {"i": i})] = f"{flow.name} v{flow.version}"
    options = {"runners": 2, "store": store_url, "poll_interval": 0.05, "lease_seconds": 5.0}
    caplog.set_level(logging.WARNING, logger="actors")
    # The first worker starts alone: on the old code it faulted every case it lacked.
    with Mediator([alpha1], owner="w-alpha1", **options):
        for _ in range(3):
            assert done.acquire(timeout=TIMEOUT)
        with Mediator([alpha2, beta], owner="w-rest", **options):
            for _ in range(6):
                assert done.acquire(timeout=TIMEOUT)
    store = open_store(store_url)
    try:
        for case_id, ran in cases.items():
            job = store.get(case_id)
            assert job.state is JobState.DONE, (case_id, job.error)
            assert job.data["ran"] == ran
        assert store.counts()[JobState.FAULTED] == 0
    finally:
        store.close()
    told = [r.getMessage() for r in caplog.records if "wait for a worker" in r.getMessage()]
    # Logged once per workflow version the first worker lacks, not once per poll.
    assert sorted(t.split(" of workflow ")[1].split(" wait")[0] for t in told) == [
        "'alpha' version 2",
        "'beta' version 1",
    ]


def test_status_shows_the_cases_waiting_for_a_worker_serving_their_workflow(store_url):
    done = threading.Semaphore(0)
    for flow, n in ((_flow("alpha", 1, done), 2), (_flow("beta", 3, done), 1)):
        for i in range(n):
            enqueue(store_url, flow, {"i": i})
    result = CliRunner().invoke(main, ["status", "--store", store_url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    table = result.output.split("waiting for a worker serving")[1]
    rows = [line.replace("│", " ").split() for line in table.splitlines()]
    assert ["alpha", "v1", "2"] in rows
    assert ["beta", "v3", "1"] in rows


def test_a_worker_leaves_an_unserved_case_in_its_own_memory_store_untouched(caplog):
    done = threading.Semaphore(0)
    store = MemoryStore()
    enqueue(store, _flow("beta", 1, done), {}, job_id="other")
    caplog.set_level(logging.WARNING, logger="actors")
    with Mediator([_flow("alpha", 1, done)], store=store) as mediator:
        assert mediator.get_job("other").state is JobState.READY
    assert any("'beta' version 1 wait for a worker" in r.getMessage() for r in caplog.records)


def _asking(version, asked, ended):
    """A request whose reply a later step records; ``asked`` once parked, ``ended`` at the end."""

    def end(data):
        data["ran"] = f"v{version}"
        ended.set()

    return Workflow(
        "ask",
        start="ask",
        version=version,
        steps=[
            RequestReaction(
                "ask",
                send=lambda data, ctx: asked.set(),
                on_reply=lambda data, reply: data.update(reply=reply),
                next="end",
            ),
            Sequential("end", end),
        ],
    )


def test_an_event_for_a_case_of_a_version_not_served_here_waits_with_it_in_the_store(
    store_url, caplog
):
    asked, ended = threading.Event(), threading.Event()
    v1, v2 = _asking(1, asked, ended), _asking(2, asked, ended)
    enqueue(store_url, v1, {}, job_id="c1")
    options = {"store": store_url, "poll_interval": 0.05, "lease_seconds": 5.0}
    caplog.set_level(logging.INFO, logger="actors")
    with Mediator([v2], owner="new", **options) as new:
        with Mediator([v1], owner="old", **options):
            assert asked.wait(TIMEOUT)
            # A live worker holds the case: the event belongs there.
            assert new.receive_event("c1/ask", "early") is EventOutcome.ELSEWHERE
        # Only v2 is served now, and nobody holds the v1 case: it was answered ELSEWHERE,
        # as if another worker held it, and the event was lost.
        assert new.receive_event("c1/ask", "yes") is EventOutcome.DELIVERED
        assert new.receive_event("c1/ask", "again") is EventOutcome.DUPLICATE
        job = new.get_job("c1")
        assert (job.state, job.version) == (JobState.READY, 1)
    logged = [r.getMessage() for r in caplog.records if "event for 'c1/ask'" in r.getMessage()]
    # Said as it was: not "not delivered" for an event that was.
    assert "event for 'c1/ask' not delivered: elsewhere" not in logged
    assert any("saved with its job in the store" in t for t in logged), logged
    with Mediator([v1], owner="old", **options):
        assert ended.wait(TIMEOUT)  # a shutdown that drains stores the end
    store = open_store(store_url)
    try:
        job = store.get("c1")
        assert (job.state, job.data) == (JobState.DONE, {"reply": "yes", "ran": "v1"})
    finally:
        store.close()


def test_a_version_past_what_the_store_keeps_is_refused_where_it_meets_the_store(store_url):
    ran = threading.Event()
    big = Workflow("stamp", [Sequential("a", lambda d: ran.set())], start="a", version=2**31)
    options = {"store": store_url, "poll_interval": 0.05}
    if store_url.startswith("sqlite"):  # a 64-bit integer column keeps it
        enqueue(store_url, big, {}, job_id="c1")
        with Mediator([big], **options):
            assert ran.wait(TIMEOUT)
        return
    # PostgreSQL's version column is an INTEGER: its "integer out of range" came from
    # a write, or from every claim of a worker serving the version, which claimed nothing.
    told = r"workflow 'stamp' version 2147483648 is past what .* keeps \(versions 1 to 2147483647\)"
    with pytest.raises(ValueError, match=told):
        enqueue(store_url, big, {})
    with pytest.raises(ValueError, match=told):
        Mediator([big], **options)
    store = open_store(store_url)
    try:
        assert store.counts()[JobState.READY] == 0
    finally:
        store.close()
