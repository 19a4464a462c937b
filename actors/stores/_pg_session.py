"""How the PostgreSQL store's sessions connect: their settings and the first timeout."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

__all__ = ["IDLE_IN_TRANSACTION", "first_connect_timeout", "session_options"]

IDLE_IN_TRANSACTION = 10.0
"""Seconds the server lets a session of this store sit idle inside a transaction before
it ends the session. A worker frozen in the middle of a write (SIGSTOP, a paused VM, a
partition) held its row locks for as long as its connection lived, hours at TCP's pace:
no other worker could take its cases once its lease ran out (claims pass over locked
rows), and an operator's cancel waited on them. Shorter than the default lease, so the
locks are gone by the time a takeover may happen; far longer than any transaction of
the engine's own waits between two statements."""


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


def first_connect_timeout(url: str, timeout: float) -> dict[str, int]:
    """``connect_timeout`` for the first connection: ``timeout``, unless the user set one.

    A ``connect_timeout`` of the URL (or ``PGCONNECT_TIMEOUT``) is the pool's too, so the
    first connection keeps it: overriding it there left a bad value (``abc``) for the
    pool alone, which only timed out instead of naming it.
    """
    if os.environ.get("PGCONNECT_TIMEOUT") is not None:
        return {}
    try:
        given = "connect_timeout" in conninfo_to_dict(url)
    except psycopg.Error:
        given = False  # psycopg.connect names what is wrong with the URL
    return {} if given else {"connect_timeout": max(1, int(timeout))}
