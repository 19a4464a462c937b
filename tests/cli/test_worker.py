"""``actors worker``: the options it passes to the engine, and its one-line refusals."""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from cli_support import FLOWS, UNSUPPORTED, one_error_line, write_module
from click.testing import CliRunner

import actors._cli as cli
from actors import (
    StoreError,
)
from actors import _cli_worker as cli_worker
from actors._cli import main
from actors._cli_worker import _on_stop_signals
from actors.stores import Store


def test_worker_with_a_bad_module(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(main, ["worker", "--store", "memory://", "--workflows", "nope_xyz"])
    assert "no module named 'nope_xyz'" in one_error_line(result)
    assert result.exit_code == 2


def test_worker_with_a_bad_store_url(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", UNSUPPORTED, "--workflows", name])
    assert UNSUPPORTED in one_error_line(result)
    assert result.exit_code == 2


def test_worker_with_a_module_without_workflows(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, "X = 1\n")
    result = runner.invoke(main, ["worker", "--store", "memory://", "--workflows", name])
    assert "defines no Workflow" in one_error_line(result)


def test_worker_refuses_the_same_workflow_twice(runner: CliRunner, workdir: Path) -> None:
    one = write_module(workdir, FLOWS)
    two = write_module(workdir, FLOWS)
    result = runner.invoke(
        main, ["worker", "--store", "sqlite:///jobs.db", "--workflows", one, "--workflows", two]
    )
    assert "defined twice, differently" in one_error_line(result)


@pytest.mark.parametrize(
    ("url", "args", "options"),
    [
        ("sqlite:///jobs.db", [], {"commit": "group"}),
        ("sqlite:///jobs.db", ["--commit", "step"], {"commit": "step"}),
        ("sqlite:///jobs.db", ["--commit", "slice"], {"commit": "slice"}),
        ("sqlite:///jobs.db", ["--commit", "group"], {"commit": "group"}),
        (
            "sqlite:///jobs.db",
            ["--commit", "group", "--writer", "process"],
            {"commit": "group", "writer": "process"},
        ),
        (
            "sqlite:///jobs.db",
            ["--group-wait", "0"],
            {"commit": "group", "group_wait": 0.0},
        ),
    ],
)
def test_worker_passes_the_commit_mode_to_a_sql_store(
    runner: CliRunner,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    args: list[str],
    options: dict[str, str],
) -> None:
    seen: list[dict[str, Any]] = []

    def fake_open(store_url: str, **given: Any) -> Store:
        seen.append(given)
        raise StoreError("opened no store")

    monkeypatch.setattr(cli, "open_store", fake_open)
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", url, "--workflows", name, *args])
    assert result.exit_code == 2
    assert "opened no store" in result.output
    assert seen == [options]


@pytest.mark.parametrize(
    ("url", "args"),
    [
        ("sqlite:///jobs.db", ["--commit", "step", "--writer", "process"]),
        ("memory://", ["--commit", "group", "--writer", "process"]),
    ],
)
def test_worker_refuses_a_writer_process_without_sqlite_group_commit(
    runner: CliRunner, workdir: Path, url: str, args: list[str]
) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", url, "--workflows", name, *args])
    assert result.exit_code == 2
    assert "--writer process needs a sqlite:/// store and --commit group" in result.output
    assert url in result.output


@pytest.mark.parametrize(
    ("url", "args"),
    [
        ("sqlite:///jobs.db", ["--commit", "step", "--group-wait", "0.01"]),
        ("memory://", ["--group-wait", "0"]),
    ],
)
def test_worker_refuses_a_group_wait_without_sql_group_commit(
    runner: CliRunner, workdir: Path, url: str, args: list[str]
) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", url, "--workflows", name, *args])
    assert result.exit_code == 2
    assert "--group-wait needs a SQL store and --commit group" in result.output
    assert url in result.output


def test_worker_refuses_a_group_wait_out_of_range(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    args = ["worker", "--store", "sqlite:///j.db", "--workflows", name, "--group-wait", "2"]
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "--group-wait" in result.output


@pytest.mark.parametrize(
    ("option", "bound"), [("--runners", "1<=x<=1024"), ("--capacity", "1<=x<=100000")]
)
@pytest.mark.parametrize("value", ["0", "100000000"])
def test_worker_refuses_runners_or_capacity_out_of_range_naming_the_bound(
    runner: CliRunner, workdir: Path, option: str, bound: str, value: str
) -> None:
    name = write_module(workdir, FLOWS)
    args = ["worker", "--store", "sqlite:///j.db", "--workflows", name, option, value]
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': {value} is not in the range {bound}" in result.output
    assert not (workdir / "j.db").exists()  # refused before the store was opened


@pytest.fixture
def mediator_options(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options each Mediator the worker makes is given (it starts none: exit 2)."""
    import actors._mediator as mediator_module

    seen: list[dict[str, Any]] = []

    def fake_mediator(*args: Any, **options: Any) -> Any:
        seen.append(options)
        raise ValueError("started no engine")

    monkeypatch.setattr(mediator_module, "Mediator", fake_mediator)
    return seen


def test_worker_passes_the_poll_interval_to_the_mediator(
    runner: CliRunner, workdir: Path, mediator_options: list[dict[str, Any]]
) -> None:
    seen = mediator_options
    name = write_module(workdir, FLOWS)
    args = ["worker", "--store", "sqlite:///jobs.db", "--workflows", name]
    args += ["--poll-interval", "0.25"]
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "started no engine" in result.output
    assert [options["poll_interval"] for options in seen] == [0.25]


def test_worker_passes_the_lease_to_the_mediator_and_refuses_one_shorter_than_two_looks(
    runner: CliRunner, workdir: Path, mediator_options: list[dict[str, Any]]
) -> None:
    seen = mediator_options
    name = write_module(workdir, FLOWS)
    args = ["worker", "--store", "sqlite:///jobs.db", "--workflows", name]
    result = runner.invoke(main, [*args, "--lease-seconds", "4"])
    assert result.exit_code == 2
    assert [options["lease_seconds"] for options in seen] == [4.0]
    short = runner.invoke(main, [*args, "--lease-seconds", "3", "--poll-interval", "2"])
    assert short.exit_code == 2
    assert "--lease-seconds 3 must be at least twice --poll-interval 2" in one_error_line(short)
    assert len(seen) == 1  # refused before any engine started
    typo = runner.invoke(main, [*args, "--lease-seconds", "abc"])
    assert typo.exit_code == 2
    assert "'abc' is not a valid number of seconds" in typo.output


@pytest.mark.parametrize("seconds", ["0", "6", "soon"])
def test_worker_refuses_a_poll_interval_out_of_range(
    runner: CliRunner, workdir: Path, seconds: str
) -> None:
    name = write_module(workdir, FLOWS)
    args = ["worker", "--store", "memory://", "--workflows", name, "--poll-interval", seconds]
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "--poll-interval" in result.output


def test_worker_refuses_a_memory_store_that_nothing_could_enqueue_into(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_open(store_url: str, **given: Any) -> Store:
        raise AssertionError("a worker on memory:// must be refused before opening it")

    monkeypatch.setattr(cli, "open_store", fake_open)
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", "memory://", "--workflows", name])
    error = one_error_line(result)
    assert result.exit_code == 2
    assert "memory:// keeps cases only inside one process" in error
    assert "sqlite:/// or postgresql://" in error


def test_worker_refuses_an_unknown_commit_mode(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(
        main, ["worker", "--store", "memory://", "--workflows", name, "--commit", "never"]
    )
    assert result.exit_code == 2
    assert "'never' is not one of 'step', 'slice'" in result.output


def test_a_stop_signal_arriving_inside_the_wait_for_it_does_not_hang_the_worker() -> None:
    """A handler that set the event itself could wait for ever: it runs in the main thread.

    There, it may run inside ``stop.wait()`` with the event's lock held, so the worker
    never stopped on SIGTERM (seen, rarely, under load).
    """
    stop = threading.Event()
    previous = _on_stop_signals(stop)
    try:
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)

        def inside_the_wait() -> None:
            with stop._cond:  # type: ignore[attr-defined]  # where wait() holds it
                handler(signal.SIGTERM, None)

        delivered = threading.Thread(target=inside_the_wait, daemon=True)
        delivered.start()
        delivered.join(TIMEOUT)
        assert not delivered.is_alive(), "the handler waited for the lock its own thread holds"
        assert stop.wait(TIMEOUT)
    finally:
        for signum, restored in previous.items():
            signal.signal(signum, restored)


def test_a_stop_signal_arriving_inside_a_log_write_still_stops_the_worker(monkeypatch) -> None:
    """The handler may interrupt its thread inside a write to stderr: it logs nothing there.

    A second write on that thread raises ("reentrant call"): the error left the handler
    into the main thread, the stop was never set, and the worker did not stop on SIGTERM.
    """
    stop = threading.Event()
    previous = _on_stop_signals(stop)
    handler_thread: list[threading.Thread] = []
    logged_on: list[threading.Thread] = []

    def write(*args: object, **kwargs: object) -> None:
        logged_on.append(threading.current_thread())
        if threading.current_thread() in handler_thread:
            raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stderr>'>")

    monkeypatch.setattr(cli_worker.logger, "info", write)
    try:
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler_thread.append(threading.current_thread())
        handler(signal.SIGTERM, None)  # raised the RuntimeError here
        assert stop.wait(TIMEOUT)
        assert logged_on and handler_thread[0] not in logged_on
    finally:
        for signum, restored in previous.items():
            signal.signal(signum, restored)


class ExitedError(Exception):
    """``os._exit`` called by the handler, raised instead so the test goes on."""


@pytest.mark.parametrize(
    ("second", "after", "exits"),
    [
        (signal.SIGTERM, 0.0, False),  # timeout: the worker, then its process group
        (signal.SIGTERM, 0.9, False),  # within ONE_REQUEST, a second
        (signal.SIGTERM, 1.0, True),  # an operator's second request
        (signal.SIGINT, 0.0, True),  # another signal is another request
    ],
)
def test_one_stop_signal_delivered_twice_at_once_is_one_request(
    monkeypatch: pytest.MonkeyPatch, second: signal.Signals, after: float, exits: bool
) -> None:
    """``timeout 60 actors worker`` delivers its SIGTERM twice, microseconds apart.

    The second ran the handler again as a second signal: ``os._exit(143)`` at once, the
    running steps killed and every case left leased until its lease ran out.
    """

    def exit_now(status: int) -> None:
        raise ExitedError(status)

    clock = [100.0]
    monkeypatch.setattr(cli_worker.os, "_exit", exit_now)
    monkeypatch.setattr(cli_worker, "_monotonic", lambda: clock[0], raising=False)
    stop = threading.Event()
    previous = _on_stop_signals(stop)
    try:
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler(signal.SIGTERM, None)
        assert stop.wait(TIMEOUT)
        clock[0] += after
        if exits:
            with pytest.raises(ExitedError) as caught:
                handler(second, None)
            assert caught.value.args == (128 + second,)
        else:
            handler(second, None)  # no exit: the stop under way goes on
        later = signal.SIGTERM if second == signal.SIGINT else signal.SIGINT
        clock[0] += 1.0
        with pytest.raises(ExitedError):  # whatever came before, a later signal still exits
            handler(later, None)
    finally:
        for signum, restored in previous.items():
            signal.signal(signum, restored)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "it is empty"),
        ("operator:bob", "it begins 'operator:', which marks an operator's change"),
        ("w\x1b[2J", "it holds a control character '\\x1b' at position 1"),
        ("w" * 501, "it is 501 characters long, more than 500"),
    ],
)
def test_worker_refuses_a_name_no_worker_can_have(
    runner: CliRunner, name: str, problem: str
) -> None:
    # Refused before anything is opened or imported (an empty one was a TypeError
    # traceback; one beginning 'operator:' made a dead worker's cases look changed by an
    # operator, so their histories showed no takeover).
    args = ["worker", "--store", "sqlite:///jobs.db", "--workflows", "nope_xyz", "--name", name]
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert f"is not a worker's name: {problem}" in one_error_line(result)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "it is empty"),  # was a TypeError, though the name is a str
        ("operator:bob", "it begins 'operator:'"),
        ("w\x1b[2J", "it holds a control character"),
        ("w" * 501, "it is 501 characters long"),
    ],
)
def test_a_mediator_refuses_an_owner_no_worker_can_have(name: str, problem: str) -> None:
    """docs/how-to/command-line.md: ``Mediator(owner=...)`` refuses what ``--name`` does."""
    from actors import Mediator, Sequential, Workflow

    flow = Workflow("w", [Sequential("a", lambda data: None)], "a")
    with pytest.raises(ValueError, match=f"is not a worker's name: {re.escape(problem)}"):
        Mediator([flow], owner=name)
