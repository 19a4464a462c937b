"""A job as a row of the ``jobs`` table, and back: parameters to save, records read.

Reading never raises for a bad row: what does not fit is noted, and the store faults
the job naming it (see ``SqlStore._records``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from actors._errors import CodecError
from actors._job import FINAL_STATES, JobRecord, JobState
from actors._text import NotUtf8
from actors.stores._codec import Codec
from actors.stores._statements import STATE_VALUES

__all__ = ["read_arrivals", "read_row", "row_params", "storable_text"]

_WAITING = JobState.WAITING

# The most a row's attempt or split generation may hold: the engine counts both up by
# one, and past this the next no longer fits PostgreSQL's integer column (SQLite's, at
# 2**63 - 1): its every save failed, and the job ran its step again in a tight loop.
# Only a row edited by hand gets there.
COUNT_MAX = 2**31 - 2


def storable_text(text: str | None) -> str | None:
    """``text`` as every database takes it: a lone surrogate or a NUL becomes its escape.

    Errors are made of exception messages, which may quote a file name that is not UTF-8
    or a NUL byte (PostgreSQL's text holds none); such a save would fail in the database,
    with every other save of its transaction.
    """
    if text is None or (text.isascii() and "\x00" not in text):
        return text
    text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def row_params(
    job: JobRecord, now: float, codec: Codec, lease: tuple[str | None, float | None]
) -> tuple[Any, ...]:
    """A save's parameters for ``UPSERT``.

    The record's columns, then created_at, updated_at, finished_at and ``lease`` (the
    stamp and expiry a new row gets).
    """
    # Every save of every step passes here: the common case (plain data, no event, no
    # error) makes no call it does not need, and no error message until one is raised.
    data = codec.plain_text(job.data)
    if data is None:
        data = codec.encode(job.data, f"data of job {job.id}")
    event = None
    if job.event is not None:
        event = codec.encode(list(job.event), f"event of job {job.id}")
    state = job.state
    arrivals = None
    if job.arrivals or (state is _WAITING and job.split_total and not job.joined):
        # A parent waiting on its split is saved with its arrivals as the record holds
        # them, even none: the row's map then replaces those recorded for the split
        # before (a trigger clears them), as an operator's reopening of a branch needs.
        arrivals = codec.encode(job.arrivals, f"arrivals of job {job.id}")
    error, branch_error = job.error, job.branch_error
    return (
        job.id,
        job.case_id,
        job.workflow,
        job.version,
        job.step,
        data,
        state._value_,  # a plain attribute (.value is a descriptor)
        job.parent_id,
        job.branch_index,
        job.attempt,
        error if error is None else storable_text(error),
        job.due,
        event,
        job.split_step,
        job.split_total,
        job.split_live,
        arrivals,
        job.join_step,
        bool(job.joined),
        branch_error if branch_error is None else storable_text(branch_error),
        bool(job.branch_cancelled),
        job.gen,
        job.parent_gen,
        bool(job.cancel_requested),
        now,
        now,
        now if state in FINAL_STATES else None,
        *lease,
    )


def read_row(row: Sequence[Any], codec: Codec) -> tuple[JobRecord, list[str]]:
    """The record a row holds, and what is wrong with the row (nothing, normally)."""
    problems: list[str] = []
    r = _RowReader(row, problems)
    job_id = r.text(0, "id", fallback="?")
    job = JobRecord(
        id=job_id,
        case_id=r.text(1, "case_id", fallback=job_id),
        workflow=r.text(2, "workflow", fallback="?"),
        version=r.integer(3, "version", fallback=0, minimum=1),
        step=r.text_or_none(4, "step"),
        data=_decode(codec, row[5], f"data of job {job_id}", problems),
        state=r.state(6),
        parent_id=r.text_or_none(7, "parent_id"),
        branch_index=r.integer_or_none(8, "branch_index", minimum=0),
        attempt=r.integer(9, "attempt", fallback=1, minimum=1, maximum=COUNT_MAX),
        error=r.text_or_none(10, "error"),
        due=r.number_or_none(11, "due"),
        event=_event(codec, row[12], job_id, problems),
        split_step=r.text_or_none(13, "split_step"),
        split_total=r.integer(14, "split_total", fallback=0, minimum=0),
        split_live=r.integer(15, "split_live", fallback=0),
        arrivals=read_arrivals(row[16], job_id, codec, problems),
        join_step=r.text_or_none(17, "join_step"),
        joined=r.flag(18, "joined"),
        branch_error=r.text_or_none(19, "branch_error"),
        branch_cancelled=r.flag(20, "branch_cancelled"),
        # Both count up from 0: one below was edited, and its splits matched no branch.
        gen=r.integer(21, "gen", fallback=0, minimum=0, maximum=COUNT_MAX),
        parent_gen=r.integer(22, "parent_gen", fallback=0, minimum=0),
        cancel_requested=r.flag(23, "cancel_requested"),
    )
    if job.branch_index is None and job.parent_id is not None and row[8] is None:
        # Every branch is saved with its index: its join counts it by that, and each
        # runner it reached died of the missing index (three, then a fault saying nothing).
        problems.append(
            f"column branch_index is NULL, but the row is a branch of job {job.parent_id!r} "
            "(expected an integer >= 0)"
        )
    return job, problems


def _decode(codec: Codec, text: Any, what: str, problems: list[str]) -> Any:
    if text is None:
        problems.append(f"{what} is NULL")
        return None
    try:
        return codec.decode(text, what)
    except CodecError as exc:
        problems.append(str(exc))
        return None


def _event(
    codec: Codec, text: Any, job_id: str, problems: list[str]
) -> tuple[str, str, Any] | None:
    if text is None:
        return None
    what = f"event of job {job_id}"
    before = len(problems)
    value = _decode(codec, text, what, problems)
    if len(problems) > before:
        return None
    if (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], str)
    ):
        return (value[0], value[1], value[2])
    problems.append(f"{what} is not a [kind, name, payload] list: {text!r:.80}")
    return None


def read_arrivals(text: Any, job_id: str, codec: Codec, problems: list[str]) -> dict[int, Any]:
    """A parent's stored arrivals (branch index to data); what is wrong goes to ``problems``."""
    if text is None:
        return {}
    what = f"arrivals of job {job_id}"
    before = len(problems)
    value = _decode(codec, text, what, problems)
    if len(problems) > before:
        return {}
    if isinstance(value, dict) and all(type(k) is int for k in value):
        return value
    problems.append(f"{what} is not a map of branch index to data: {text!r:.80}")
    return {}


class _RowReader:
    """Reads typed columns of a row, noting (not raising) what does not fit."""

    def __init__(self, row: Sequence[Any], problems: list[str]) -> None:
        self.row = row
        self.problems = problems

    def _bad(self, name: str, expected: str, value: Any) -> None:
        self.problems.append(f"column {name} holds {value!r:.80} (expected {expected})")

    def _not_utf8(self, name: str, value: str) -> None:
        self.problems.append(f"column {name} holds bytes that are not UTF-8: {value!r:.80}")

    def text(self, i: int, name: str, *, fallback: str) -> str:
        value = self.row[i]
        if type(value) is str:
            return value
        if isinstance(value, NotUtf8):
            self._not_utf8(name, value)
            return value  # its escaped form, to name the job by
        self._bad(name, "text", value)
        return fallback if value is None else str(value)

    def text_or_none(self, i: int, name: str) -> str | None:
        value = self.row[i]
        if value is None or type(value) is str:
            return value
        if isinstance(value, NotUtf8):
            self._not_utf8(name, value)
            return value
        self._bad(name, "text or NULL", value)
        return str(value)

    def integer(
        self,
        i: int,
        name: str,
        *,
        fallback: int,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self.row[i]
        if (
            type(value) is int
            and (minimum is None or value >= minimum)
            and (maximum is None or value <= maximum)
        ):
            return value
        expected = "an integer"
        if minimum is not None and maximum is not None:
            expected += f" from {minimum} to {maximum}"
        elif minimum is not None:
            expected += f" >= {minimum}"
        elif maximum is not None:
            expected += f" <= {maximum}"
        self._bad(name, expected, value)
        return fallback

    def integer_or_none(self, i: int, name: str, *, minimum: int | None = None) -> int | None:
        value = self.row[i]
        if value is None or (type(value) is int and (minimum is None or value >= minimum)):
            return value
        at_least = "" if minimum is None else f" >= {minimum}"
        self._bad(name, f"an integer{at_least} or NULL", value)
        return None

    def number_or_none(self, i: int, name: str) -> float | None:
        value = self.row[i]
        if value is None:
            return None
        if type(value) in (int, float) and math.isfinite(value):
            return float(value)
        self._bad(name, "a finite number or NULL", value)  # a nan due time breaks the timers
        return None

    def flag(self, i: int, name: str) -> bool:
        value = self.row[i]
        if type(value) is bool or value in (0, 1):
            return bool(value)
        self._bad(name, "a boolean", value)
        return False

    def state(self, i: int) -> JobState:
        value = self.row[i]
        known = STATE_VALUES.get(value) if type(value) is str else None
        if known is not None:
            return known
        if isinstance(value, NotUtf8):
            self._not_utf8("state", value)
            return JobState.FAULTED
        self.problems.append(f"unknown state {value!r:.40} (known: {', '.join(STATE_VALUES)})")
        return JobState.FAULTED
