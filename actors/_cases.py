"""New cases: the root job of each, and the checks a batch of them passes before any is kept."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actors._copy import copy_data
from actors._errors import CodecError, JobExistsError
from actors._job import JobRecord
from actors._text import UNSHOWN, is_unicode

if TYPE_CHECKING:
    from actors._workflow import Workflow
    from actors.stores import Store
    from actors.stores._codec import Codec

__all__ = [
    "ID_RULE",
    "MAX_ID_LENGTH",
    "batch_cases",
    "case_data",
    "check_items",
    "id_flaw",
    "id_refused",
    "lookup_id",
    "missing_job",
    "new_case",
    "padded_twins",
    "refuse_version",
    "shown_id",
    "valid_id",
]

MAX_ID_LENGTH = 500
"""The longest case id, in characters. Every store indexes ids: PostgreSQL's btree takes an
entry of at most 2,704 bytes, and 500 characters are at most 2,000 bytes of UTF-8, with
room for the columns indexed beside an id. (SQLite would take longer ones; one rule for
every store lets a case move from one to another.)"""

ID_RULE = (
    "a non-empty string without '/' or control characters (NUL, newline, tab, escape, "
    f"bidirectional override...), not '.' or '..', with no white space at either end, "
    f"at most {MAX_ID_LENGTH} characters long"
)
"""What a case id is, as error messages and the docs say it."""

# What the commands could not show as itself (``UNSHOWN``: an id holding one prints as
# broken lines, moves the cursor, or is drawn as another id), and tab and newline too.
_CONTROL = re.compile(f"[\t\n{UNSHOWN}]")
# Ids no address can hold: a browser or a proxy resolves them as path segments, so the
# dashboard's page of such a case would be another page.
_DOTS = frozenset((".", ".."))


def new_case(wf: Workflow, case_id: str, data: Any) -> JobRecord:
    """The root job of a new case of ``wf``, READY at its start step."""
    return JobRecord(
        id=case_id, case_id=case_id, workflow=wf.name, version=wf.version, step=wf.start, data=data
    )


def case_data(workflow: str, data: Any, codec: Codec | None = None) -> Any:
    """A private deep copy of a case's input (the caller may keep mutating theirs).

    Checked against the data rule of every store at the door: a value no store could keep
    is refused here, naming its path, before anything is admitted.
    """
    try:
        return copy_data(data, codec)
    except CodecError as exc:
        msg = f"data for workflow {workflow!r} cannot be stored: {exc}"
        raise CodecError(msg) from None


def refuse_version(store: Store, workflow: str, version: int) -> None:
    """``ValueError`` for a version of ``workflow`` past what ``store`` keeps.

    Checked where a workflow meets a store (a ``Mediator`` or worker starting with it, a
    case enqueued): the store's own error came from deep in a write or a claim, and a
    worker serving such a version on PostgreSQL could claim no case at all.
    """
    if version > store.max_version:
        msg = (
            f"workflow {workflow!r} version {version} is past what {store.url} keeps "
            f"(versions 1 to {store.max_version}): number the workflow's versions within "
            "that range (1, 2, 3...)"
        )
        raise ValueError(msg)


def batch_cases(
    store: Store,
    wf: Workflow,
    items: Iterable[Any],
    job_ids: Sequence[str] | None,
    new_id: Callable[[], str],
) -> list[JobRecord]:
    """The root jobs of a batch of new cases of ``wf``, every item checked first.

    An error about one item names its position (``batch item 3: ...``). With
    ``job_ids``: one per item, well formed, none twice, and none the store holds.
    """
    refuse_version(store, wf.name, wf.version)
    datas = []
    for k, data in enumerate(items):
        try:
            datas.append(case_data(wf.name, data, store.codec))
        except CodecError as exc:
            msg = f"batch item {k}: {exc}"
            raise CodecError(msg) from exc
    if job_ids is None:
        ids = [new_id() for _ in datas]
    else:
        ids = list(job_ids)
        if len(ids) != len(datas):
            msg = f"{len(ids)} job ids for {len(datas)} batch items; give one id per item"
            raise ValueError(msg)
        seen: set[str] = set()
        for k, job_id in enumerate(ids):
            if not valid_id(job_id):
                raise id_refused(job_id, f"batch item {k}: job_id")
            if job_id in seen:
                msg = f"batch item {k}: job id {job_id!r} appears more than once in the batch"
                raise ValueError(msg)
            seen.add(job_id)
        taken = store.existing(ids) if ids else set()
        if taken:
            first = next(job_id for job_id in ids if job_id in taken)
            msg = (
                f"{len(taken)} job id(s) of the batch already exist in {store.url}, "
                f"{first!r} first; the whole batch is refused"
            )
            raise JobExistsError(msg)
    return [new_case(wf, job_id, data) for job_id, data in zip(ids, datas, strict=True)]


def valid_id(job_id: object) -> bool:
    """Whether ``job_id`` can name a new case: ``ID_RULE``, in text every store keeps.

    Text: no lone surrogate, which no database can store. No ``/``, which joins
    correlation ids, and no control character: NUL, which PostgreSQL's text cannot hold,
    and the others (a newline, a tab, an escape), which break the lines that show ids.
    No white space at either end: ``' j2'`` prints as ``j2``, which then names no case.
    """
    return lookup_id(job_id) and _padding(job_id) is None


def lookup_id(job_id: object) -> bool:
    """Whether ``job_id`` may name a stored case: ``valid_id`` but white space at its ends.

    A store written before ids were refused such white space may hold ``' j2'``; it is
    looked up (shown, cancelled, sent events) all the same.
    """
    if (
        not isinstance(job_id, str)
        or not job_id
        or len(job_id) > MAX_ID_LENGTH
        or "/" in job_id
        or job_id in _DOTS
        or _CONTROL.search(job_id) is not None
    ):
        return False
    return is_unicode(job_id)


def shown_id(job_id: object) -> str:
    """``job_id`` as an error shows it: its repr, cut short (with its length) when long."""
    text = repr(job_id)
    if len(text) <= 60:
        return text
    size = f" ({len(job_id):,} characters)" if isinstance(job_id, str) else ""
    return f"{text[:56]}...{size}"


def id_refused(job_id: object, what: str = "job_id") -> ValueError:
    """The error for ``job_id`` given as ``what`` that is not a valid id (``valid_id``)."""
    return ValueError(f"{what} must be {ID_RULE}, got {shown_id(job_id)}{id_flaw(job_id)}")


def id_flaw(job_id: object) -> str:
    """`` (control character ...)``: what makes ``job_id`` no id, where it is hard to see."""
    flaw = lookup_flaw(job_id)
    if flaw or not isinstance(job_id, str):
        return flaw
    padding = _padding(job_id)
    return "" if padding is None else f" ({padding})"


def lookup_flaw(job_id: object) -> str:
    """``id_flaw`` but white space at the ends: what makes ``job_id`` name no stored case."""
    if isinstance(job_id, str) and job_id in _DOTS:
        return " (a path's dot segment, which no address of the dashboard can hold)"
    found = _CONTROL.search(job_id) if isinstance(job_id, str) else None
    if found is None:
        return ""
    return f" (control character {found.group()!r} at position {found.start()})"


def _padding(job_id: object) -> str | None:
    """Where ``job_id`` has white space at an end (``None`` when it has none)."""
    if not isinstance(job_id, str) or job_id == job_id.strip():
        return None
    first = job_id[0] if job_id[0].isspace() else job_id[-1]
    end = "start" if job_id[0].isspace() else "end"
    return f"white space {first!r} at the {end}"


def padded_twins(job_id: str) -> list[str]:
    """The ids ``job_id`` may have been meant as, but for white space at an end.

    Its text without that white space; or, when it has none, with a space at its start,
    its end or both (as a store written before the id rule may hold one).
    """
    stripped = job_id.strip()
    if stripped != job_id:
        return [stripped] if stripped else []
    return [f" {job_id}", f"{job_id} ", f" {job_id} "]


def missing_job(job_id: str, url: str, held: Iterable[str]) -> str:
    """Why ``job_id`` names no job in the store at ``url``, which holds ``held`` of its twins.

    The white space at an end of an id hardly shows: the message names the id the
    store holds (``padded_twins``) when it holds one.
    """
    text = f"no job {shown_id(job_id)} in {url}"
    twins = set(held)
    twin = next((t for t in padded_twins(job_id) if t in twins), None)
    padding = _padding(job_id)
    if twin is not None and padding is not None:
        return f"{text} ({padding}: the store holds {shown_id(twin)})"
    if twin is not None:
        return f"{text} (the store holds {shown_id(twin)}, with {_padding(twin)})"
    return text if valid_id(job_id) else f"{text} (a job id is {ID_RULE})"


def check_items(items: object) -> None:
    """``TypeError`` for a batch's ``items`` that is one value, not one per case.

    A str or a dict is iterable too: it would admit a case per character or key.
    """
    if isinstance(items, str | bytes | Mapping):
        msg = (
            f"items must be an iterable of the cases' data (a list of dicts, say), got "
            f"{type(items).__name__} {items!r:.60}: it would admit a case per "
            f"{'key' if isinstance(items, Mapping) else 'character'}"
        )
        raise TypeError(msg)
