"""How the SQL stores list jobs for the operator: the conditions, parts and index of a page.

``SqlAdmin.query_jobs`` builds its statement from these. Every value reaches SQL as a
parameter.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from actors._job import JobState
from actors.stores._admin_types import JobQuery

__all__ = ["filters", "listing_index", "state_parts"]


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filters(
    query: JobQuery, after: tuple[float, str] | None, listing_id: str
) -> tuple[list[str], list[Any]]:
    """The conditions and parameters of ``query`` but its states, and of ``after``."""
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
        where.append(f"(created_at, {listing_id}) < (?, ?)")
        params.extend(after)
    return where, params


def listing_index(query: JobQuery) -> str | None:
    """The index of migration 7 a listing by ``query`` walks (``None``: the planner's pick).

    SQLite, without statistics, would rather read every root through ``jobs_parent``
    and sort them for a listing of cases. The first filter that has an index of its own
    picks it: a state (one part per state), then a workflow, then cases only. A case's
    jobs are few: ``jobs_case`` finds them, and they are sorted.
    """
    if query.case_id is not None:
        return None
    if query.states:
        return "jobs_listed_state"
    if query.workflow is not None:
        return "jobs_listed_workflow"
    return "jobs_listed_cases" if query.roots else "jobs_listed"


def state_parts(states: tuple[JobState, ...]) -> list[tuple[str, list[Any]]]:
    """One (condition, parameters) per state asked for, each served by the state index.

    A row whose state is no state reads FAULTED (see ``_stored``): with FAULTED, the
    ranges between the known states are asked for too, each empty in a sound store.
    """
    parts: list[tuple[str, list[Any]]] = [
        ("state = ?", [state.value]) for state in dict.fromkeys(states)
    ]
    if JobState.FAULTED in states:
        known = sorted(s.value for s in JobState)
        parts.append(("state < ?", [known[0]]))
        parts.extend(("state > ? AND state < ?", [low, high]) for low, high in pairwise(known))
        parts.append(("state > ?", [known[-1]]))
    return parts
