"""The outside world of a simulated engine: producers, external events and cancels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors import messages as m
from actors._admission import FullMode
from actors._cases import check_items
from actors._errors import ActorsError, EngineStoppedError, JobExistsError, MailboxFull
from actors._pykka_seam import Envelope
from actors.testing._arguments import need_callable, need_seconds, need_str
from actors.testing._errors import while_open
from actors.testing._event_faults import EventFaults
from actors.testing._future import DeterministicFuture, LaterAnswer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from actors._handle import JobHandle
    from actors._job import Job
    from actors._mediator import Mediator
    from actors._outcomes import CancelOutcome, EventOutcome
    from actors.testing._crashpoints import CrashPoints
    from actors.testing._fault_injector import FaultInjector
    from actors.testing._monitor import Monitor
    from actors.testing._probe import Probe
    from actors.testing._runtime import DeterministicRuntime

__all__ = ["External", "Submission"]


class Submission:
    """One ``Harness.schedule()`` call: admitted, refused, or a producer blocked on a full gate."""

    def __init__(
        self,
        runtime: DeterministicRuntime,
        index: int,
        workflow: str,
        data: Any,
        job_id: str | None = None,
        version: int | None = None,
    ) -> None:
        self._runtime = runtime
        self.index = index
        self.workflow = workflow
        self.data = data
        self.asked_id = job_id
        """The ``job_id`` the producer asked for (``None``: the engine names the case)."""
        self.version = version
        """The workflow version asked for (``None``: the newest)."""
        self.handle: JobHandle | None = None
        """The case's handle once admitted."""
        self.refused: ActorsError | None = None
        """Why admission refused it: ``MailboxFull`` under ``DROP_NEWEST``, shut down, or
        ``JobExistsError`` when a blocked producer wakes to find its ``job_id`` taken."""

    @property
    def name(self) -> str:
        """The producer's name in traces."""
        return f"producer-{self.index}"

    @property
    def job_id(self) -> str | None:
        """The case id once admitted.

        ``None`` while the producer waits for a slot, or after a refusal: give
        ``schedule(..., job_id=...)`` to know it beforehand.
        """
        return self.handle.job_id if self.handle is not None else None

    @property
    def blocked(self) -> bool:
        """Whether the producer still waits for an admission slot (``BACKPRESSURE``)."""
        return self.handle is None and self.refused is None

    @property
    def done(self) -> bool:
        """Whether the case has ended (its handle resolved)."""
        if self.handle is None:
            return False
        future = self.handle._future
        return isinstance(future, DeterministicFuture) and future.resolved

    def result(self, timeout: float | None = None) -> Job:
        """The case's final snapshot, driving the simulation until it ends.

        Raises what refused it, ``Deadlock`` if the run goes quiescent first, and
        ``TimeoutError`` after ``timeout`` virtual seconds.
        """
        need_seconds(timeout, "Submission.result(timeout=...)", optional=True)
        if self.handle is None:
            self._runtime.drive_until(
                lambda: not self.blocked, None, what=f"{self.name}'s admission"
            )
        if self.refused is not None:
            raise self.refused
        assert self.handle is not None
        return self.handle.result(timeout)

    def __repr__(self) -> str:
        state = "blocked" if self.blocked else ("refused" if self.refused else self.job_id)
        return f"<Submission {self.name} {self.workflow!r} {state}>"


class External(EventFaults):
    """Producers, events and cancels of a ``Harness`` (a mixin: the harness supplies the engine)."""

    runtime: DeterministicRuntime
    faults: FaultInjector
    points: CrashPoints
    monitor: Monitor
    mediator: Mediator
    _closed: bool

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self.submissions: list[Submission] = []
        """Every ``schedule()`` call, in order."""
        EventFaults.__init__(self)

    def _record(self, actor: str, action: str, job: str | None = None, detail: str = "") -> None:
        raise NotImplementedError

    # -- producers --------------------------------------------------------------------------------

    @while_open
    def schedule(
        self,
        workflow: str,
        data: Any = None,
        *,
        version: int | None = None,
        job_id: str | None = None,
    ) -> Submission:
        """Admit a case the way a producer thread would, without blocking the test.

        Admission never waits: refused under ``BACKPRESSURE``, the producer becomes a
        *blocked producer* that the harness wakes (as one of its choices) once a slot
        frees; under ``DROP_NEWEST`` the submission records ``MailboxFull``; under
        ``DROP_OLDEST`` the oldest queued case is shed to make room.

        ``version`` picks a registered version of the workflow (the newest by default).
        ``job_id`` names the case, as for ``Mediator.schedule``: an id that is not a
        non-empty string without ``/`` raises ``ValueError``, and one the store already
        holds raises ``JobExistsError``, both before anything is admitted. A blocked
        producer whose id another case took while it waited records ``JobExistsError``
        as its refusal instead (``result()`` raises it).
        """
        sub = Submission(self.runtime, len(self.submissions), workflow, data, job_id, version)
        self._admit([sub])  # raises, with nothing recorded, for a case it cannot admit
        self.submissions.append(sub)
        return sub

    @while_open
    def schedule_many(
        self,
        workflow: str,
        items: Iterable[Any],
        *,
        version: int | None = None,
        job_ids: Sequence[str] | None = None,
    ) -> list[Submission]:
        """Admit a batch the way ``Mediator.schedule_many`` does, without blocking the test.

        One ``Submission`` per item, all admitted together or none. Under
        ``BACKPRESSURE`` a batch that does not fit makes its producer (named after the
        first submission) a blocked producer, woken once the gate has room for all of it;
        under ``DROP_NEWEST`` every submission records ``MailboxFull``; under
        ``DROP_OLDEST`` the oldest queued cases are shed to make room, if that is enough.
        A batch larger than the capacity raises ``ValueError`` at once. ``version`` and
        ``job_ids`` (one new id per item) are as for ``Mediator.schedule_many``.
        """
        check_items(items)
        first = len(self.submissions)
        datas = list(items)
        ids: list[str | None] = list(job_ids) if job_ids is not None else [None] * len(datas)
        if len(ids) != len(datas):
            msg = f"schedule_many(): {len(ids)} job_ids for {len(datas)} items; give one per item"
            raise ValueError(msg)
        subs = [
            Submission(self.runtime, first + k, workflow, data, ids[k], version)
            for k, data in enumerate(datas)
        ]
        if len(subs) > self._probe.gate.capacity:
            msg = (
                f"a batch of {len(subs)} cases cannot fit the admission mailbox "
                f"(capacity {self._probe.gate.capacity})"
            )
            raise ValueError(msg)
        if subs:
            self._admit(subs, batch=True)
            self.submissions.extend(subs)
        return subs

    def _admit(self, subs: list[Submission], *, batch: bool = False, resumed: bool = False) -> None:
        """Admit ``subs`` (one ``schedule()``, or a ``schedule_many()`` batch) or block them.

        A bad call raises to the test; a blocked producer that wakes (``resumed``) to find
        its case id taken meanwhile records the refusal instead.
        """
        gate, admissions = self._probe.gate, self._probe.admissions
        name, workflow, n = subs[0].name, subs[0].workflow, len(subs)
        try:
            if batch:
                asked = [s.asked_id for s in subs]
                handles = admissions.admit_many(
                    workflow,
                    [s.data for s in subs],
                    version=subs[0].version,
                    block=False,
                    job_ids=None if asked[0] is None else [i for i in asked if i is not None],
                )
            else:
                sub = subs[0]
                handles = [
                    admissions.admit(
                        workflow, sub.data, version=sub.version, block=False, job_id=sub.asked_id
                    )
                ]
        except JobExistsError as exc:
            if not resumed:
                raise
            self._refuse(subs, exc, batch)
            return
        except MailboxFull as exc:
            if gate.mode is FullMode.BACKPRESSURE and not gate.closed:
                call = f"schedule_many({workflow!r})" if batch else f"schedule({workflow!r})"
                what = f"{n} admission slots" if batch else "an admission slot"
                self.runtime.block(
                    None,
                    why=f"{call} waits for {what}",
                    ready=lambda: gate.closed or gate.used + n <= gate.capacity,
                    resume=lambda: self._admit(subs, batch=batch, resumed=True),
                    name=name,
                )
                self._record(name, "blocked", None, f"gate {gate.used}/{gate.capacity}")
            else:
                self._refuse(subs, exc, batch)
            return
        except EngineStoppedError as exc:
            self._refuse(subs, exc, batch)
            return
        for sub, handle in zip(subs, handles, strict=True):
            sub.handle = handle
            future = handle._future
            if isinstance(future, DeterministicFuture):  # named in a Deadlock's headline
                future.about = f"the result of case {handle.job_id} (workflow {workflow!r})"
            self.monitor.admitted(handle.job_id)
            self._record(name, "admit", handle.job_id, workflow)

    def _refuse(self, subs: list[Submission], exc: ActorsError, batch: bool) -> None:
        for sub in subs:
            sub.refused = exc
        detail = f"{type(exc).__name__} ({len(subs)} cases)" if batch else type(exc).__name__
        self._record(subs[0].name, "refused", None, detail)

    # -- events and cancels ------------------------------------------------------------------

    @while_open
    def receive_event(
        self, correlation_id: str, event: Any = None, *, fault: bool = False
    ) -> DeterministicFuture[EventOutcome] | None:
        """Send an external event to the Scheduler, subject to the fault plan's event faults.

        Returns the future of its ``EventOutcome`` (``None`` when a fault dropped it). The
        event is one more message in the Scheduler's inbox, so it interleaves with the
        engine's own deliveries, and may lose a race with a timeout. The faults count it
        with the events sent by any other path (``Mediator.receive_event``, an ``Admin``
        given the harness's Mediator): see ``EventFault``.
        """
        need_str(correlation_id, "Harness.receive_event(correlation_id)")
        job = correlation_id.split("/", 1)[0]
        future: DeterministicFuture[EventOutcome] = DeterministicFuture(self.runtime)
        future.about = f"the outcome of event {correlation_id!r} (job {job})"
        envelope = Envelope(m.DeliverEvent(correlation_id, event, fault), reply_to=future)
        if not self._perturb(self.mediator.scheduler, envelope, correlation_id, traced=True):
            return None
        return future

    @while_open
    def cancel(self, job_id: str) -> DeterministicFuture[CancelOutcome]:
        """Ask the Scheduler to cancel ``job_id``; returns the future of its ``CancelOutcome``."""
        if job_id is None:  # cancel(sub.job_id) of a submission not admitted yet
            msg = (
                "Harness.cancel(job_id) got None: a submission's job_id is None until its "
                "case is admitted (its producer still waits for a slot, or was refused); "
                "name the case with h.schedule(..., job_id='...') and cancel that id"
            )
            raise TypeError(msg)
        need_str(job_id, "Harness.cancel(job_id)")
        future: DeterministicFuture[CancelOutcome] = LaterAnswer(self.runtime)
        future.about = f"the outcome of cancel({job_id!r})"
        self.runtime.send(self.mediator.scheduler, m.CancelJob(job_id), future)
        self._record("harness", "cancel", job_id)
        return future

    @while_open
    def on_takeover(self, forget: Callable[[], Any]) -> None:
        """Call ``forget()`` whenever a case is taken over by another worker.

        A crash with ``lease=True`` and a ``"stalled"`` one hand the case to a worker
        that did not run it so far: in a deployment, another process, without what the
        first kept in its memory. Under the harness every worker shares the test's
        process, so what your tasks keep in memory (a cache, a set of orders already
        handled) survives a takeover unless ``forget`` clears it: pass the function that
        does (``h.on_takeover(handled.clear)``). Called as the lease lapses, before the
        case resumes elsewhere, and again as a stalled worker wakes, before its late run:
        one memory stands for both workers', and neither saw what the other did.
        """
        need_callable(forget, "Harness.on_takeover(forget)")
        self.points.takeovers.append(forget)
