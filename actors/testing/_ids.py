"""The job ids a harness gives its cases and branches: ``j1``, ``j2``... in order."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors.stores import Store

__all__ = ["harness_ids"]


def harness_ids(store: Store) -> Callable[[], str]:
    """An id factory making ``j1``, ``j2``... and skipping any id ``store`` already holds.

    A store an earlier run left cases in (a harness or a ``Mediator`` stopped before
    they ended) holds its ``jN`` ids; a harness resuming them must not make those again.
    A store empty at the start needs no look-up: every id it holds later is this run's.
    """
    counter = itertools.count(1)
    if not any(store.counts().values()):
        return lambda: f"j{next(counter)}"

    def fresh() -> str:
        while True:
            job_id = f"j{next(counter)}"
            if not store.existing([job_id]):
                return job_id

    return fresh
