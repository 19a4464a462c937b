"""Named case ids being admitted in this process: one caller at a time per id.

Two callers that admit one ``job_id`` at once must not both succeed (the store refuses
the second in its own write), and the loser must not be told the id is taken when the
winner's admission then fails (a full mailbox, a timeout, a store error): it would drop
a case that was never stored. So a caller holds the id while it admits, and another
caller of that id waits for the outcome, then looks at the store again.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from actors._errors import MailboxFull

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["IdClaims"]


class IdClaims:
    """Which named ids callers are admitting now (shared by the producers of one engine).

    Thread-safe without a lock of its own: a claim is one ``dict.setdefault`` per id,
    atomic, and only the caller that holds an id removes it.
    """

    def __init__(self) -> None:
        self._held: dict[str, threading.Event] = {}

    def take(self, ids: Sequence[str], *, block: bool, timeout: float | None) -> threading.Event:
        """Hold ``ids`` for this caller; its token, for ``give_back``.

        While another caller holds one of them this waits for that caller to finish
        (holding none meanwhile, so two batches never wait on each other), up to
        ``timeout`` seconds; ``block=False`` does not wait. Either way a caller that
        cannot have the ids gets ``MailboxFull``: not admitted, try again.
        """
        mine = threading.Event()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            other: tuple[str, threading.Event] | None = None
            taken: list[str] = []
            for job_id in ids:
                held = self._held.setdefault(job_id, mine)
                if held is not mine:
                    other = (job_id, held)
                    break
                taken.append(job_id)
            if other is None:
                return mine
            self._drop(taken, mine)
            busy = f"job id {other[0]!r} is being admitted by another caller"
            if not block:
                raise MailboxFull(f"{busy}; try again once it is admitted or refused")
            left = None if deadline is None else deadline - time.monotonic()
            if (left is not None and left <= 0) or not other[1].wait(left):
                raise MailboxFull(f"{busy}, still after {timeout}s")

    def give_back(self, ids: Sequence[str], token: threading.Event) -> None:
        """The caller holding ``ids`` with ``token`` is done: wake who waits for them."""
        self._drop(ids, token)
        token.set()

    def _drop(self, ids: Sequence[str], token: threading.Event) -> None:
        for job_id in ids:
            if self._held.get(job_id) is token:
                del self._held[job_id]
