"""``actors worker``: run a Mediator on a shared store until SIGTERM, SIGINT or SIGHUP."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import click
import pykka

from actors._admission import MAX_CAPACITY
from actors._cli import (
    _open_store,
    logger,
    main,
    store_option,
    workflows_option,
)
from actors._cli_errors import BadArgumentError, CliError, Seconds, _describe, text_argument
from actors._cli_interrupt import ONE_REQUEST
from actors._cli_load import load_all
from actors._errors import ActorsError
from actors._job import FINAL_STATES
from actors._log_json import JsonFormatter
from actors._mediator_options import MAX_RUNNERS
from actors._redact import RedactingFilter, mask_url
from actors._workflow import Workflow
from actors.stores import Store
from actors.stores._sql import GROUP_WAIT

__all__ = ["worker"]


# -- worker ------------------------------------------------------------------------------------


@main.command()
@store_option
@workflows_option
@click.option(
    "--runners",
    default=4,
    show_default=True,
    type=click.IntRange(1, MAX_RUNNERS),
    help=f"Runner actors (threads), 1 to {MAX_RUNNERS}.",
)
@click.option(
    "--capacity",
    default=100,
    show_default=True,
    type=click.IntRange(1, MAX_CAPACITY),
    help="Admission capacity of the Scheduler; also the most cases in progress the "
    "worker claims from the store (cases waiting on a timer or event not counted). "
    f"1 to {MAX_CAPACITY}.",
)
@click.option(
    "--name",
    default=None,
    callback=text_argument,
    help="This worker's name among the workers sharing the store (unique; default: host, "
    "process id and a random suffix). Restarted under the same name, a worker takes its "
    "unfinished cases back at once instead of waiting for their leases to expire (as many "
    "as fit its capacity; the others are freed for any worker).",
)
@click.option(
    "--poll-interval",
    default=1.0,
    show_default=True,
    type=Seconds(0.01, 5.0),
    help="Seconds between looks at the store for cases to take over (new, released, or "
    "left by a dead worker), which also renew this worker's leases. While every "
    "look fills the worker up, it looks ten times as often.",
)
@click.option(
    "--lease-seconds",
    default=15.0,
    show_default=True,
    type=Seconds(1.0, 3600.0),
    help="How long this worker's hold on a case lasts without a renewal: after a crash "
    "(or a freeze) its cases resume on another worker once their leases expire. At least "
    "twice --poll-interval, so that one late look does not let them lapse.",
)
@click.option(
    "--commit",
    default="group",
    show_default=True,
    type=click.Choice(["step", "slice", "group"]),
    help="SQL stores: commit every save before the next step; or a runner's saves of "
    "one job together before the Scheduler hears of it (faster; a crash re-runs the "
    "steps of the slice in flight); or those slices, from every runner, many per "
    "transaction on a writer thread (fastest; the same crash behaviour as slice).",
)
@click.option(
    "--writer",
    default="thread",
    show_default=True,
    type=click.Choice(["thread", "process"]),
    help="SQLite with --commit group: store the groups from a writer thread, or from a "
    "writer process beside the worker, so that SQLite runs on another core instead of "
    "taking turns with the runners for Python's interpreter lock.",
)
@click.option(
    "--group-wait",
    default=GROUP_WAIT,
    show_default=True,
    type=Seconds(0.0, 1.0),
    help="SQL stores with --commit group: the longest (seconds) the writer waits for more "
    "slices to join a group, only while the worker has work under way; 0: never wait.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log level on stderr.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one readable line per record; json: one JSON object per line, with the "
    "job's id, step and attempt as keys.",
)
def worker(  # noqa: PLR0913, PLR0917 - click passes each option as an argument
    store_url: str,
    refs: Sequence[str],
    runners: int,
    capacity: int,
    name: str | None,
    poll_interval: float,
    lease_seconds: float,
    commit: str,
    writer: str,
    group_wait: float,
    log_level: str,
    log_format: str,
) -> None:
    """Run a Mediator for the given workflows until SIGTERM, SIGINT or SIGHUP.

    At start it takes over every case no live worker holds (each job resumes from
    its last saved step), and keeps polling for more: several workers, on one
    machine or many, may share a store. On SIGTERM, SIGINT or SIGHUP (unless started
    to ignore it, as under nohup) it stops without
    draining: a running step finishes, everything else stays saved for the next
    start, and its cases are released to other workers. A second signal stops at once (the
    first one delivered again within a second, as timeout does, is not a second).
    Logs go to stderr.
    """
    if lease_seconds < 2 * poll_interval:
        msg = (
            f"--lease-seconds {lease_seconds:g} must be at least twice --poll-interval "
            f"{poll_interval:g}: the leases are renewed at each look, and would lapse "
            "between two looks"
        )
        raise BadArgumentError(msg)
    if name is not None:
        from actors._cases import shown_id
        from actors._mediator_options import owner_problem

        problem = owner_problem(name)
        if problem is not None:
            msg = f"--name {shown_id(name)} is not a worker's name: {problem}"
            raise BadArgumentError(msg)
    workflows = load_all(refs)
    sql = not store_url.startswith("memory:")
    options: dict[str, Any] = {"commit": commit} if sql else {}
    if group_wait != GROUP_WAIT:
        if not sql or commit != "group":
            got = mask_url(store_url)
            why = "keeps no commits to group" if not sql else f"is opened with --commit {commit}"
            msg = f"--group-wait needs a SQL store and --commit group; {got!r} {why}"
            raise BadArgumentError(msg)
        options["group_wait"] = group_wait
    if writer == "process":
        if not store_url.startswith("sqlite:") or commit != "group":
            got = mask_url(store_url)
            msg = f"--writer process needs a sqlite:/// store and --commit group, got {got!r}"
            raise BadArgumentError(f"{msg} with --commit {commit}")
        options["writer"] = writer
    if not sql:
        # Refused, as by enqueue and ui: no other process can reach this process's memory
        # store, so nothing could ever give the worker a case (it would idle, looking busy).
        msg = (
            "memory:// keeps cases only inside one process: no enqueue, Admin or other "
            "worker can reach this worker's store, so it would never run a case; run workers "
            "on the sqlite:/// or postgresql:// store the cases are written to (actors demo "
            "runs cases and a worker in one process, memory:// included)"
        )
        raise BadArgumentError(msg)
    with _log_to_stderr(log_level, log_format):
        # Opened under the log: the migrations it applies, or a schema newer than this
        # release knows, are logged as the worker's first lines.
        store = _open_store(store_url, say=False, **options)
        _serve(
            store,
            workflows,
            runners=runners,
            capacity=capacity,
            name=name,
            poll_interval=poll_interval,
            lease_seconds=lease_seconds,
        )


def _serve(
    store: Store,
    workflows: list[Workflow],
    *,
    runners: int,
    capacity: int,
    name: str | None,
    poll_interval: float = 1.0,
    lease_seconds: float = 15.0,
) -> None:
    from actors._mediator import Mediator

    # Counted, not read: reading every row would fault the unreadable ones, also those
    # of workflows this worker does not serve (the Scheduler logs those once, untouched).
    counts = store.counts()
    unfinished = sum(n for state, n in counts.items() if state not in FINAL_STATES)
    stop = threading.Event()
    previous = _on_stop_signals(stop)
    try:
        try:
            mediator = Mediator(
                workflows,
                runners=runners,
                capacity=capacity,
                store=store,
                owner=name,
                poll_interval=poll_interval,
                lease_seconds=lease_seconds,
            )
        except ValueError as exc:  # e.g. the same workflow and version from two modules
            store.close()
            raise BadArgumentError(str(exc)) from exc
        try:
            mediator.stats()  # answered once the Scheduler has started and resumed the jobs
        except (ActorsError, pykka.ActorDeadError) as exc:
            mediator.shutdown(drain=False)
            msg = f"the engine stopped while it resumed the store's jobs ({_describe(exc)})"
            raise CliError(msg) from exc
        logger.info(
            "worker started: store %s, %d runner(s), workflows %s; %d unfinished job(s) in the "
            "store",
            store.url,
            runners,
            ", ".join(f"{wf.name} v{wf.version}" for wf in workflows),
            unfinished,
        )
        while not stop.wait(0.5):  # a timed wait: signal handlers run in this thread
            if not mediator.scheduler.is_alive():
                # An error stopped the engine (logged above).
                # Exit rather than idle: a live process keeps the leases of cases it no
                # longer runs, and its supervisor would never restart it.
                mediator.shutdown(drain=False)
                msg = "the engine stopped on an error (logged above)"
                raise CliError(msg)
        logger.info("stopping: running steps finish, everything else stays saved")
        mediator.shutdown(drain=False)
        logger.info("worker stopped")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _log_to_stderr(level: str, form: str = "text") -> Iterator[None]:
    """Send the engine's logs (the ``actors`` logger) to stderr while the block runs.

    The PostgreSQL driver's warnings (a lost connection, a pool that cannot connect) go
    the same way, in the same format and masked: Python's last-resort handler printed
    them bare, without time or level.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if form == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    levels = {"actors": level.upper(), "psycopg": "WARNING"}
    before = {name: logging.getLogger(name).level for name in levels}
    for name, wanted in levels.items():
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(wanted)
    try:
        yield
    finally:
        for name, level_before in before.items():
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(level_before)


_monotonic = time.monotonic  # a test moves it


def _on_stop_signals(stop: threading.Event) -> dict[int, Any]:
    """Set ``stop`` on the first SIGTERM/SIGINT/SIGHUP; a second stops the process at once.

    A repeat of the first signal within ``ONE_REQUEST`` seconds is not a second: one
    sender may deliver it twice at once (``timeout`` signals the worker, then its process
    group; a terminal's Ctrl-C reaches a ``timeout`` that passes it on too), and exiting
    on it killed the running steps and left every case leased until its lease ran out.

    The handler runs in the main thread, between two of its bytecodes, which may be inside
    ``stop.wait()`` with the event's lock held (a plain lock, not reentrant): setting the
    event there would wait for that lock for ever. A thread of its own sets it, once the
    main thread has let the lock go.
    """
    received: list[tuple[int, float]] = []

    # Nothing is logged on the handler's own thread: it may have stopped the main thread
    # inside a write to stderr, and a second write there raises ("reentrant call"), out of
    # the handler into the main thread, which then died with the stop never set.
    def stopping(name: str) -> None:
        logger.info("%s received", name)
        stop.set()

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        now = _monotonic()
        if received and received[0][0] == signum and now - received[0][1] < ONE_REQUEST:
            return  # the first request, delivered again
        if received:
            with contextlib.suppress(BaseException):  # exiting whatever the log does
                logger.warning("second %s: exiting now, without waiting for running steps", name)
                logging.shutdown()
            os._exit(128 + signum)  # actor threads are not daemons: SystemExit would wait
        received.append((signum, now))
        thread = threading.Thread(target=stopping, args=(name,), name="actors-stop-signal")
        thread.daemon = True
        thread.start()

    stops = [signal.SIGTERM, signal.SIGINT]
    # The terminal that started the worker closing (an SSH session ending) is a stop too,
    # not a crash that leaves its cases leased; unless it was started to ignore that
    # (nohup), which it goes on doing.
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        stops.append(signal.SIGHUP)
    return {sig: signal.signal(sig, handler) for sig in stops}
