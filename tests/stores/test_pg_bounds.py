"""Every connection of the PostgreSQL store has bounded waits, and the URL's own settings win.

The defaults (``LINK_DEFAULTS``, a ``connect_timeout`` of the store's ``timeout``, a
``statement_timeout`` of a third of the lease) reach the pool's connections and the
listening one; a URL that sets any of them keeps its own value, and a URL whose
``options`` set ``statement_timeout`` keeps the server's bound to itself. A statement
the server does not answer in time fails as an outage (``blames_job`` false) within its
bound, and the message says so, its secrets masked.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pg_outage import frozen
from records import record

from actors import StoreError
from actors.stores import open_store
from actors.stores._pg_session import LINK_DEFAULTS
from actors.stores._postgres import PostgresStore

pytestmark = pytest.mark.postgres


def _with(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _link(store) -> dict[str, str]:
    with store._pool.connection() as conn:
        params = conn.info.get_parameters()
        params["statement_timeout"] = conn.execute("SHOW statement_timeout").fetchone()[0]
    return params


def _listening(store) -> dict[str, str]:
    stop = store.watch(lambda: None)
    try:
        listener = store._listener
        assert listener is not None
        return {name: str(value) for name, value in listener._params.items()}
    finally:
        stop()  # no watcher left in the process's registry for the next tests


def test_the_stores_connections_have_a_connect_timeout_keepalives_and_a_statement_bound(
    fresh_pg_url,
):
    store = open_store(fresh_pg_url, timeout=7.0)
    try:
        link = _link(store)
        for name, value in {**LINK_DEFAULTS, "connect_timeout": 7}.items():
            assert link.get(name) == str(value), (name, link)
        assert link["statement_timeout"] == "10s"  # a third of the store's 30 s lease
        store.lease_seconds = 6.0  # as a Mediator sets it: the bound follows
        assert _link(store)["statement_timeout"] == "2s"
        assert store.statement_bound() == 2.0
        listening = _listening(store)
        assert listening["keepalives_idle"] == str(LINK_DEFAULTS["keepalives_idle"])
        assert listening["connect_timeout"] == "7"
    finally:
        store.close()


def test_the_urls_own_settings_win_over_the_defaults(fresh_pg_url):
    url = _with(
        fresh_pg_url,
        "connect_timeout=30&keepalives_idle=77&tcp_user_timeout=1234"
        "&options=-c%20statement_timeout%3D4321",
    )
    store = open_store(url)
    try:
        link = _link(store)
        assert (link["connect_timeout"], link["keepalives_idle"]) == ("30", "77")
        assert link["tcp_user_timeout"] == "1234"
        assert link["keepalives_count"] == str(LINK_DEFAULTS["keepalives_count"])
        store.lease_seconds = 6.0
        assert _link(store)["statement_timeout"] == "4321ms"  # the URL's, not the lease's
        assert "keepalives_idle" not in _listening(store)  # the URL's own applies
    finally:
        store.close()


def test_an_explicit_statement_timeout_replaces_the_leases_share(fresh_pg_url):
    store = open_store(fresh_pg_url, statement_timeout=2.5)
    try:
        store.lease_seconds = 60.0
        assert _link(store)["statement_timeout"] == "2500ms"
    finally:
        store.close()


@pytest.mark.slow
def test_a_statement_the_server_does_not_answer_fails_as_an_outage_in_time(pg_server, fresh_pg_url):
    url = fresh_pg_url.replace("postgres:@", "postgres:s3cret@", 1)
    store = open_store(url, statement_timeout=1.0)
    try:
        store.create(record("c"))
        with frozen(pg_server):
            began = time.monotonic()
            with pytest.raises(StoreError) as caught:
                store.get("c")
            took = time.monotonic() - began
            began = time.monotonic()
            with pytest.raises(StoreError):  # no connection to be had: waited for as long
                store.get("c")
            waited = time.monotonic() - began
        assert not caught.value.blames_job  # an outage, not the job's fault
        assert "no answer within 1.5s" in str(caught.value)
        assert "s3cret" not in str(caught.value)
        assert took < 5.0  # cut at 1.5 s; never a second wait on another connection
        assert waited < 5.0  # not the pool's timeout (10 s)
        assert store.get("c") is not None  # answered again once the server is
    finally:
        store.close()


def test_actors_db_upgrade_connects_with_the_timeout_and_keepalives(fresh_pg_url):
    from actors._cli_db import _schema_connection

    with _schema_connection(_with(fresh_pg_url, "keepalives_idle=77")) as conn:
        params = conn.info.get_parameters()
    assert (params["connect_timeout"], params["keepalives_idle"]) == ("10", "77")
    assert params["keepalives_count"] == str(LINK_DEFAULTS["keepalives_count"])


@pytest.mark.postgres
@pytest.mark.parametrize("option", ["timeout", "statement_timeout"])
@pytest.mark.parametrize("value", [float("nan"), -1, 0, float("inf"), 1e10, "10"])
def test_a_bound_that_is_no_time_is_refused_naming_it(
    pg_database: Any, option: str, value: Any
) -> None:
    """Each was taken: NaN failed in int(), 0 and -1 "no answer within -1.0s", 1e10 overflowed."""
    url = pg_database("actors_bad_bounds")
    with pytest.raises(ValueError, match=rf"^{option} must be a number of seconds above 0"):
        PostgresStore(url, **{option: value})


@pytest.mark.postgres
def test_a_statement_timeout_past_the_servers_integers_is_cut_to_its_longest(
    pg_database: Any,
) -> None:
    """At 1e7 s every statement failed: the server refused 10000000000ms."""
    store = PostgresStore(pg_database("actors_long_bound"), statement_timeout=1e7)
    try:
        assert store.get("x") is None
    finally:
        store.close()
