"""What a user's own actor under the harness raises is named as the user's, and stops the run.

A ``BaseException`` (``sys.exit()``): pykka takes one on an actor's thread for a fatal
error and stops every actor of the process; the harness does the same, and hands the
exception to the test. When a task asked that actor, the harness delivers the ask
inside the task's call, so the exception came up through the task: the runner took a
``SystemExit`` for the task's failure, on actors the harness had already emptied, and
the test got ``AttributeError: 'Runner' object has no attribute '_steps'`` instead.

An ``Exception`` that escapes the actor (told a message, or in ``on_start``) fails the
run, which said "(an engine bug)": the user went looking in the engine for their own.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT

from actors import Sequential, Workflow
from actors.testing import Harness, InvariantViolation


class LibraryStop(BaseException):
    """A library's own ``BaseException``."""


class Notifier(pykka.ThreadingActor):
    """An actor of the application that ends the process on one message."""

    def __init__(self, error: type[BaseException]) -> None:
        super().__init__()
        self.error = error

    def on_receive(self, message: Any) -> Any:
        if message == "leave":
            if self.error is SystemExit:
                sys.exit(3)
            raise self.error
        return "sent"


def _notify_flow(refs: dict[str, Any]) -> Workflow:
    def notify(data: dict[str, Any]) -> None:
        data["answer"] = refs["notifier"].ask(data["message"], timeout=5)

    return Workflow("notify", start="notify", steps=[Sequential("notify", notify)])


ERRORS = [SystemExit, KeyboardInterrupt, LibraryStop]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("seed", range(4))
def test_an_actor_a_task_asks_stops_the_run_with_its_own_exception(
    error: type[BaseException], seed: int
) -> None:
    refs: dict[str, Any] = {}
    harness = Harness([_notify_flow(refs)], runners=2, seed=seed)
    try:
        refs["notifier"] = harness.actor(Notifier, error)
        harness.schedule("notify", {"message": "hello"})
        harness.schedule("notify", {"message": "leave"})
        with pytest.raises(error):
            harness.run_until_quiescent()
        assert not refs["notifier"].is_alive()
    finally:
        harness.close()


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
def test_an_actor_told_stops_the_run_with_its_own_exception(error: type[BaseException]) -> None:
    refs: dict[str, Any] = {}
    harness = Harness([_notify_flow(refs)], runners=2, seed=1)
    try:
        refs["notifier"] = harness.actor(Notifier, error)
        refs["notifier"].tell("leave")
        harness.schedule("notify", {"message": "hello"})
        with pytest.raises(error):
            harness.run_until_quiescent()
    finally:
        harness.close()


def test_off_the_main_thread_too() -> None:
    """Off the main thread a task's ``KeyboardInterrupt`` is its failure: not this one."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            test_an_actor_a_task_asks_stops_the_run_with_its_own_exception(KeyboardInterrupt, 0)
        except BaseException as exc:  # handed to the test's thread
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert raised == []


class Mailer(pykka.ThreadingActor):
    """An actor of the application whose mail server is down."""

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at

    def on_start(self) -> None:
        if self.at == "start":
            raise ConnectionError("mail server down")

    def on_receive(self, message: Any) -> Any:
        raise ConnectionError("mail server down")


@pytest.mark.parametrize("at", ["start", "told"])
def test_an_exception_escaping_a_user_actor_is_named_as_the_user_s(at: str) -> None:
    refs: dict[str, Any] = {}

    def mail(data: dict[str, Any]) -> None:
        refs["mailer"].tell("welcome")

    flow = Workflow("mail", start="mail", steps=[Sequential("mail", mail)])
    harness = Harness([flow], runners=1, seed=1)
    try:
        refs["mailer"] = harness.actor(Mailer, at)
        harness.schedule("mail", {})
        with pytest.raises(InvariantViolation) as raised:
            harness.run_until_quiescent()
        said = str(raised.value).splitlines()[0]
        assert said.startswith(
            "mailer (your actor Mailer) raised ConnectionError: mail server down: "
            "with threads pykka logs it and stops the actor"
        )
        assert "engine bug" not in said
    finally:
        harness.close()


def test_an_exception_escaping_an_engine_actor_is_still_an_engine_bug() -> None:
    harness = Harness([_notify_flow({})], runners=1, seed=1)
    try:
        harness.runtime.failures.append(
            (harness.runtime.cells[0], RuntimeError("lost track of a job"))
        )
        with pytest.raises(
            InvariantViolation,
            match=r"^scheduler raised RuntimeError: lost "
            r"track of a job \(an engine bug\)",
        ):
            harness.run_until_quiescent()
    finally:
        harness.close()
