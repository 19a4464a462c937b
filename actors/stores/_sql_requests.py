"""The SQL stores' requests: actions an operator leaves for the worker that holds a case.

A mixin of ``SqlStore``: it uses the store's ``_write`` and ``_read``. The operator posts
a request; the holding worker takes it, carries it out and records what became of it,
unless the operator withdraws it first. A request carries when its sender stops waiting
for it (``void_after``, migration 17): a worker that comes to it later (it was frozen, or
down, and the sender was killed with its request posted) never carries it out, but marks
it expired. Every value reaches SQL as a parameter.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from actors.stores._admin_types import EXPIRED, Request, UnreadPayload
from actors.stores._statements import Execute, in_lists

__all__ = ["SqlRequests"]

_REQUEST = (
    "id, case_id, job_id, kind, payload, operator, posted_at, taken_by, taken_at, done_at, "
    "outcome, void_after"
)


def _request(row: Sequence[Any]) -> Request:
    try:
        payload = json.loads(row[4]) if row[4] is not None else None
    except ValueError:  # written by another program: refused by the worker, named
        payload = UnreadPayload(str(row[4]))
    return Request(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        payload,
        row[5],
        _posted(row[6]),
        row[7],
        row[8],
        row[9],
        row[10],
        _void_after(row[11]),
    )


def _posted(value: Any) -> float:
    """A request's ``posted_at``; NaN for what a row edited by hand holds instead.

    SQLite keeps text in a REAL column: ``float()`` of it raised on the Scheduler's
    thread, which stopped the worker. The time is only shown; the request is carried out.
    """
    return float(value) if type(value) in (int, float) else math.nan


def _void_after(value: Any) -> float | None:
    """A request's ``void_after`` as a time; ``None`` (never void) for anything else.

    NULL is a request of a release before migration 17, or one written by hand; text
    in SQLite's REAL column, or NaN, compares as no time at all, as SQL compares it.
    """
    if type(value) in (int, float) and not math.isnan(value):
        return float(value)
    return None


class SqlRequests:
    """Requests left for the worker holding a case, in a SQL store (mixed into ``SqlStore``)."""

    if TYPE_CHECKING:  # provided by SqlStore

        def _write(self, fn: Any, what: str) -> Any: ...
        def _read(self, sql: str, params: Sequence[Any], what: str) -> list[Any]: ...
        def lease_time(self, now: float) -> float: ...

    def post_request(
        self,
        case_id: str,
        job_id: str,
        kind: str,
        payload: Any,
        operator: str,
        now: float,
        void_after: float | None = None,
    ) -> int:
        """Leave an action for the worker holding ``case_id``; return the request's id.

        ``void_after``: when its sender stops waiting, by ``lease_time``'s clock.
        """
        text = json.dumps(payload) if payload is not None else None

        def write(execute: Execute) -> int:
            row = execute(
                "INSERT INTO job_requests "
                "(case_id, job_id, kind, payload, operator, posted_at, void_after) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (case_id, job_id, kind, text, operator, now, void_after),
            ).fetchone()
            return int(row[0])

        return int(self._write(write, f"post a {kind} request for case {case_id}"))

    def get_request(self, request_id: int) -> Request | None:
        """The request as it stands now."""
        rows = self._read(
            f"SELECT {_REQUEST} FROM job_requests WHERE id = ?", (request_id,), "read a request"
        )
        return _request(rows[0]) if rows else None

    def take_requests(self, owner: str, now: float) -> list[Request]:
        """Take the requests waiting for cases ``owner`` holds (each taken by one worker).

        One past its ``void_after`` is marked ``EXPIRED`` instead, and returned so: its
        sender stopped waiting for it (killed, or gone since), and the operator may have
        done something else since. The store's clock decides, as for leases.
        """
        pick = (
            "SELECT r.id, r.void_after FROM job_requests r JOIN jobs j ON j.id = r.case_id "
            "WHERE r.taken_by IS NULL AND j.lease_owner = ? AND j.lease_expires IS NOT NULL "
            "ORDER BY r.id"
        )

        # A read first: a poll that finds nothing (the usual case) takes no write lock.
        if not self._read(pick, (owner,), f"look for requests for {owner!r}"):
            return []

        def write(execute: Execute) -> list[Any]:
            rows = execute(pick, (owner,)).fetchall()
            at = self.lease_time(time.time())  # by the clock void_after was set by
            taken = []
            for request_id, void_after in rows:
                ends = _void_after(void_after)
                if ends is not None and ends < at:
                    params: tuple[Any, ...] = ("", now, now, EXPIRED, request_id)
                    sql = "taken_by = ?, taken_at = ?, done_at = ?, outcome = ?"
                else:
                    params, sql = (owner, now, request_id), "taken_by = ?, taken_at = ?"
                cur = execute(
                    f"UPDATE job_requests SET {sql} WHERE id = ? AND taken_by IS NULL", params
                )
                if cur.rowcount == 1:
                    taken.append(request_id)
            out: list[Any] = []
            for chunk, marks in in_lists([str(i) for i in taken]):
                out.extend(
                    execute(
                        f"SELECT {_REQUEST} FROM job_requests WHERE id IN ({marks}) ORDER BY id",
                        [int(i) for i in chunk],
                    ).fetchall()
                )
            return out

        return [_request(row) for row in self._write(write, f"take requests for {owner!r}")]

    def finish_request(self, request_id: int, outcome: str, now: float) -> None:
        """Record what became of a request its worker carried out."""
        self._write(
            lambda execute: execute(
                "UPDATE job_requests SET done_at = ?, outcome = ? WHERE id = ?",
                (now, outcome, request_id),
            ),
            "finish a request",
        )

    def withdraw_request(self, request_id: int, now: float) -> bool:
        """Take back a request no worker has taken; ``False`` if one took it first."""

        def write(execute: Execute) -> bool:
            cur = execute(
                "UPDATE job_requests SET taken_by = ?, taken_at = ?, done_at = ?, "
                "outcome = ? WHERE id = ? AND taken_by IS NULL",
                ("", now, now, "withdrawn", request_id),
            )
            return bool(cur.rowcount == 1)

        return bool(self._write(write, "withdraw a request"))
