"""How the SQL stores list jobs for the operator: the conditions, parts and index of a page.

``SqlAdmin.query_jobs`` builds its statement from these. Every value reaches SQL as a
parameter.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

from actors._job import JobState
from actors.stores._admin_types import JobQuery, ListingPosition, RawText

__all__ = ["filters", "parts"]


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filters(
    query: JobQuery, after: ListingPosition | None, listing_id: str, *, text_times: bool
) -> tuple[list[str], list[Any]]:
    """The conditions and parameters of ``query`` but its states, and of ``after``.

    ``text_times``: whether a time column may hold text (SQLite) rather than NaN.
    """
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("workflow", query.workflow),
        ("version", query.version),
        ("step", query.step),
        ("case_id", query.case_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.created_after is not None:
        where.append("created_at >= ?")
        params.append(query.created_after)
    if query.created_before is not None:
        where.append("created_at < ?")
        params.append(query.created_before)
    if query.error is not None:
        where.append("LOWER(error) LIKE ? ESCAPE '\\'")
        params.append(_like(query.error))
    if query.roots:
        where.append("parent_id IS NULL")
    if after is not None:
        created, job_id = after
        if text_times and isinstance(created, float) and math.isnan(created):
            # SQLite binds NaN as NULL (nothing compares): past every number, before
            # every text, as PostgreSQL orders its NaN (and the memory store).
            created, job_id = "", ""
        if text_times or isinstance(created, float):
            # Text that is not UTF-8 is bound as its bytes, cast back into text.
            held = "CAST(? AS TEXT)" if isinstance(created, RawText) else "?"
            where.append(f"(created_at, {listing_id}) < ({held}, ?)")
            params.extend((created, job_id))
        # PostgreSQL holds no text or bytes: every row is past a cursor naming them.
    return where, params


def _index(query: JobQuery, walked: bool) -> str | None:
    """The index a part reads on SQLite (``None``: the planner's pick, as for one case)."""
    if query.case_id is not None:
        return None  # a case's jobs are few: jobs_case finds them, and they are sorted
    if not walked:
        return "jobs_claim"
    return "jobs_listed_cases" if query.roots else "jobs_listed"


def parts(query: JobQuery) -> list[tuple[str, list[Any], str | None]]:
    """One (condition, parameters, index) per part of a listing by ``query``: one per state.

    The index is the one the part reads on SQLite, which, without statistics, would
    rather read every root through ``jobs_parent`` and sort them for a listing of
    cases. Everything and DONE (the bulk of a store) walk ``jobs_listed`` (or
    ``jobs_listed_cases``, cases only) in the listing's order, the other filters
    narrowing the walk. Every other state reads its jobs through ``jobs_claim`` (state,
    lease expiry), and they are sorted: jobs under way, or FAULTED, CANCELLED and SHED
    ones an operator acts on, however long the store's finished history.

    A row whose state is no state reads FAULTED (see ``_stored``): with FAULTED, the
    ranges between the known states are asked for too, each empty in a sound store.
    """
    if not query.states:
        return [("", [], _index(query, walked=True))]
    found: list[tuple[str, list[Any], str | None]] = [
        ("state = ?", [state.value], _index(query, walked=state is JobState.DONE))
        for state in dict.fromkeys(query.states)
    ]
    if JobState.FAULTED in query.states:
        known = sorted(s.value for s in JobState)
        other = _index(query, walked=False)
        found.append(("state < ?", [known[0]], other))
        found.extend(
            ("state > ? AND state < ?", [low, high], other) for low, high in pairwise(known)
        )
        found.append(("state > ?", [known[-1]], other))
    return found
