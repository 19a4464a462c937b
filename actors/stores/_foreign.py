"""What tells this engine's schema from another application's tables, and how a refusal reads.

Shared by SQLite (a file) and PostgreSQL (the schema tables are created in): a place that
holds tables or views, none of them this engine's schema, is another application's, and a
store refuses it before writing anything (``ForeignDatabaseError``).
"""

from __future__ import annotations

__all__ = ["OURS", "SHOWN", "is_ours", "refusal"]

SHOWN = 5
"""How many of a foreign database's tables its error names."""

OURS: dict[str, frozenset[str]] = {
    "schema_version": frozenset({"version", "description", "applied_at"}),
    "jobs": frozenset({"id", "case_id", "workflow", "version", "state", "data", "lease_owner"}),
}
"""Columns this engine's schema has had from its first migration on, in the tables that
migration made together with its version row: a place holding both is one of ours (of any
version), where a ``schema_version`` or ``jobs`` table alone may be anyone's."""


def is_ours(columns: dict[str, set[str]]) -> bool:
    """Whether ``columns`` (of each table of ``OURS`` found, by name) are this engine's."""
    return all(table in columns and need <= columns[table] for table, need in OURS.items())


def refusal(where: str, found: list[tuple[str, str]], remedy: str) -> str:
    """The error of a refused database: ``where`` it is, its tables and views, what to do.

    ``found`` holds (``"table"`` or ``"view"``, name) in name order.
    """
    names = [name for _, name in found]
    shown = ", ".join(names[:SHOWN])
    if len(names) > SHOWN:
        shown += f" and {len(names) - SHOWN} more"
    if "jobs" in names:  # the table this engine would have made
        shown += "; its jobs table is not an actors store's"
    what = "tables" if all(kind == "table" for kind, _ in found) else "tables and views"
    return (
        f"{where} holds another application's {what} ({shown}) and no actors schema; "
        f"nothing was written to it: {remedy}"
    )
