"""The check a ``Schedule`` message (``actors.messages``) makes of its fields' types."""

from __future__ import annotations

from typing import Any

import pykka

__all__ = ["schedule_problem"]


def schedule_problem(reply_to: Any, version: Any, job_id: Any) -> str | None:
    """What is wrong with a ``Schedule``'s ``reply_to``, ``version`` or ``job_id`` type."""
    if reply_to is not None and not isinstance(reply_to, pykka.ActorRef):
        hint = ""
        if isinstance(reply_to, pykka.Actor):
            hint = " (inside an actor, pass self.actor_ref)"
        elif isinstance(reply_to, pykka.ActorProxy):
            hint = " (pass the proxy's actor_ref)"
        kind = type(reply_to).__name__
        return f"Schedule(reply_to=...) takes an actor's pykka.ActorRef or None, got {kind}{hint}"
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        kind = type(version).__name__
        return f"Schedule(version=...) takes an int or None, got {kind} {version!r:.60}"
    if job_id is not None and not isinstance(job_id, str):
        kind = type(job_id).__name__
        return f"Schedule(job_id=...) takes a str or None, got {kind} {job_id!r:.60}"
    return None
