"""Migration 17: a request carries when its sender stops waiting, and is void after that.

A command killed while it waits for a worker (SIGKILL, its terminal closed) cannot
withdraw its request; a worker frozen or down at the time took it later, maybe an hour
later, and acted on it, though the operator had seen the command die. The sender's
deadline is stored with the request (``void_after``, by the store's clock); a worker
that comes to it past that time marks it ``expired`` and never carries it out, and a
sender late to look at it (frozen) says nothing was changed. A request of the release
before (no such time) is taken as it was.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from records import record

from actors import JobState, Mediator, RequestReaction, Workflow
from actors.admin import Admin, CaseBusyError
from actors.stores import _schema, open_store
from actors.stores._admin_types import EXPIRED
from actors.stores._schema import MIGRATIONS


def _held(store: Any, case: str = "c1", owner: str = "w1") -> None:
    store.create(record(case))
    assert store.claim(owner, now=time.time(), lease_seconds=60.0, limit=1)


def test_a_request_past_its_senders_wait_is_marked_expired_and_never_taken(make_sql_store):
    store = make_sql_store()
    _held(store)
    at = store.lease_time(time.time())
    late = store.post_request("c1", "c1", "cancel", None, "ann", time.time(), at - 1.0)
    kept = store.post_request("c1", "c1", "cancel", None, "bob", time.time(), at + 60.0)
    timeless = store.post_request("c1", "c1", "cancel", None, "cy", time.time())
    taken = store.take_requests("w1", time.time())
    assert [(r.id, r.operator, r.taken_by, r.outcome) for r in taken] == [
        (late, "ann", "", EXPIRED),
        (kept, "bob", "w1", None),
        (timeless, "cy", "w1", None),
    ]
    expired = store.get_request(late)
    assert expired is not None and expired.done_at is not None
    assert (expired.outcome, expired.void_after) == (EXPIRED, at - 1.0)
    assert store.get_request(kept).void_after == at + 60.0
    assert store.take_requests("w1", time.time()) == []  # each is taken or expired once
    assert not store.withdraw_request(late, time.time())  # not waiting any more


def test_a_void_time_edited_into_text_or_nan_is_no_time(make_sql_store):
    """As SQL compares them: text (SQLite) and NaN sort after every time, never passed."""
    store = make_sql_store()
    _held(store)
    first = store.post_request("c1", "c1", "cancel", None, "ann", time.time(), 1.0)
    second = store.post_request("c1", "c1", "cancel", None, "bob", time.time(), 1.0)
    value = "'soon'" if make_sql_store.kind == "sqlite" else "'NaN'"
    make_sql_store.raw(f"UPDATE job_requests SET void_after = {value} WHERE id = {first}")
    taken = store.take_requests("w1", time.time())
    assert [(r.id, r.outcome, r.void_after) for r in taken] == [
        (first, None, None),
        (second, EXPIRED, 1.0),
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return str(request.getfixturevalue("pg_database")("actors_request_expiry"))


def _run(url: str, *statements: str) -> list[Any]:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            return [conn.execute(sql).fetchall() for sql in statements]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        done = [pg.execute(sql) for sql in statements]
        return [cur.fetchall() if cur.description else [] for cur in done]


def test_a_version_16_store_upgrades_and_its_requests_are_taken_as_before(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:  # the release of migration 16
        patch.setattr(_schema, "MIGRATIONS", MIGRATIONS[:16])
        open_store(empty_url).close()
    # A request its release posted long ago, with no void time: never void.
    _run(
        empty_url,
        "INSERT INTO job_requests (case_id, job_id, kind, payload, operator, posted_at) "
        "VALUES ('c1', 'c1', 'cancel', NULL, 'ann', 1.0)",
    )
    store = open_store(empty_url)
    try:
        [[(version,)]] = _run(empty_url, "SELECT MAX(version) FROM schema_version")
        assert version == 17 == MIGRATIONS[16].version
        _held(store)
        [request] = store.take_requests("w1", time.time())
        assert (request.operator, request.taken_by, request.outcome) == ("ann", "w1", None)
        assert request.void_after is None
        at = store.lease_time(time.time())  # and the new column is written and read
        late = store.post_request("c1", "c1", "cancel", None, "bob", time.time(), at - 1.0)
        assert [r.outcome for r in store.take_requests("w1", time.time())] == [EXPIRED]
        assert store.get_request(late).void_after == at - 1.0
    finally:
        store.close()


FLOW = Workflow(
    "order",
    start="ask",
    steps=[RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: None)],
)


def test_a_sender_whose_request_expired_before_the_worker_took_it_says_nothing_changed(
    make_sql_store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender frozen past its deadline (here: one whose requests are void at once).

    It was told ``expired`` as what the worker did, ``via worker``: it says, as at its
    timeout, that the worker did not take the action and nothing was changed.
    """
    url = f"sqlite:///{make_sql_store.path}" if make_sql_store.kind == "sqlite" else None
    monkeypatch.setattr("actors._admin_delivery.TOLERANCE", -3600.0)  # void an hour ago
    with (
        Mediator([FLOW], store=url or make_sql_store.url, owner="w1", poll_interval=0.02) as m,
        Admin(url or make_sql_store.url, operator="ann", timeout=TIMEOUT) as admin,
    ):
        m.schedule("order", {}, job_id="a")
        wait_until(lambda: admin.job("a").state is JobState.WAITING)
        with pytest.raises(CaseBusyError, match="did not take the cancel within"):
            admin.cancel("a")
        assert admin.job("a").state is JobState.WAITING  # not cancelled
        assert [e.action for e in admin.history("a") if e.action] == ["cancel (expired, by worker)"]
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        re.fullmatch(
            r"operator ann: cancel of job a \(request \d+\) not carried out: its "
            r"sender stopped waiting for it before this worker took it; nothing was "
            r"done",
            line,
        )
        for line in said
    ), said
