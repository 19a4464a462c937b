"""``enqueue``: admit a case into a store for workers to run, without running any."""

from __future__ import annotations

import uuid
from typing import Any

from actors._copy import copy_data
from actors._engine import new_case
from actors._errors import JobExistsError
from actors._workflow import Workflow
from actors.stores import Store, open_store

__all__ = ["enqueue"]


def enqueue(store: Store | str, workflow: Workflow, data: Any, *, job_id: str | None = None) -> str:
    """Write a new case of ``workflow`` into ``store`` (READY, held by no worker).

    Any worker sharing the store (``Mediator`` or ``actors worker``) takes it on its next
    poll. The case id is returned (``job_id``, or a new one); an id the store already
    holds raises ``JobExistsError``. Admission control belongs to the workers'
    Mediators; this call only writes.
    """
    the_store = open_store(store) if isinstance(store, str) else store
    try:
        case_id = job_id or uuid.uuid4().hex
        if the_store.get(case_id) is not None:
            msg = f"a job with id {case_id!r} already exists in {the_store.url}"
            raise JobExistsError(msg)
        the_store.create(new_case(workflow, case_id, copy_data(data)))
    finally:
        if isinstance(store, str):
            the_store.close()
    return case_id
