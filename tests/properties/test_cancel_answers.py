"""Property: a cancel's answer is the truth, under every interleaving the harness makes.

Generated workflows (sequences, splits with a ``Synchronize`` or ``Discriminator`` join,
waits, requests waiting for their reply) run under the harness with cancels of a case or
of one of its branches at generated moments, crash plans (between steps, before a save,
stalled), and sometimes a shutdown at a generated moment. At the end of each example:

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
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import EngineStoppedError, JobState
from actors._job import FINAL_STATES
from actors._outcomes import CancelOutcome
from actors.stores import SqliteStore
from actors.testing import Harness
from actors.testing._future import DeterministicFuture
from actors.testing.strategies import GeneratedWorkflow, fault_plans, workflows

EXAMPLES = {"ci": 300, "explore": 3000}.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), 20)
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
crashes = fault_plans(stalls=True, events=False, points=("before_step", "before_save", "stalled"))


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


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    wf=workflows(max_size=8, requests=True, loops=False),
    cases=st.integers(1, 3),
    cancels=st.lists(asks, min_size=1, max_size=4),
    unknown=st.none() | st.integers(0, 60),
    stop_at=st.none() | st.integers(0, 80),
    faults=crashes,
    runners=st.integers(1, 3),
    commit=st.sampled_from([None, "step"]),
    data=st.data(),
)
def test_every_cancel_is_answered_once_and_truthfully(
    tmp_path_factory: Any,
    *,
    wf: GeneratedWorkflow,
    cases: int,
    cancels: list[Ask],
    unknown: int | None,
    stop_at: int | None,
    faults: Any,
    runners: int,
    commit: str | None,
    data: st.DataObject,
) -> None:
    """In memory, and on SQLite committing each step or in groups (its marks are durable)."""
    path = tmp_path_factory.mktemp("cancels") / "jobs.db" if commit is not None else None
    store = SqliteStore(path, commit=commit) if path is not None else None
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
    if path is not None and run.stopped:
        _restart(run, wf, SqliteStore(path, commit=commit))


def _restart(run: Run, wf: GeneratedWorkflow, store: SqliteStore) -> None:
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
