"""What the dashboard's buttons do: retry a job, cancel a case, send an event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from actors._cli_input import MAX_EVENT_DEPTH, InputError, strict_json
from actors._errors import JobNotFoundError

if TYPE_CHECKING:
    from actors.admin import ActionResult, Admin

__all__ = [
    "MAX_ACTION_BYTES",
    "MAX_PAYLOAD_DEPTH",
    "ActionError",
    "Actions",
    "AdminActions",
    "body_refused",
    "carry_out",
    "parse_payload",
]

MAX_PAYLOAD_DEPTH = MAX_EVENT_DEPTH  # levels an event's payload nests below its top value
MAX_ACTION_BYTES = 1 << 20  # an action's form, payload included: read into memory whole


class ActionError(Exception):
    """An action the dashboard cannot carry out; the message says why, for the operator."""


class Actions(Protocol):
    """Carries out the dashboard's actions; each returns a sentence saying what it did."""

    def retry(self, job_id: str) -> str:
        """Run the FAULTED job ``job_id`` again from the step that faulted."""

    def cancel(self, case_id: str) -> str:
        """Cancel the case ``case_id`` and every branch below it."""

    def send_event(self, correlation_id: str, payload: Any, *, fault: bool) -> str:
        """Deliver an event (or a fault) to the job waiting on ``correlation_id``."""


class AdminActions:
    """The dashboard's actions carried out by the admin API (``actors.admin.Admin``).

    A case no live worker holds is changed in the store; one a live worker holds is
    handed to that worker, which is woken to carry it out. Each action is
    recorded in the job's history under ``admin.operator``.
    """

    def __init__(self, admin: Admin) -> None:
        self.admin = admin

    def retry(self, job_id: str) -> str:
        """Retry the FAULTED job from the step that faulted (a new attempt)."""
        return _done(self.admin.retry(job_id), ("retried", "reset"))

    def cancel(self, case_id: str) -> str:
        """Cancel the case and every branch below it."""
        return _done(self.admin.cancel(case_id), ("cancelled", "already_finished"))

    def send_event(self, correlation_id: str, payload: Any, *, fault: bool) -> str:
        """Deliver ``payload`` (as a fault when ``fault``) to the job awaiting it.

        Raises:
            ActionError: the event was not delivered (``duplicate``, ``late``,
                ``finished``, ``unknown``): nothing waited for it.
        """
        return _done(self.admin.send_event(correlation_id, payload, fault=fault), ("delivered",))


def _done(result: ActionResult, done: tuple[str, ...]) -> str:
    """What ``result`` says; ``ActionError`` saying it when its outcome is not in ``done``.

    The outcomes the commands exit 0 for (``actors events send`` exits 3 for an event
    nothing waited for): the page shows the others as refused, not as done.
    """
    if result.outcome not in done:
        raise ActionError(_said(result))
    return _said(result)


def _said(result: ActionResult) -> str:
    by = result.via if result.via.startswith("worker") else f"the {result.via}"
    text = f"{result.action} of {result.job_id}: {result.outcome} (by {result.operator}, via {by})"
    return f"{text}: {result.detail}" if result.detail else text


def parse_payload(raw: str) -> Any:
    """An event's payload from the form's JSON text (``null`` when blank).

    Read as ``actors events send --data`` reads it (``actors._cli_input.strict_json``):
    ``NaN``, ``Infinity`` and numbers too large for a float (``1e999``, stored as
    Infinity) are refused, as no JSON reader reads them back, and so are lone
    surrogates and integers of more digits than Python reads.

    Raises:
        ActionError: the text is not JSON a store keeps, or nests lists and objects
            more than ``MAX_PAYLOAD_DEPTH`` levels below its top value (the command's
            limit, ``MAX_EVENT_DEPTH``).
    """
    try:
        return strict_json(raw.strip() or "null", MAX_PAYLOAD_DEPTH)
    except InputError as exc:
        msg = f"the event's payload {exc}"
        raise ActionError(msg) from None


def body_refused(content_length: str | None) -> tuple[int, str] | None:
    """Why an action's request body is not read: ``(status, reason)``, or ``None``.

    The form is read into memory whole, so its size must be known and bounded first:
    a browser always sends ``Content-Length`` with a form.
    """
    if content_length is None or not content_length.isdigit():
        return 411, "Refused: the request does not say how long it is (Content-Length)."
    if int(content_length) > MAX_ACTION_BYTES:
        limit = MAX_ACTION_BYTES // 1024
        return 413, f"Refused: the request is larger than {limit} KiB; send a smaller payload."
    return None


def carry_out(actions: Actions, admin: Admin, action: str, fields: dict[str, str]) -> str:
    """Do the dashboard's ``action`` with its form's ``fields``; the message for the operator."""
    if action == "retry":
        return actions.retry(_field(fields, "job_id"))
    if action == "cancel":
        return actions.cancel(_field(fields, "case_id"))
    if action == "event":
        payload = parse_payload(fields.get("payload", ""))
        fault = fields.get("fault") in ("on", "true", "1")
        cid = _field(fields, "correlation_id")
        case_id = fields.get("case_id")  # the case page's form names its case
        if case_id is not None:
            _refuse_other_case(admin, cid, case_id)
        return actions.send_event(cid, payload, fault=fault)
    msg = f"unknown action {action!r}; the dashboard knows retry, cancel and event"
    raise ActionError(msg)


def _refuse_other_case(admin: Admin, cid: str, case_id: str) -> None:
    """``ActionError`` if ``cid`` names a job of a case other than ``case_id``'s page.

    The page's field takes any id: one typed or pasted from another case's page would
    answer that case's job, from a page that says it acts on this one.
    """
    job_id = cid.partition("/")[0]
    try:
        other = admin.job(job_id).case_id
    except JobNotFoundError:
        return  # the send says so, as for any id
    if other != case_id:
        msg = (
            f"Refused: correlation id {cid!r} is of job {job_id} of case {other}, not of "
            f"case {case_id} (this page's); nothing was sent. Send it from case "
            f"{other}'s page."
        )
        raise ActionError(msg)


def _field(fields: dict[str, str], name: str) -> str:
    # As given, never stripped: an id may begin or end with a space (" 7" is not "7").
    value = fields.get(name, "")
    if not value:
        msg = f"the form has no {name}"
        raise ActionError(msg)
    return value
