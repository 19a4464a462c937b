"""``enqueue`` and ``enqueue_many``: write cases into a store for workers to run."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from actors._cases import (
    batch_cases,
    case_data,
    id_refused,
    new_case,
    refuse_version,
    valid_id,
)
from actors._errors import JobExistsError
from actors._workflow import Workflow
from actors.stores import Store, open_store

__all__ = ["enqueue", "enqueue_many"]


def enqueue(store: Store | str, workflow: Workflow, data: Any, *, job_id: str | None = None) -> str:
    """Write a new case of ``workflow`` into ``store`` (READY, held by no worker).

    Workers sharing the store (``Mediator`` or ``actors worker``) are woken: those in
    this process, on PostgreSQL those in every process (``LISTEN``/``NOTIFY``), and on
    SQLite those in other processes by their watch of the file (within about 10 ms); a
    worker that misses the wake-up takes the case at its next poll. The case id is
    returned (``job_id``, or a new one). ``job_id`` follows the rule of
    ``Mediator.schedule``: a non-empty string without ``/`` or control characters, not
    ``.`` or ``..``, with no white space at either end, at most 500 characters long
    (``ValueError`` otherwise); an id the store already holds raises ``JobExistsError``.
    ``workflow`` is the ``Workflow`` object, not its name, and ``store`` a ``Store`` or
    a URL (``TypeError`` otherwise). Admission control belongs to the workers'
    Mediators; this call only writes.
    """
    _check_arguments(store, workflow, "enqueue")
    if job_id is not None and not valid_id(job_id):
        raise id_refused(job_id)
    the_store = open_store(store) if isinstance(store, str) else store
    try:
        refuse_version(the_store, workflow.name, workflow.version)
        copied = case_data(workflow.name, data, the_store.codec)
        case_id = job_id or uuid.uuid4().hex
        if the_store.existing([case_id]):  # by id alone: a bad row is not touched
            msg = f"a job with id {case_id!r} already exists in {the_store.url}"
            raise JobExistsError(msg)
        the_store.create(new_case(workflow, case_id, copied))
        the_store.announce()
    finally:
        if isinstance(store, str):
            the_store.close()
    return case_id


def enqueue_many(
    store: Store | str,
    workflow: Workflow,
    items: Iterable[Any],
    *,
    job_ids: Sequence[str] | None = None,
) -> list[str]:
    """Write one new case of ``workflow`` per item into ``store``, all together or none.

    As ``enqueue``, for a batch: the items are checked first (an error about one names
    its position, ``batch item 3: ...``; with ``job_ids``, one new, well-formed id per
    item), then a durable store writes them in one transaction. Returns the case ids in
    the order of ``items``.
    """
    _check_arguments(store, workflow, "enqueue_many")
    the_store = open_store(store) if isinstance(store, str) else store
    try:
        cases = batch_cases(the_store, workflow, items, job_ids, lambda: uuid.uuid4().hex)
        if cases:
            the_store.create_many(cases)
            the_store.announce()
    finally:
        if isinstance(store, str):
            the_store.close()
    return [case.id for case in cases]


def _check_arguments(store: Any, workflow: Any, where: str) -> None:
    """A ``TypeError`` naming what was passed where a Workflow or a store belongs.

    A workflow's name (as ``Mediator.schedule`` and ``actors enqueue`` take it) and a
    ``Path`` to a SQLite file are the usual slips; without this check each ended in an
    ``AttributeError`` about ``name`` or ``max_version`` that named neither argument.
    """
    if isinstance(store, Workflow):
        msg = f"{where}(store, workflow, ...): the store comes first, then the Workflow"
        raise TypeError(msg)
    if not isinstance(workflow, Workflow):
        got = f"{type(workflow).__name__} {workflow!r}"
        if isinstance(workflow, str):
            hint = (
                "pass the Workflow object itself (the case is written with its name and "
                "version), not its name"
            )
        else:
            hint = "pass one Workflow object"
        msg = f"{where}(store, workflow, ...): workflow must be a Workflow, got {got}; {hint}"
        raise TypeError(msg)
    if not isinstance(store, Store | str):
        msg = (
            f"{where}(store, workflow, ...): store must be a Store or a store URL such as "
            f"'sqlite:///jobs.db', got {type(store).__name__} {store!r}"
        )
        raise TypeError(msg)
