"""``jobs cancel`` and ``events send`` stopped by a signal, and by its copy.

SIGTERM killed them at once: a request handed to the live worker holding the case stayed
posted, and the worker carried it out after the operator had given up on it. ``timeout``
sends its signal twice (to the command, then to its process group): the copy of a
Ctrl-C cut the withdrawal short, with the same result. And a signal that landed as the
request was posted, or as the change was stored, left the request posted, or the action
made, with nothing said. Now SIGTERM is a Ctrl-C, a copy within a second is the same
request, and a write under way is finished and told of.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from click.testing import CliRunner

from actors import JobState, Mediator, RequestReaction, Sequential, Workflow
from actors._cli import main
from actors.admin import Admin
from actors.stores import open_store
from actors.stores._sql_admin import SqlAdmin
from actors.stores._sql_requests import SqlRequests

FLOW = Workflow(
    "order",
    start="ask",
    steps=[RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: None)],
)
COMMANDS = {
    "cancel": ["jobs", "cancel", "o2"],
    "event": ["events", "send", "o2/ask", "--data", "1"],
}
SIGNALS = {"sigterm": signal.SIGTERM, "ctrl-c": signal.SIGINT}


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A store with case o2 waiting at ask; no worker holds it."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Mediator([FLOW], store=store) as mediator, Admin(store) as admin:
        mediator.schedule("order", {}, job_id="o2")
        wait_until(lambda: admin.job("o2").state is JobState.WAITING, "o2 to park at ask")
    return store


def _send(signum: int) -> None:
    # Left as it was, SIGTERM would end this test's own process: it must be held.
    assert signal.getsignal(signum) is not signal.SIG_DFL, "the signal would kill"
    os.kill(os.getpid(), signum)


def _requests(url: str) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return list(db.execute("SELECT job_id, kind, outcome FROM job_requests"))


def _run(url: str, command: str) -> Any:
    args = [*COMMANDS[command], "--store", url, "--timeout", str(TIMEOUT)]
    return CliRunner().invoke(main, args, env={"ACTORS_OPERATOR": "olga"})


@pytest.fixture
def held(url: str) -> Any:
    """o2 held by a live worker that never polls: an action on it is a request, waited for."""
    ghost = open_store(url)
    assert ghost.claim("ghost", time.time(), 60.0, 1, case_id="o2")
    yield url
    ghost.close()


@pytest.mark.parametrize("signum", SIGNALS.values(), ids=SIGNALS.keys())
@pytest.mark.parametrize("command", COMMANDS)
def test_a_signal_and_its_copy_withdraw_the_request_once(
    held: str, monkeypatch: pytest.MonkeyPatch, command: str, signum: int
) -> None:
    get, withdraw = SqlRequests.get_request, SqlRequests.withdraw_request

    def signalled(self: Any, request_id: int) -> Any:
        _send(signum)  # while the worker is waited for
        return get(self, request_id)

    def copied(self: Any, request_id: int, now: float) -> bool:
        _send(signum)  # its copy, as the request is withdrawn
        return withdraw(self, request_id, now)

    monkeypatch.setattr(SqlRequests, "get_request", signalled)
    monkeypatch.setattr(SqlRequests, "withdraw_request", copied)
    result = _run(held, command)
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    action = "event" if command == "event" else "cancel"
    said = f"actors: interrupted: the {action} of case o2 was withdrawn; nothing was changed\n"
    assert result.stderr == said
    assert [(job, outcome) for job, _, outcome in _requests(held)] == [("o2", "withdrawn")]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_signal_as_the_request_is_posted_withdraws_it(
    held: str, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    post = SqlRequests.post_request

    def signalled(self: Any, *args: Any) -> Any:
        posted = post(self, *args)
        _send(signal.SIGINT)  # its transaction committed, its id not yet returned
        return posted

    monkeypatch.setattr(SqlRequests, "post_request", signalled)
    result = _run(held, command)
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    assert "was withdrawn; nothing was changed" in result.stderr
    assert [(job, outcome) for job, _, outcome in _requests(held)] == [("o2", "withdrawn")]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_signal_as_the_store_is_changed_says_the_action_was_made(
    url: str, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    change = SqlAdmin.change_case

    def signalled(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = change(self, *args, **kwargs)
        _send(signal.SIGTERM)  # its transaction committed
        return made

    monkeypatch.setattr(SqlAdmin, "change_case", signalled)
    result = _run(url, command)
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    action, outcome = ("event", "delivered") if command == "event" else ("cancel", "cancelled")
    said = f"the {action} of case o2 was made in the store first: {outcome}"
    assert said in result.stderr
    with Admin(url) as admin:
        state = admin.job("o2").state
    assert state is (JobState.CANCELLED if command == "cancel" else JobState.READY)


def test_a_signal_and_its_copy_as_a_retry_is_stored_say_the_retry_was_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``jobs retry`` stored its change, then a signal and its copy came: it said nothing."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    flow = Workflow("broken", start="fail", steps=[Sequential("fail", _fail)])
    with Mediator([flow], store=url) as mediator:
        assert (
            mediator.schedule("broken", {}, job_id="f1").result(TIMEOUT).state is JobState.FAULTED
        )
    change = SqlAdmin.change_case

    def signalled(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = change(self, *args, **kwargs)
        _send(signal.SIGTERM)  # its transaction committed
        _send(signal.SIGTERM)  # the copy timeout sends to the process group
        return made

    monkeypatch.setattr(SqlAdmin, "change_case", signalled)
    result = CliRunner().invoke(main, ["jobs", "retry", "f1", "--store", url])
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    assert "the retry of case f1 was made in the store first: retried" in result.stderr
    with Admin(url) as admin:
        assert admin.job("f1").state is JobState.READY


def _fail(data: Any, ctx: Any) -> None:
    raise ValueError("broken on purpose (test)")


@pytest.mark.parametrize("command", COMMANDS)
def test_sigterm_withdraws_the_request_where_ctrl_c_is_ignored(
    held: str, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # A shell starts a background job (`actors events send ... &` in a script) with
    # SIGINT ignored: SIGTERM then killed the command outright, its request left posted
    # for the worker to carry out after the operator had given up on it.
    get = SqlRequests.get_request

    def signalled(self: Any, request_id: int) -> Any:
        _send(signal.SIGTERM)  # while the worker is waited for
        return get(self, request_id)

    monkeypatch.setattr(SqlRequests, "get_request", signalled)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = _run(held, command)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # left as it was
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    assert "was withdrawn; nothing was changed" in result.stderr
    assert [(job, outcome) for job, _, outcome in _requests(held)] == [("o2", "withdrawn")]
