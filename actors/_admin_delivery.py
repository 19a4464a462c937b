"""How an operator's action reaches its case: the Mediator, the store, or a live worker.

``Admin`` decides what an action is; ``ActionDelivery`` carries it to the case. An action
on a case the ``Mediator`` given to the ``Admin`` runs goes straight to that Mediator; on
a case no live worker holds it is made in the store in one transaction; on a case a live
worker holds it is left in the store as a request that worker carries out as soon as it
is woken, or on its next poll (``actors._requests``), and the delivery waits for what
the worker did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from actors._admin_model import ActionResult, CaseBusyError
from actors._errors import StoreError
from actors._job import FINAL_STATES
from actors._outcomes import EventOutcome
from actors._requests import NOT_HELD
from actors.stores._admin_types import EXPIRED, OPERATOR_STAMP, Held, RowsLockedError
from actors.stores._server_clock import TOLERANCE

if TYPE_CHECKING:
    from actors._mediator import Mediator
    from actors.stores import Store

__all__ = ["CONFIRM_GRACE", "ActionDelivery", "detail"]

MIN_LOCK_WAIT = 0.05
"""Seconds a change made after the timeout (the case handed back by its worker) may still
wait for the case's rows: a worker's own brief write of them is then waited out."""

FIRST_LOOK, LAST_LOOK = 0.002, 0.02
"""Seconds between two looks at a request's outcome: the first, doubled up to the last."""

CONFIRM_GRACE = 0.2
"""Seconds past the timeout that a worker which took a request has to confirm it: one
that took it at the last moment is not reported as silent for want of a round trip."""


class ActionDelivery:
    """Carries an ``Admin``'s actions to their cases, recording who acted.

    Args:
        store: the store the cases are in.
        operator: who acts, recorded with every action.
        mediator: the ``Mediator`` running this store in this process, if any.
        timeout: seconds to wait for a live worker to carry out a request.
    """

    def __init__(
        self, store: Store, operator: str, mediator: Mediator | None, timeout: float
    ) -> None:
        self.store = store
        self.operator = operator
        self.mediator = mediator
        self.timeout = timeout
        self._stop = threading.Event()
        # Runs a store write whole, an interrupt within it raised at its end: the command
        # line's (``_cli_interrupt.OneRequest.whole``), so that an action it stops is
        # never stored without its being said, nor a request posted without its id.
        self.whole: Callable[[], AbstractContextManager[object]] = nullcontext

    def close(self) -> None:
        """Stop waiting for workers: a wait in progress ends with ``CaseBusyError``."""
        self._stop.set()

    def _stamp(self) -> str:
        return f"{OPERATOR_STAMP}{self.operator}"

    def change(self, case_id: str, change: Any, deadline: float | None = None) -> Any:
        """Make ``change`` to the case in the store (``Held`` if a live worker holds it).

        With ``deadline`` (``time.monotonic``), a wait for the case's rows (SQLite: the
        database's write lock), held by a worker frozen in the middle of a write, ends
        then: ``CaseBusyError``.
        """
        wait = None if deadline is None else max(MIN_LOCK_WAIT, deadline - time.monotonic())
        try:
            return self.store.change_case(
                case_id, change, now=time.time(), stamp=self._stamp(), lock_wait=wait
            )
        except RowsLockedError:
            owner = self.store.lease_owners([case_id]).get(case_id)
            # A case no worker holds (one to retry) waits on another case's write: SQLite
            # locks the whole database.
            who = "a worker" if owner is None else f"worker {owner!r}, which holds the case,"
            msg = (
                f"case {case_id} stayed locked for {self.timeout:g}s by another transaction "
                f"({who} in the middle of a write, or frozen in one); nothing was changed "
                "(try again)"
            )
            raise CaseBusyError(msg, owner or "?") from None

    def change_whole(
        self, action: str, case_id: str, change: Any, deadline: float | None = None
    ) -> Any:
        """``change`` the case as ``change`` does, run ``whole``: an interrupt waits for it.

        The ``KeyboardInterrupt`` then says the ``action`` was made, if it was.
        """
        outcome = None
        try:
            with self.whole():
                outcome = self.change(case_id, change, deadline)
        except KeyboardInterrupt:
            if outcome is None or isinstance(outcome, Held):
                raise  # nothing was changed
            msg = f"the {action} of case {case_id} was made in the store first: {outcome}"
            raise KeyboardInterrupt(msg) from None
        return outcome

    def has_live(self, case_id: str, job_id: str) -> bool:
        """Whether ``job_id`` or any job below it has not ended yet."""
        jobs = self.store.case_jobs(case_id)
        ids = {job_id}
        for job in jobs:  # creation order: parents before their branches
            if job.record.parent_id in ids:
                ids.add(job.record.id)
        return any(j.record.id in ids and j.record.state not in FINAL_STATES for j in jobs)

    def _mine(self, case_id: str) -> bool:
        """Whether the Mediator given to this Admin runs the case."""
        mediator = self.mediator
        if mediator is None:
            return False
        if not self.store.shared:
            return True  # a private store: its Mediator runs every unfinished case
        owner = self.store.lease_owners([case_id]).get(case_id)
        return owner == mediator._engine.owner and self._lease_live(case_id)

    def _lease_live(self, case_id: str) -> bool:
        for job in self.store.case_jobs(case_id):
            if job.record.id == case_id:
                expires = job.lease_expires
                return expires is not None and expires >= self.store.lease_time(time.time())
        return False

    def act(
        self,
        action: str,
        case_id: str,
        job_id: str,
        payload: Any,
        change: Any,
        direct: Any,
    ) -> ActionResult:
        """Carry out an action on a case, wherever the case is run.

        ``change`` is the ``CaseChange`` to make in the store; ``direct`` makes the action
        through the Mediator given to the ``Admin``, when that Mediator runs the case.
        ``payload`` is what a worker needs to carry the action out (``None``, or an
        event's ``[correlation id, data, fault]``).
        """
        if self._mine(case_id):
            assert self.mediator is not None
            outcome = direct(self.mediator)  # carried out and recorded by its Scheduler
            return self.result(action, job_id, case_id, outcome, "mediator", detail(payload))
        deadline = time.monotonic() + self.timeout
        while True:
            outcome = self.change_whole(action, case_id, change, deadline)
            if not isinstance(outcome, Held):
                if outcome == EventOutcome.DELIVERED.value:  # the case is free: claim it now
                    self.store.announce()
                return self.result(action, job_id, case_id, outcome, "store", detail(payload))
            result = self._request(action, case_id, job_id, payload, outcome, deadline)
            if result is not None:
                return result
            # The holder's lease ran out before it took the request, or the case left it:
            # make the change here, or hand it to the case's new holder.

    def _request(
        self,
        action: str,
        case_id: str,
        job_id: str,
        payload: Any,
        held: Held,
        deadline: float,
    ) -> ActionResult | None:
        """Hand the action to the worker holding the case and wait for what it did.

        ``None`` when the request was withdrawn because the lease ran out first, or the
        worker found the case was no longer its own.
        """
        store = self.store
        if not store.shared:
            msg = f"case {case_id} is held in another process's memory store; it cannot be reached"
            raise CaseBusyError(msg, held.owner)
        request_id = None
        # No worker takes the request once this wait has ended: a command killed while it
        # waits (SIGKILL, its terminal closed) cannot withdraw it, and its operator has
        # seen it end. By the store's clock, as leases; TOLERANCE later, as machines'
        # clocks within it go unaligned (_server_clock): a worker's a little ahead would
        # find void a request its sender still waits for.
        void_after = store.lease_time(time.time()) + max(deadline - time.monotonic(), 0.0)
        try:
            with self.whole():
                request_id = store.post_request(
                    case_id,
                    job_id,
                    action,
                    payload,
                    self.operator,
                    time.time(),
                    void_after + TOLERANCE,
                )
            # Its worker takes it at once, not at its next poll: in this process directly,
            # on PostgreSQL by NOTIFY (on SQLite another process's worker polls for it).
            store.announce_requests(held.owner)
            return self._await(action, case_id, job_id, payload, held, deadline, request_id)
        except KeyboardInterrupt:
            if request_id is None:
                raise  # nothing was posted
            # Left posted, the request would be carried out after the operator gave up on it.
            raise KeyboardInterrupt(self._interrupted(action, case_id, held, request_id)) from None

    def _interrupted(self, action: str, case_id: str, held: Held, request_id: int) -> str:
        """Withdraw an interrupted wait's request; say whether it was carried out after all."""
        try:
            withdrawn = self.store.withdraw_request(request_id, time.time())
            if not withdrawn:  # taken by the worker, or withdrawn already (its lease ran out)
                request = self.store.get_request(request_id)
                withdrawn = request is not None and request.outcome in ("withdrawn", EXPIRED)
        except StoreError as exc:
            return (
                f"the {action} of case {case_id} stays handed to worker {held.owner!r} "
                f"(request {request_id}; it could not be withdrawn: {exc}): it may still be "
                "carried out; see the job's history"
            )
        if withdrawn:
            return f"the {action} of case {case_id} was withdrawn; nothing was changed"
        return (
            f"worker {held.owner!r} had taken the {action} of case {case_id} already: it is "
            "under way; see the job's history"
        )

    def _await(
        self,
        action: str,
        case_id: str,
        job_id: str,
        payload: Any,
        held: Held,
        deadline: float,
        request_id: int,
    ) -> ActionResult | None:
        """Wait for what the worker did with request ``request_id`` (see ``_request``)."""
        store = self.store
        pause = FIRST_LOOK  # a woken worker answers within milliseconds: look soon, then less
        while True:
            try:
                request = store.get_request(request_id)
                assert request is not None
                if request.outcome == EXPIRED:  # this wait outlived its deadline (frozen)
                    raise CaseBusyError(self._untaken(action, case_id, held), held.owner)
                if request.done_at is not None and request.outcome is not None:
                    worker = request.taken_by or held.owner
                    if request.outcome == NOT_HELD and time.monotonic() < deadline + self.timeout:
                        # The case left that worker between the post and its poll (its
                        # lease lapsed and another took it): nothing was done, so the
                        # action goes to wherever the case is now.
                        return None
                    return self.result(
                        action,
                        job_id,
                        case_id,
                        request.outcome,
                        f"worker {worker}",
                        detail(payload),
                    )
                if request.taken_by is None:
                    expired = not self._lease_live(case_id)
                    if (expired or time.monotonic() >= deadline) and store.withdraw_request(
                        request_id, time.time()
                    ):
                        if expired:
                            return None
                        raise CaseBusyError(self._untaken(action, case_id, held), held.owner)
                elif time.monotonic() >= deadline + CONFIRM_GRACE:
                    # A worker frozen (or stopped in a debugger) right after it took the
                    # request confirms nothing: the wait ends with the timeout, as promised.
                    msg = (
                        f"the {action} of case {case_id} was requested and worker "
                        f"{request.taken_by!r} took it (request {request_id}), but has not "
                        f"confirmed it within {self.timeout:g}s: it may still be carried out; "
                        f"see `actors jobs show {job_id} --history`"
                    )
                    raise CaseBusyError(msg, request.taken_by)
            except StoreError as exc:  # the request is stored: its worker may carry it out
                if time.monotonic() < deadline + CONFIRM_GRACE and not self._stop.wait(0.2):
                    continue  # a database restarting, or a connection it dropped: look again
                msg = (
                    f"the {action} of case {case_id} was handed to worker {held.owner!r} "
                    f"(request {request_id}), and what it did could not be read ({exc}); "
                    f"it may still be carried out: see `actors jobs show {job_id} --history`"
                )
                raise StoreError(msg) from None
            if self._stop.wait(pause):
                said = self._interrupted(action, case_id, held, request_id)
                msg = f"the Admin was closed while waiting for a worker: {said}"
                raise CaseBusyError(msg, held.owner)
            pause = min(LAST_LOOK, 2 * pause)

    def _untaken(self, action: str, case_id: str, held: Held) -> str:
        """Why an action the case's worker did not take in time was not made."""
        return (
            f"worker {held.owner!r} holds case {case_id} and did not take the "
            f"{action} within {self.timeout:g}s; nothing was changed (its lease "
            "runs until it stops renewing it, then try again)"
        )

    def wake(self, case_id: str) -> None:
        """Have a case made runnable again taken now: by the Mediator given, or any worker."""
        if self.mediator is not None:
            self.mediator._take_case(case_id)
        else:
            self.store.announce()

    def result(
        self, action: str, job_id: str, case_id: str, outcome: Any, via: str, detail: str
    ) -> ActionResult:
        """What an action did, as ``Admin`` returns it."""
        return ActionResult(action, job_id, case_id, str(outcome), via, self.operator, detail)


def detail(payload: Any) -> str:
    """An action's detail: an event's correlation id (and whether it is a fault)."""
    if payload is None:
        return ""
    return f"{'fault ' if payload[2] else ''}{payload[0]}"
