"""How the PostgreSQL store's sessions connect: their settings, timeouts and keepalives."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from actors._seconds import seconds_option

__all__ = [
    "IDLE_IN_TRANSACTION",
    "LINK_DEFAULTS",
    "checked_bounds",
    "connect_params",
    "own_statement_timeout",
    "session_options",
]

IDLE_IN_TRANSACTION = 10.0
"""Seconds the server lets a session of this store sit idle inside a transaction before
it ends the session. A worker frozen in the middle of a write (SIGSTOP, a paused VM, a
partition) held its row locks for as long as its connection lived, hours at TCP's pace:
no other worker could take its cases once its lease ran out (claims pass over locked
rows), and an operator's cancel waited on them. Shorter than the default lease, so the
locks are gone by the time a takeover may happen; far longer than any transaction of
the engine's own waits between two statements."""


def checked_bounds(timeout: Any, statement_timeout: Any) -> tuple[float, float | None]:
    """The store's ``timeout`` and ``statement_timeout``, each above 0 up to a century.

    ``ValueError`` naming the option otherwise: a NaN failed in ``int()``, 0 or -1 failed
    the first migration ("no answer within -1.0s"), 1e10 overflowed a wait.
    """
    if statement_timeout is not None:
        statement_timeout = seconds_option("statement_timeout", statement_timeout, above_zero=True)
    return seconds_option("timeout", timeout, above_zero=True), statement_timeout


def session_options(url: str, *, read_only: bool) -> dict[str, Any]:
    """Connection options for the store's sessions: the URL's own ``options`` kept."""
    try:
        own = conninfo_to_dict(url).get("options") or ""
    except psycopg.Error:  # a malformed URL: psycopg.connect names what is wrong with it
        own = ""
    settings = [f"-c idle_in_transaction_session_timeout={int(IDLE_IN_TRANSACTION * 1000)}"]
    if read_only:  # every transaction of every connection is, so the server refuses writes
        settings.append("-c default_transaction_read_only=on")
    return {"options": " ".join([str(own), *settings]).strip()}


LINK_DEFAULTS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
"""libpq parameters of every connection of the store, unless its URL gives its own. Over
TCP a peer that goes silent (a machine that vanished, a network that drops packets) is
found dead after 25 s idle (10 s, then 3 probes 5 s apart) instead of hours, and data
unacknowledged for 30 s ends the connection. libpq ignores them on a Unix socket."""


def _given(url: str) -> set[str]:
    try:
        return set(conninfo_to_dict(url))
    except psycopg.Error:
        return set()  # psycopg.connect names what is wrong with the URL


def connect_params(url: str, timeout: float) -> dict[str, Any]:
    """The libpq parameters of every connection to ``url``, the URL's own left to win.

    ``connect_timeout`` is ``timeout`` unless the URL (or ``PGCONNECT_TIMEOUT``) sets one:
    a server that accepts the connection and then says nothing (frozen, or behind a
    network that drops packets) is given up on instead of waited on for ever. A bad value
    of the URL's (``abc``) is kept, so that the first connection names it.
    """
    given = _given(url)
    params: dict[str, Any] = {k: v for k, v in LINK_DEFAULTS.items() if k not in given}
    if "connect_timeout" not in given and os.environ.get("PGCONNECT_TIMEOUT") is None:
        params["connect_timeout"] = max(1, int(timeout))
    return params


def own_statement_timeout(url: str) -> bool:
    """Whether the URL's ``options`` (or ``PGOPTIONS``) set ``statement_timeout``.

    The store then leaves the server's bound to them (its own cut still applies).
    """
    try:
        own = conninfo_to_dict(url).get("options") or ""
    except psycopg.Error:
        own = ""
    return "statement_timeout" in f"{own} {os.environ.get('PGOPTIONS', '')}"
