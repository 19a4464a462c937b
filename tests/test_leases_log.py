"""On start, a Mediator says which cases other workers' leases keep from it, and until when."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actors import Mediator, Sequential, Workflow, enqueue
from actors.stores import open_store

FLOW = Workflow("w", [Sequential("a", lambda d: None)], start="a")


def ended_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_cases_leased_to_a_dead_process_of_this_host_are_a_warning_with_the_wait(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    enqueue(store, FLOW, {}, job_id="c1")
    dead = f"{socket.gethostname()}:{ended_pid()}:0badc0de"
    assert store.claim(dead, time.time(), 60.0, 1)  # the crashed run's lease
    alive = "another-host:1:cafe"
    enqueue(store, FLOW, {}, job_id="c2")
    assert store.claim(alive, time.time(), 60.0, 1)
    store.close()
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([FLOW], store=url):
        pass
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    text = warned[0].getMessage()
    assert f"1 unfinished case(s) are leased to worker {dead!r}" in text
    assert "no longer running" in text and "in 60 s" in text and "owner=" in text
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(f"held by worker {alive!r}" in m for m in infos)


def test_a_worker_whose_own_name_still_holds_leases_warns_it_may_be_running_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    enqueue(store, FLOW, {}, job_id="c1")
    enqueue(store, FLOW, {}, job_id="c2")
    assert store.claim("w1", time.time(), 60.0, 2)  # a run of w1 that never released them
    store.close()
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([FLOW], store=url, owner="w1"):
        pass
    [warned] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "2 unfinished case(s) were leased to this worker's name 'w1'" in warned
    assert "taken back at once" in warned and "worker names must be unique" in warned
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([FLOW], store=url, owner="w1"):
        pass  # the run before stopped cleanly: it released its cases, nothing to say
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_the_leases_log_promises_no_takeover_of_cases_of_a_version_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    enqueue(store, FLOW, {}, job_id="c1")  # "w" v1, which the new worker no longer serves
    dead = f"{socket.gethostname()}:{ended_pid()}:0badc0de"
    assert store.claim(dead, time.time(), 60.0, 1)
    store.close()
    v2 = Workflow("w", [Sequential("b", lambda d: None)], start="b", version=2)
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([v2], store=url):
        pass
    [warned] = [r.getMessage() for r in caplog.records if "leased to worker" in r.getMessage()]
    # It said "they resume here" of a v1 case that no worker serving only v2 takes.
    assert "they resume here" not in warned
    assert "those of the workflow versions this worker serves resume here" in warned
    assert "the others wait for a worker serving theirs" in warned


def test_a_worker_restarted_under_its_name_serving_another_version_says_what_it_takes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    enqueue(store, FLOW, {}, job_id="c1")  # "w" v1
    assert store.claim("w0", time.time(), 60.0, 1)  # its v1 run died holding it
    store.close()
    v2 = Workflow("w", [Sequential("b", lambda d: None)], start="b", version=2)
    with caplog.at_level(logging.INFO, logger="actors"), Mediator([v2], store=url, owner="w0"):
        pass  # redeployed under the same name with v2 only
    [warned] = [r.getMessage() for r in caplog.records if "leased to this" in r.getMessage()]
    # It said the v1 case was "taken back at once"; it was freed for a v1 worker instead.
    assert "those of the workflow versions it serves are taken back at once" in warned
    assert "the others freed for any worker" in warned
    store = open_store(url)
    try:
        assert store.unclaimed(time.time()) == {("w", 1): 1}
    finally:
        store.close()
