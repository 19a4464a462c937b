"""Property: a cancel's answer is the truth, under every interleaving the harness makes.

Generated workflows (sequences, splits with a ``Synchronize`` or ``Discriminator`` join,
waits, requests waiting for their reply) run under the harness with cancels of a case or
of one of its branches at generated moments, crash plans (between steps, before a save,
stalled, frozen in a request's send, and a lost group where the store commits in
groups), and sometimes a shutdown at a generated moment (then the next start on the
same store ends every case): in memory, on SQLite committing each step or in groups (its
default; the harness schedules the writer thread's groups, and refuses a writer
process), and on PostgreSQL with its default group commit (fewer examples: each empties
its tables). At the end of each example:

- every cancel got exactly one answer (none left hanging), or, after a shutdown, an
  ``EngineStoppedError``;
- ``CANCELLED``: the job ended ``CANCELLED``; ``ALREADY_FINISHED``: it ended otherwise;
  ``NOT_FOUND``: only for an id the engine never had;
- every admitted case ended (or, after a shutdown, is still in the store to resume), the
  harness's invariants held, and neither ``WorkChannel.last_look`` nor the cancel desk
  holds anything once the engine is quiet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_throwaway import drop_database, fresh_database

from actors import EngineStoppedError, JobState
from actors._job import FINAL_STATES
from actors._outcomes import CancelOutcome
from actors.stores import SqliteStore, Store
from actors.stores._postgres import PostgresStore
from actors.testing import Harness
from actors.testing._faults import CrashPoint
from actors.testing._future import DeterministicFuture
from actors.testing.strategies import GeneratedWorkflow, fault_plans, workflows

EXAMPLES = {"ci": 300, "explore": 3000}.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), 20)
PG_EXAMPLES = {"ci": 40, "explore": 400}.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), 5)
SETUPS = ("memory", "sqlite-step", "sqlite-group")
TABLES = ("jobs", "step_history", "job_requests", "join_arrivals", "join_counts", "workers")
UNKNOWN = "no-such-job"


@dataclass(frozen=True)
class Ask:
    """A cancel asked after ``at`` actions: of case ``case``, or of its ``branch``th branch."""

    at: int
    case: int
    branch: int | None  # None: the case itself; else an index into its live branches


asks = st.builds(
    Ask, at=st.integers(0, 60), case=st.integers(0, 2), branch=st.none() | st.integers(0, 5)
)
POINTS: tuple[CrashPoint, ...] = ("before_step", "before_save", "stalled", "in_send")
crashes = fault_plans(stalls=True, events=False, points=POINTS)
grouped_crashes = fault_plans(stalls=True, events=False, points=(*POINTS, "in_group"))


class Run:
    """One example: the cases scheduled, the cancels asked and their futures."""

    def __init__(self, h: Harness, wf: GeneratedWorkflow) -> None:
        self.h = h
        self.wf = wf
        self.cases: list[Any] = []
        # (job id, its answer, whether it had ended or was being cancelled when asked)
        self.asked: list[tuple[str, DeterministicFuture[CancelOutcome], bool]] = []
        self.stopped = False

    def schedule(self) -> None:
        self.cases.append(
            self.h.schedule(self.wf.name, self.wf.data((False,) * self.wf.flag_count))
        )

    def cancel(self, ask: Ask) -> None:
        if self.stopped:
            return
        subs = [s for s in self.cases if s.job_id is not None]
        if not subs:
            return
        case_id = subs[ask.case % len(subs)].job_id
        target = case_id
        if ask.branch is not None:
            # A branch the store holds unfinished at the moment of the ask.
            branches = sorted(
                j.id
                for j in self.h.probe.live().values()
                if j.case_id == case_id and j.id != case_id
            )
            if branches:
                target = branches[ask.branch % len(branches)]
        self.asked.append((target, self.h.cancel(target), self._ending(target)))

    def _ending(self, job_id: str) -> bool:
        """Whether ``job_id`` had ended or was already being cancelled (a cancel may find it so)."""
        if self.h.probe.is_final(job_id):
            return True
        held = self.h.probe.jobs().get(job_id)
        if held is not None and (held.cancel_requested or held.state in FINAL_STATES):
            return True
        saved = {j.id: j for j in self.h.store.unfinished()}.get(job_id)
        return saved is not None and saved.cancel_requested

    def stop(self) -> None:
        if self.stopped:
            return
        if self.h.runtime.delivering:  # at a runner's choice point: from another thread
            self.h.at(self.h.actions + 1, self.stop)
            return
        self.stopped = True
        self.h.mediator.shutdown(drain=False)


DRAWS: dict[str, Any] = {
    "wf": workflows(max_size=8, requests=True, loops=False),
    "cases": st.integers(1, 3),
    "cancels": st.lists(asks, min_size=1, max_size=4),
    "unknown": st.none() | st.integers(0, 60),
    "stop_at": st.none() | st.integers(0, 80),
    "runners": st.integers(1, 3),
    "data": st.data(),
}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    setup=st.sampled_from(SETUPS).flatmap(
        lambda s: st.tuples(st.just(s), grouped_crashes if s == "sqlite-group" else crashes)
    ),
    **DRAWS,
)
def test_every_cancel_is_answered_once_and_truthfully(
    tmp_path_factory: Any, *, setup: tuple[str, Any], **drawn: Any
) -> None:
    """In memory, and on SQLite committing each step or in groups (its marks are durable)."""
    kind, faults = setup
    if kind == "memory":
        _play(None, faults=faults, **drawn)
        return
    path = tmp_path_factory.mktemp("cancels") / "jobs.db"
    _play(lambda: SqliteStore(path, commit=kind.removeprefix("sqlite-")), faults=faults, **drawn)


@pytest.mark.postgres
@settings(
    max_examples=PG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(faults=grouped_crashes, **DRAWS)
def test_every_cancel_is_answered_once_and_truthfully_on_postgresql(
    pg_cancels: str, **drawn: Any
) -> None:
    """On PostgreSQL with its default group commit: each example on emptied tables."""
    with psycopg.connect(pg_cancels, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)}")
    _play(lambda: PostgresStore(pg_cancels), **drawn)


@pytest.fixture(scope="module")
def pg_cancels(pg_server: Any) -> Iterator[str]:
    """A database of this module's own on the throwaway server, dropped after its tests."""
    name = "actors_cancel_answers"
    url = fresh_database(pg_server, name)
    PostgresStore(url).close()  # its schema, made once
    yield url
    drop_database(pg_server, name)


def _play(
    opener: Callable[[], Store] | None,
    *,
    wf: GeneratedWorkflow,
    cases: int,
    cancels: list[Ask],
    unknown: int | None,
    stop_at: int | None,
    faults: Any,
    runners: int,
    data: st.DataObject,
) -> None:
    """One example on the store ``opener`` opens (the memory store: ``None``)."""
    store = opener() if opener is not None else None
    h = Harness([wf], data=data, runners=runners, capacity=4, faults=faults, store=store)
    wf.journal.clear()
    wf.requests.clear()
    wf.responder = lambda cid: h.receive_event(cid, {"reply": cid})
    run = Run(h, wf)
    strays: list[DeterministicFuture[CancelOutcome]] = []
    try:
        for i in range(cases):
            h.at(i * 3, run.schedule)
        for ask in cancels:
            h.at(ask.at, lambda ask=ask: run.cancel(ask))
        if unknown is not None:
            h.at(unknown, lambda: None if run.stopped else strays.append(h.cancel(UNKNOWN)))
        if stop_at is not None:
            h.at(stop_at, run.stop)
        try:
            h.finish()
        except EngineStoppedError:
            assert run.stopped
        _check_answers(run, strays)
        if not run.stopped:  # a stopped engine's channel and desk are dropped with it
            _check_quiet(h)
            _check_ends(run, h.store)
    finally:
        wf.responder = None
        h.close()
        if store is not None:
            store.close()
    if opener is not None and run.stopped:
        _restart(run, wf, opener())


def _restart(run: Run, wf: GeneratedWorkflow, store: Store) -> None:
    """The next start on the stopped engine's store: every case ends, each cancel held."""
    try:
        with Harness([wf], seed=0, store=store) as again:
            wf.responder = lambda cid: again.receive_event(cid, {"reply": cid})
            again.run_until_quiescent()
            _check_quiet(again)
        assert not store.unfinished(), [j.id for j in store.unfinished()]
        _check_ends(run, store)
    finally:
        wf.responder = None
        store.close()


def _check_answers(run: Run, strays: list[DeterministicFuture[CancelOutcome]]) -> None:
    """Every cancel answered once: NOT_FOUND for the unknown id alone."""
    for future in strays:
        assert future.resolved
        assert future.get() is CancelOutcome.NOT_FOUND
    for job_id, future, _ in run.asked:
        assert future.resolved, f"the cancel of {job_id} was never answered"
        try:
            outcome = future.get()
        except EngineStoppedError:
            assert run.stopped, f"the cancel of {job_id} was told the engine stopped"
            continue
        assert outcome is not CancelOutcome.NOT_FOUND, f"cancel of known {job_id}: NOT_FOUND"


def _check_quiet(h: Harness) -> None:
    """Nothing left in the runners' last looks or the cancel desk once the engine is quiet."""
    assert not h.probe.channel.last_look, f"last_look leaks {dict(h.probe.channel.last_look)}"
    scheduler = h.probe.scheduler()
    if scheduler is not None:
        assert not scheduler._cancels.owed, f"cancel desk leaks {scheduler._cancels.owed}"


def _check_ends(run: Run, store: Any) -> None:
    """Each answer agrees with how its job ended; every admitted case ended."""
    for n, (job_id, future, ending) in enumerate(run.asked):
        try:
            outcome = future.get()
        except EngineStoppedError:
            continue  # not known: the job ends either way
        saved = store.get(job_id)
        assert saved is not None, f"{job_id} lost from the store"
        if outcome is CancelOutcome.CANCELLED:
            assert saved.state is JobState.CANCELLED, (job_id, saved.state, saved.error)
        else:
            assert outcome is CancelOutcome.ALREADY_FINISHED, (job_id, outcome)
            assert saved.state in FINAL_STATES, (job_id, saved.state)
            # Ended cancelled: only if it had ended, or a cancel was under way, when asked;
            # or one asked before it (of its case) or its case's tree (a Discriminator's
            # losers, a cancelled parent) cancelled it before this one was handled.
            earlier = any(store.get(j).case_id == saved.case_id for j, *_ in run.asked[:n])
            assert saved.state is not JobState.CANCELLED or ending or earlier or saved.parent_id, (
                job_id,
                saved.error,
            )
    for sub in run.cases:
        if sub.job_id is not None:
            saved = store.get(sub.job_id)
            assert saved is not None, f"admitted case {sub.job_id} lost"
            assert saved.state in FINAL_STATES, (sub.job_id, saved.state)
