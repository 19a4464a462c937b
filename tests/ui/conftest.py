"""Fixtures of the dashboard tests: a SQLite store filled by the example's worker."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("starlette", reason="the dashboard needs the ui extra")

import dashboard  # examples/dashboard.py
from actors.stores import open_store


class RecordingActions:
    """Admin actions that only record what they were asked (for the HTTP guard tests)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def retry(self, job_id: str) -> str:
        self.calls.append(("retry", job_id))
        return f"retried {job_id}"

    def cancel(self, case_id: str) -> str:
        self.calls.append(("cancel", case_id))
        return f"cancelled {case_id}"

    def send_event(self, correlation_id: str, payload: Any, *, fault: bool) -> str:
        self.calls.append(("event", correlation_id, payload, fault))
        return f"sent to {correlation_id}"


@pytest.fixture(scope="module")
def shipments(tmp_path_factory):
    """The URL of a SQLite store holding 2 DONE, 1 FAULTED and 1 WAITING shipment."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ui') / 'shipments.db'}"
    worker = dashboard.fill(url, done=2, faulted=1, waiting=1)
    worker.shutdown(drain=False)
    return url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def any_shipments(request, tmp_path_factory):
    """The same shipments in SQLite, then in PostgreSQL (a database of the module's own)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("shipments")
        return
    from pg_throwaway import drop_database, fresh_database

    server = request.getfixturevalue("pg_server")
    url = fresh_database(server, "actors_ui")
    worker = dashboard.fill(url, done=2, faulted=1, waiting=1)
    worker.shutdown(drain=False)
    yield url
    drop_database(server, "actors_ui")


@pytest.fixture
def actions():
    return RecordingActions()


@pytest.fixture
def store(shipments):
    """The shipments store, opened for one test."""
    store = open_store(shipments)
    yield store
    store.close()


@pytest.fixture
def any_store(any_shipments):
    """The shipments store on SQLite, then on PostgreSQL, opened for one test."""
    store = open_store(any_shipments)
    yield store
    store.close()
