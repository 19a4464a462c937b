"""What an operator gives the admin API, read and checked: filters, cursors, ids, names.

``Admin.jobs`` takes its ``state`` filter as names or ``JobState`` values and pages by
an opaque cursor (``Page.next_cursor``), made and read here; ``Admin.send_event`` (and
``actors events send``) check a correlation id's form here before anything is read.
Lists of job ids, a reset's step, the workflows given and the operator's name
(``operator_name``) are read here too.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from actors._cases import ID_RULE, lookup_flaw, lookup_id, shown_id
from actors._job import JobState
from actors._seconds import seconds_option, seconds_problem
from actors._text import is_unicode
from actors.stores._admin_types import ListingPosition, RawText, StoredJob

if TYPE_CHECKING:
    from actors._workflow import Workflow

__all__ = [
    "OPERATOR_ENV",
    "check_from_step",
    "correlation_id_problem",
    "cursor_position",
    "id_list",
    "job_states",
    "listing_cursor",
    "listing_problem",
    "operator_name",
    "timeout_seconds",
    "workflows_by_key",
]


def timeout_seconds(value: float) -> float:
    """An action's ``timeout``, checked: a number of seconds from 0 to a century.

    ``ValueError`` otherwise: a NaN made no deadline, and a negative one none either.
    """
    return seconds_option("timeout", value)


def listing_problem(texts: dict[str, Any], numbers: dict[str, Any], max_version: int) -> str | None:
    """Why ``Admin.jobs``'s filters match no job as meant, or ``None``.

    ``texts`` are its text filters by name (``workflow``, ``step``, ``error``), ``numbers``
    its ``version``, ages (``since``, ``before``), ``limit`` and ``offset``: a database
    cannot encode text that is not Unicode, and compares other types as it likes (SQLite
    read ``version="1"`` as 1, where the memory store matched nothing).
    """
    for name, text in texts.items():
        if text is not None and not (isinstance(text, str) and is_unicode(text)):
            return f"{name} must be Unicode text or None, got {text!r:.60}"
    version = numbers["version"]
    if version is not None and (type(version) is not int or not 1 <= version <= max_version):
        return f"version must be None or an int from 1 to {max_version}, got {version!r:.60}"
    for name in ("since", "before"):
        age = numbers[name]
        if age is not None and (seconds_problem(age) is not None or age < 0):
            return f"{name} must be None or seconds from 0 to a century, got {age!r:.60}"
    limit, offset = numbers["limit"], numbers["offset"]
    if type(limit) is not int or type(offset) is not int or limit < 1 or offset < 0:
        return (
            "limit must be an int >= 1 and offset an int >= 0, "
            f"got limit={limit!r:.40}, offset={offset!r:.40}"
        )
    return None


def check_listing(texts: dict[str, Any], numbers: dict[str, Any], max_version: int) -> None:
    """``ValueError`` saying ``listing_problem``, if there is one."""
    problem = listing_problem(texts, numbers, max_version)
    if problem is not None:
        raise ValueError(problem)


def job_states(state: str | JobState | Iterable[str | JobState] | None) -> tuple[JobState, ...]:
    """The states a ``state`` filter names (none: any); ``ValueError`` names an unknown one."""
    if state is None:
        return ()
    items = [state] if isinstance(state, str | JobState) else list(state)
    out = []
    for item in items:
        if isinstance(item, JobState):
            out.append(item)
            continue
        try:
            out.append(JobState(item.lower()))
        except ValueError:
            known = ", ".join(s.value for s in JobState)
            msg = f"unknown job state {item!r} (known: {known})"
            raise ValueError(msg) from None
    return tuple(out)


def listing_cursor(job: StoredJob) -> str:
    """The cursor naming ``job``'s place in a listing: its (created_at, id), opaque.

    URL-safe base64 of JSON, so that any id pastes into a shell as one word; JSON
    keeps the float exactly. A creation time edited into no number is named as the row
    holds it (``StoredJob.listed_at``), so that the next page starts where the store
    orders that row: ``Infinity``, ``NaN``, ``{"text": ...}``, ``{"bytes": HEX}`` or, for
    text that is not UTF-8, ``{"text_bytes": HEX}``.
    """
    held = job.listed_at
    created: object = (job.created_at or 0.0) if held is None else held
    if isinstance(held, RawText):
        created = {"text_bytes": held.hex()}  # text that is not UTF-8 (SQLite)
    elif isinstance(held, str):
        created = {"text": held}
    elif isinstance(held, bytes):
        created = {"bytes": held.hex()}
    text = json.dumps([created, job.record.id], ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _created(value: object) -> float | str | bytes | None:
    """A cursor's creation time as ``listing_cursor`` wrote it (``None``: none it writes)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict) and len(value) == 1:
        [(kind, held)] = value.items()
        if kind == "text" and isinstance(held, str) and is_unicode(held):
            return held
        if kind == "bytes" and isinstance(held, str):
            return bytes.fromhex(held)  # ValueError: no cursor
        if kind == "text_bytes" and isinstance(held, str):
            return RawText(bytes.fromhex(held))
    return None


def cursor_position(cursor: str) -> ListingPosition:
    """The (created_at, id) ``cursor`` names; ``ValueError`` for text that is no cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, job_id = json.loads(text)
        held = _created(created)
        if (
            held is not None
            and isinstance(job_id, str)
            and "\x00" not in job_id  # no id ever held one: PostgreSQL's text holds none
            and is_unicode(job_id)  # nor a lone surrogate, which SQLite cannot encode
        ):
            return held, job_id
    except (ValueError, TypeError):
        pass
    msg = f"{shown_id(cursor)} is not a listing cursor (give one a page gave as next_cursor)"
    raise ValueError(msg)


def correlation_id_problem(correlation_id: str) -> str | None:
    """Why ``correlation_id`` is not one (``None`` when it is ``JOB/STEP[/EVENT]``).

    Its JOB must be an id a job could have (``ID_RULE``); step and event names hold no
    ``/`` (``Workflow`` refuses them) but may hold what an id may not.
    """
    parts = correlation_id.split("/")
    if not (2 <= len(parts) <= 3 and all(parts)):
        return (
            f"{shown_id(correlation_id)} is not a correlation id: write JOB/STEP (a request's "
            "reply) or JOB/STEP/EVENT (an event of a deferred choice)"
        )
    job_id = parts[0]
    if not lookup_id(job_id):
        return (
            f"{shown_id(correlation_id)} is not a correlation id: its JOB "
            f"{shown_id(job_id)}{lookup_flaw(job_id)} is no job id (one is {ID_RULE})"
        )
    return None


def step_name_problem(step: object) -> str | None:
    """Why ``step`` names no step of any workflow (``None`` when it could name one).

    ``Workflow`` refuses an empty step name and one holding ``/`` (which joins
    correlation ids): a reset to such a step could only fault the job.
    """
    if isinstance(step, str) and step and "/" not in step:
        return None
    if not isinstance(step, str):
        return f"{step!r} is no step name (not a string)"
    return f"{shown_id(step)} is no step name ({'it holds /' if step else 'it is empty'})"


def check_from_step(from_step: str | None) -> None:
    """A reset's ``from_step``, checked: ``ValueError`` if it names no step of any workflow."""
    if from_step is not None:
        problem = step_name_problem(from_step)
        if problem is not None:
            msg = f"from_step {problem}: a workflow's steps are named non-empty, without '/'"
            raise ValueError(msg)


def workflows_by_key(workflows: Iterable[Workflow]) -> dict[tuple[str, int], Workflow]:
    """``workflows`` by name and version; ``ValueError`` for two different ones of one key."""
    by_key: dict[tuple[str, int], Workflow] = {}
    for wf in workflows:
        if by_key.setdefault(wf.key, wf) is not wf:  # the checks would use one
            msg = f"workflow {wf.name!r} version {wf.version} is given twice, differently"
            raise ValueError(msg)
    return by_key


OPERATOR_ENV = "ACTORS_OPERATOR"
"""The environment variable that names the operator when none is given."""


def operator_name(given: str | None = None) -> str:
    """Who is acting: ``given``, else ``$ACTORS_OPERATOR``, else the login name."""
    if given:
        return given
    env = os.environ.get(OPERATOR_ENV)
    if env:
        return env
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


def id_list(job_ids: Iterable[str]) -> list[str]:
    """``job_ids`` as a list, ``TypeError`` for one string (its letters) or an id no str."""
    if isinstance(job_ids, str | bytes):
        msg = "job_ids must be an iterable of ids, not one string"
        raise TypeError(msg)
    ids = list(job_ids)
    for job_id in ids:
        if not isinstance(job_id, str):
            msg = f"a job id is a str, got {type(job_id).__name__} {job_id!r:.80}"
            raise TypeError(msg)
    return ids
