"""What the dashboard's buttons do: retry a job, cancel a case, send an event."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["ActionError", "Actions"]


class ActionError(Exception):
    """An action the dashboard cannot carry out; the message says why, for the operator."""


class Actions(Protocol):
    """Carries out the dashboard's actions; each returns a sentence saying what it did."""

    def retry(self, job_id: str) -> str:
        """Run the FAULTED job ``job_id`` again from the step that faulted."""

    def cancel(self, case_id: str) -> str:
        """Cancel the case ``case_id`` and every branch below it."""

    def send_event(self, correlation_id: str, payload: Any, *, fault: bool) -> str:
        """Deliver an event (or a fault) to the job waiting on ``correlation_id``."""
