"""``actors events send`` answered ``unknown`` says what the job waits on instead.

A typo in a correlation id, or an event for a step the job has not reached, was answered
``unknown`` (exit 3) and nothing more: the line after it names the ids the job's step
waits on (with ``--workflows``), or the state the job is in. An event delivered with no
workflow to check it is followed by what a typo in it does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until
from click.testing import CliRunner

from actors import DeferredChoice, JobState, Mediator, Sequential, Workflow
from actors._cli import main
from actors.admin import Admin

FLOW = Workflow(
    "parcel",
    start="pickup",
    steps=[
        DeferredChoice("pickup", events={"collected": "ship", "lost": "ship"}),
        Sequential("ship", lambda d: None),
    ],
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    """p1 waiting at its choice, p2 done; no worker holds them."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Mediator([FLOW], store=store) as mediator:
        mediator.schedule("parcel", {}, job_id="p1")
        done = mediator.schedule("parcel", {}, job_id="p2")
        with Admin(store) as admin:
            wait_until(lambda: admin.job("p2").state is JobState.WAITING, "p2 to park")
        assert mediator.receive_event("p2/pickup/lost").value == "delivered"
        assert done.result(timeout=TIMEOUT).state is JobState.DONE
    return store


def send(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["events", "send", *args, "--store", url])
    return result.exit_code, result.stdout, result.stderr


def test_an_unknown_event_names_what_the_job_waits_on(url: str) -> None:
    code, out, err = send(url, "p1/pickup/colected", "--workflows", f"{__name__}:FLOW")
    assert code == 3
    assert out.startswith("event p1 (p1/pickup/colected): unknown")
    assert err == "actors: job p1 waits at step 'pickup' for p1/pickup/collected, p1/pickup/lost\n"
    code, _, err = send(url, "p1/pikup/collected")  # no --workflows: the step at least
    assert code == 3
    assert (
        err == "actors: job p1 waits at step 'pickup' (--workflows names the events it waits for)\n"
    )


def test_a_json_answer_has_no_hint(url: str) -> None:
    code, out, err = send(url, "p1/pickup/colected", "--json", "--workflows", f"{__name__}:FLOW")
    assert (code, err) == (3, "")
    assert '"outcome": "unknown"' in out


def test_an_event_for_an_ended_job_is_finished_with_no_hint(url: str) -> None:
    code, out, err = send(url, "p2/pickup/collected")
    assert code == 3
    assert out.startswith("event p2 (p2/pickup/collected): finished")
    assert err == ""


def test_an_event_delivered_unchecked_says_so_and_what_a_typo_does(url: str) -> None:
    # A typo in EVENT was answered "delivered" (exit 0) and nothing more; the job then
    # faulted when a worker took it up, long after the operator had moved on.
    code, out, err = send(url, "p1/pickup/colected")
    assert code == 0
    assert out.startswith("event p1 (p1/pickup/colected): delivered, via store")
    assert err == (
        "actors: not checked against the workflow (give --workflows to check it): if step "
        "'pickup' has no event 'colected', job p1 faults there when a worker takes it up "
        "(jobs retry puts it back)\n"
    )


@pytest.mark.parametrize("args", [["--workflows", f"{__name__}:FLOW"], ["--json"]])
def test_an_event_delivered_checked_or_as_json_has_no_such_hint(url: str, args) -> None:
    code, _, err = send(url, "p1/pickup/collected", *args)
    assert (code, err) == (0, "")
