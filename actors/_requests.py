"""A worker's side of operators' actions: carry out the requests left for cases it holds.

``actors.admin`` makes an action on a case no live worker holds in the store itself; for
a case a live worker holds it leaves a request in the store instead, and the worker
takes it when woken for it (``Store.announce_requests``) or at its next poll, and
carries it out as its own ``cancel`` or ``receive_event`` would, on the Scheduler's
thread, so the action never races the engine.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from actors import messages as m
from actors._cancel_desk import Owed
from actors._engine import job_log
from actors._outcomes import CancelOutcome, EventOutcome
from actors.stores._admin_types import EXPIRED, HistoryRow, UnreadPayload

if TYPE_CHECKING:
    from actors.stores import Store
    from actors.stores._admin_types import Request

__all__ = ["NOT_HELD", "act_for_mediator", "refuse_other_case", "serve_requests"]

logger = logging.getLogger("actors")

NOT_HELD = EventOutcome.ELSEWHERE.value
"""A request's outcome when its worker no longer held the case: nothing was done."""


def serve_requests(scheduler: Any, store: Store, owner: str, now: float) -> int:
    """Carry out every request waiting for a case ``owner`` holds; return how many.

    ``scheduler`` is the calling Scheduler (its ``_on_cancel``, ``_on_event`` and ``_crew``).
    """
    requests = store.take_requests(owner, now)
    for request in requests:
        if request.outcome == EXPIRED:  # marked so by the store: never carried out
            _expired(store, request)
            continue
        # A job the action makes ready (a delivered event) reaches a runner only once the
        # action is in its history: else the step it let run could be stored before it.
        with scheduler._crew.held():
            try:
                refuse_other_case(store, request)
                outcome = _carry_out(scheduler, request)
            except RefusedRequestError as exc:  # bad input, not a fault of the engine's
                outcome = f"error: {exc}"
                logger.warning(
                    "%s (case %s, by %s); nothing was done",
                    exc,
                    request.case_id,
                    request.operator,
                    extra=job_log(None),
                )
            except Exception as exc:
                outcome = f"error: {type(exc).__name__}: {exc}"
                logger.exception(
                    "request %d could not be carried out", request.id, extra=job_log(None)
                )
            if isinstance(outcome, Owed):  # recorded and finished with its runner's report
                outcome.then(functools.partial(_served, store, request))
                continue
            outcome = _recorded(store, request, outcome)
        store.finish_request(request.id, outcome, time.time())
    return len(requests)


def _expired(store: Store, request: Request) -> None:
    """Say, in the log and the job's history, that ``request`` came too late to carry out.

    Its sender (``actors jobs cancel``, ``events send``, an ``Admin``) stopped waiting
    before this worker came to it: killed, or its timeout passed while this worker was
    frozen or down. The operator saw that command end; acting now would surprise them.
    """
    logger.warning(
        "operator %s: %s of job %s (request %d) not carried out: its sender stopped "
        "waiting for it before this worker took it; nothing was done",
        request.operator,
        request.kind,
        request.job_id,
        request.id,
        extra=job_log(None),
    )
    _record(store, request, EXPIRED, "worker")


def _served(store: Store, request: Request, outcome: CancelOutcome | Exception) -> None:
    """Log and record ``request``'s outcome, known late, and mark it finished in the store."""
    store.finish_request(request.id, _recorded(store, request, outcome), time.time())


def _recorded(store: Store, request: Request, outcome: str | CancelOutcome | Exception) -> str:
    """Log and record a worker's outcome of ``request``; the outcome as its row says it."""
    outcome = _said(outcome)
    logger.info(
        "operator %s: %s of job %s: %s",
        request.operator,
        request.kind,
        request.job_id,
        outcome,
        extra=job_log(None),
    )
    _record(store, request, outcome, "worker")
    return outcome


def _said(outcome: str | CancelOutcome | Exception) -> str:
    """A request's outcome as its row and history say it."""
    if isinstance(outcome, CancelOutcome):
        return str(outcome.value)
    if isinstance(outcome, Exception):
        return f"error: {type(outcome).__name__}: {outcome}"
    return outcome


def act_for_mediator(scheduler: Any, store: Store, request: Request) -> Any:
    """Carry out ``request`` for an ``Admin`` given this Mediator, and record it; the outcome.

    As ``serve_requests`` does, the job it makes ready reaches a runner only once the
    action is in its history. An error is raised to the ``Admin`` (nothing recorded). A
    cancel answered with the job's runner's report gives a future of the outcome.
    """
    with scheduler._crew.held():
        refuse_other_case(store, request)
        outcome = _carry_out(scheduler, request)
        if isinstance(outcome, Owed):
            future = scheduler._e.runtime.create_future()
            outcome.then(functools.partial(_answered, store, request, future))
            return future
        _record(store, request, outcome, "mediator")
    return outcome


def _answered(
    store: Store, request: Request, future: Any, outcome: CancelOutcome | Exception
) -> None:
    """Record an ``Admin``'s cancel answered late, and answer the ``Admin`` that waits."""
    if isinstance(outcome, Exception):
        future.set_exception((type(outcome), outcome, None))
        return
    said = _said(outcome)
    try:
        _record(store, request, said, "mediator")
    finally:
        future.set(said)


def _carry_out(scheduler: Any, request: Request) -> str | Owed:
    if request.kind == "cancel":
        cancelled = scheduler.cancel_job(request.job_id)
        # None: the case is not this worker's any more (taken over since the request was
        # posted); the Admin that waits for the outcome hands the action on.
        if cancelled is None:
            return NOT_HELD
        return cancelled if isinstance(cancelled, Owed) else str(cancelled.value)
    if request.kind == "event":
        cid, data, fault = _event_args(request)
        return str(scheduler._on_event(m.DeliverEvent(str(cid), data, bool(fault))).value)
    return f"unknown request kind {request.kind!r}"


class RefusedRequestError(Exception):
    """A request whose payload is not what an ``Admin`` posts (a row another program wrote)."""


def refuse_other_case(store: Store, request: Request) -> None:
    """``RefusedRequestError`` unless ``request`` acts on a job of the case it names.

    Its job must be of its case, and an event's correlation id must name its job: an
    ``Admin`` posts nothing else. Another program's row naming case A and a job (or a
    reply's correlation id) of case B would otherwise act on B for A's holder, which may
    not hold B. A job the store does not hold is left to the action (which says so).
    """
    job = store.load(request.job_id)
    if job is not None and job.case_id != request.case_id:
        raise RefusedRequestError(
            f"request {request.id} names case {request.case_id}, but its job "
            f"{request.job_id} is of case {job.case_id}"
        )
    if request.kind != "event":
        return
    cid = _event_args(request)[0]
    named = cid.partition("/")[0]
    if named == request.job_id:
        return
    other = store.load(named)
    of = "" if other is None else f" of case {other.case_id}"
    raise RefusedRequestError(
        f"request {request.id} names case {request.case_id} (job {request.job_id}), but "
        f"its correlation id {cid!r} is of job {named}{of}"
    )


def _event_args(request: Request) -> tuple[str, Any, bool]:
    """An event request's ``[correlation id, data, fault]``; ``RefusedRequestError`` if not.

    Unpacked as it came, a fault written as the text ``"false"`` was true and an object's
    three keys were taken for the values: an action nobody asked for.
    """
    payload = request.payload
    if isinstance(payload, UnreadPayload):
        why = f"it is not JSON: {_clip(repr(payload.text))}"
    elif not isinstance(payload, list) or len(payload) != 3:
        why = f"it holds {_clip(json.dumps(payload))}, not a list of 3"
    elif not isinstance(payload[0], str):
        why = f"correlation id {_clip(json.dumps(payload[0]))} is not text"
    elif not isinstance(payload[2], bool):
        why = f"fault {_clip(json.dumps(payload[2]))} is not true or false"
    else:
        return payload[0], payload[1], payload[2]
    raise RefusedRequestError(
        f"request {request.id}'s payload is not [correlation id, data, fault] as an "
        f"event's is: {why}"
    )


def _clip(text: str, most: int = 80) -> str:
    return text if len(text) <= most else f"{text[: most - 3]}..."


def _record(store: Store, request: Request, outcome: str, by: str) -> None:
    """The action, in the job's history: what, when, by whom, and what came of it."""
    job = store.load(request.job_id)
    if job is None:
        return
    what = request.kind
    if request.kind == "event" and isinstance(request.payload, list) and len(request.payload) == 3:
        what = ("fault " if request.payload[2] else "event ") + str(request.payload[0])
    row = HistoryRow(
        job.id,
        0,
        job.step,
        job.attempt,
        job.state.value,
        time.time(),
        request.operator,
        job.error,
        f"{what} ({outcome}, by {by})",
    )
    store.append_history([row])
