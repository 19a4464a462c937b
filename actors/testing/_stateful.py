"""``MediatorMachine``: a Hypothesis rule-based state machine over a simulated Mediator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from actors.testing._harness import Harness

if TYPE_CHECKING:
    from actors._job import Job
    from actors._workflow import Workflow
    from actors.testing._external import Submission
    from actors.testing._faults import CrashPoint

__all__ = ["MediatorMachine"]


class _Draws:
    """What ``case_data`` needs of a ``DataObject`` (``draw``), inside a composite strategy."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw


_SETTLE_ROUNDS = 20  # replies sent at teardown before giving up on jobs that wait for events


class MediatorMachine(RuleBasedStateMachine):
    """Hypothesis explores schedules, deliveries, timers, cancels and crashes of your workflows.

    Subclass it, set ``workflows`` (and ``harness_options`` for ``Harness``), and
    expose ``TestCase``::

        class OrderMachine(MediatorMachine):
            workflows = [order_flow]
            harness_options = {"runners": 2, "capacity": 2}

            def cases(self, workflow):
                return st.builds(dict, order=st.integers(1, 99))


        TestOrders = OrderMachine.TestCase

    Rules: schedule a case or a batch of cases, deliver messages (each pick chooses which
    enabled action runs, so failing interleavings shrink to readable steps), advance the
    virtual clock, cancel a case, crash a runner (or expire its lease) at its next step
    (at one of ``crash_points``), and reply to a waiting request or event
    (``reply_payload``, sometimes as a fault). The invariants are DESIGN's six, and that a
    batch is admitted whole or not at all, checked after every rule (the
    harness also checks them after every delivery). At teardown the run settles:
    waiting requests get replies, time runs out, and every case must have ended;
    ``check_result`` then sees each final job.

    The harness is made in ``__init__``, once per example. To start your own actors
    for the tasks to ask, override ``__init__``: call ``super().__init__()``, then
    ``self.harness.actor(YourActor, ...)``.
    """

    workflows: ClassVar[Sequence[Workflow]] = ()
    """The workflows the simulated Mediator runs (required)."""
    harness_options: ClassVar[Mapping[str, Any]] = {}
    """Keyword arguments for ``Harness`` (runners, capacity, full_mode, faults...)."""
    crash_points: ClassVar[Sequence[CrashPoint]] = (
        "before_step",
        "before_save",
        "stalled",
        "in_send",
        "in_group",
    )
    """Where the ``crash_runner`` rule crashes a runner (see ``Crash``): a step whose save
    is lost runs again, so an effect not keyed on ``ctx.idempotency_key`` shows twice; a
    worker frozen in a request's ``send`` sends it late, after the case moved on.
    ``"in_group"`` is drawn only on a store that commits in groups. Set
    ``("before_step",)`` to check that nothing runs twice where no save is lost."""

    def __init__(self) -> None:
        super().__init__()
        if not self.workflows:
            msg = f"{type(self).__name__}.workflows is empty; list the workflows to run"
            raise TypeError(msg)
        options = {"seed": 0, **self.harness_options}
        self.harness = Harness(self.workflows, **options)
        self._names = sorted({wf.name for wf in self.workflows})
        self._batches: list[list[Submission]] = []

    # -- hooks for subclasses ---------------------------------------------------------------

    def cases(self, workflow: str) -> st.SearchStrategy[Any]:
        """Input data for new cases of ``workflow``: a strategy (``{}`` by default).

        The data drawn appears in the failing program as a value, so the program
        Hypothesis prints on failure runs as printed.
        """
        if type(self).case_data is not MediatorMachine.case_data:  # the older hook

            @st.composite
            def drawn(draw: Any) -> Any:
                return self.case_data(workflow, cast("st.DataObject", _Draws(draw)))

            return drawn()
        return st.just({})

    def case_data(self, workflow: str, data: st.DataObject) -> Any:
        """Input data for a new case of ``workflow``, drawn from ``data``.

        Prefer ``cases()``: values drawn here show in a failing program as
        ``Draw n:`` lines rather than as arguments, so it does not run as printed.
        """
        return {}

    def _case(self) -> st.SearchStrategy[tuple[str, Any]]:
        return st.sampled_from(self._names).flatmap(
            lambda name: st.tuples(st.just(name), self.cases(name))
        )

    def reply_payload(self, correlation_id: str) -> Any:
        """What a reply to ``correlation_id`` carries: ``{"reply": correlation_id}``.

        Override it to send what your ``on_reply`` or ``on_event`` reads. The ``reply``
        rule sends it, sometimes as a fault; teardown sends it to every id still awaited.
        """
        return {"reply": correlation_id}

    def check_result(self, job: Job) -> None:
        """Assert something about each case's final snapshot (nothing by default)."""

    # -- rules --------------------------------------------------------------------------------

    @rule(case=st.runner().flatmap(lambda machine: machine._case()))
    def schedule(self, case: tuple[str, Any]) -> None:
        """A producer schedules a case (it blocks, is refused or sheds per the full mode)."""
        name, data = case
        self.harness.schedule(name, data)

    @rule(
        batch=st.runner().flatmap(lambda machine: st.lists(machine._case(), min_size=2, max_size=4))
    )
    def schedule_batch(self, batch: list[tuple[str, Any]]) -> None:
        """A producer schedules a batch with ``schedule_many`` (all admitted, or none)."""
        name = batch[0][0]
        size = min(len(batch), self.harness.probe.gate.capacity)
        items = [data for _, data in batch[:size]]
        self._batches.append(self.harness.schedule_many(name, items))

    @rule(picks=st.lists(st.integers(0, 15), min_size=1, max_size=12))
    def deliver(self, picks: list[int]) -> None:
        """Take up to ``len(picks)`` actions, each choosing among the enabled ones."""
        for pick in picks:
            if not self.harness.step(pick=pick):
                break

    @rule(seconds=st.sampled_from([0.5, 1.0, 5.0, 60.0]))
    def advance_clock(self, seconds: float) -> None:
        """Move the virtual clock forward (due timers ring)."""
        self.harness.advance(seconds)

    @rule(which=st.integers(0, 15))
    def cancel(self, which: int) -> None:
        """Cancel one of the admitted cases."""
        admitted = [s.job_id for s in self.harness.submissions if s.job_id is not None]
        if admitted:
            self.harness.cancel(admitted[which % len(admitted)])

    @rule(
        runner=st.integers(0, 7),
        lease=st.booleans(),
        point=st.runner().flatmap(lambda machine: st.sampled_from(machine._points())),
        after=st.integers(0, 3),
    )
    def crash_runner(self, runner: int, lease: bool, point: CrashPoint, after: int) -> None:
        """Crash a runner (or expire its lease) ``after`` steps on, at ``point``.

        Not only at its next step, the first of a delivery: a step that always runs right
        after another is reached too.
        """
        runner %= self.harness.runners
        self.harness.crash_runner(runner, lease=lease, point=point, after=after)

    def _points(self) -> Sequence[CrashPoint]:
        # "in_group" only where a writer stores groups: elsewhere the harness refuses it.
        if self.harness.writer is None:
            return [p for p in self.crash_points if p != "in_group"] or ["before_step"]
        return self.crash_points

    @rule(which=st.integers(0, 15), fault=st.booleans())
    def reply(self, which: int, fault: bool) -> None:
        """Answer one of the requests jobs wait on (maybe with a fault reply)."""
        waiting = self._waiting()
        if waiting:
            cid = waiting[which % len(waiting)]
            self.harness.receive_event(cid, self.reply_payload(cid), fault=fault)

    # -- the six invariants ----------------------------------------------------------------------

    @invariant()
    def invariants_hold(self) -> None:
        """The design's six invariants, and every batch admitted whole or not at all.

        One invariant, not seven: Hypothesis prints each invariant's call after every
        rule of a failing program, and seven lines a rule buried the rules.

        1. nothing vanishes: every unfinished job is with an actor, a queue or a message;
        2. a job is run by at most one runner at a time;
        3. a join fires exactly once per split, after all its branches;
        4. when nothing can run, no unfinished work is stuck;
        5. after a crash each branch resumes from its last saved step;
        6. admitted, unstarted cases stay within capacity.
        """
        for number in range(1, 7):
            self.harness.check_invariant(number)
        for batch in self._batches:
            admitted = {sub.handle is not None for sub in batch}
            assert len(admitted) == 1, f"a batch was admitted in part: {batch}"

    def teardown(self) -> None:
        """Settle the run, require every case to end, check each result, stop the actors."""
        try:
            harness = self.harness
            for _ in range(_SETTLE_ROUNDS):
                harness.run_until_quiescent()
                waiting = self._waiting()
                if not waiting:
                    break
                for cid in waiting:
                    harness.receive_event(cid, self.reply_payload(cid))
            for job in harness.finish():
                try:
                    self.check_result(job)
                except Exception as exc:
                    exc.add_note(harness.check_failed(job))
                    raise
        finally:
            self.harness.close()

    def _waiting(self) -> list[str]:
        return sorted(cid for cids in self.harness.probe.correlations().values() for cid in cids)
