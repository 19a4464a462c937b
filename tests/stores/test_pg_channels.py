"""PostgreSQL: each schema holding a store has a ``NOTIFY`` channel of its own.

Every store listened and notified on one channel, ``actors_cases``, and a database's
channels are shared by all its schemas: the workers of one schema woke (and polled) for
every case written to another. A schema's name may hold any character and be 63 bytes
long, where a channel name is an identifier of at most 63 bytes.
"""

from __future__ import annotations

import threading
from urllib.parse import quote

import psycopg
import pytest
from bounds import TIMEOUT
from psycopg import sql

from actors.stores import open_store

pytestmark = pytest.mark.postgres

ODD = 'we"ird sch.ema'
LONG = "x" * 61 + "é"  # 63 bytes, the longest name PostgreSQL keeps


def _in_schema(url: str, schema: str, name: str) -> str:
    """``url`` with ``schema`` as its search_path (quoted, its spaces escaped for libpq)."""
    quoted = '"' + schema.replace('"', '""') + '"'
    options = "-c search_path=" + quoted.replace("\\", "\\\\").replace(" ", "\\ ")
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}application_name={name}&options={quote(options, safe='')}"


def _listening(url: str) -> dict[str, str]:
    """The channel each listening connection listens on, by application name."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
        ).fetchall()
    out = {}
    for name, query in rows:
        channel = query.removeprefix("LISTEN ").strip()
        if channel.startswith('"'):
            channel = channel[1:-1].replace('""', '"')
        out[name] = channel
    return out


def test_stores_in_two_schemas_listen_and_notify_on_channels_of_their_own(
    fresh_pg_url: str,
) -> None:
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        for schema in (ODD, LONG):
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    odd = open_store(_in_schema(fresh_pg_url, ODD, "odd"))
    long = open_store(_in_schema(fresh_pg_url, LONG, "long"))
    odd_writer = open_store(_in_schema(fresh_pg_url, ODD, "odd-writer"))  # another process's
    woken = threading.Event()
    try:
        stop = [odd.watch(woken.set), long.watch(lambda: None)]  # LISTEN in place on return
        channels = _listening(fresh_pg_url)
        assert set(channels) == {"odd", "long"}, channels
        assert channels["odd"] != channels["long"]
        assert all(len(c.encode()) <= 63 for c in channels.values())
        with psycopg.connect(fresh_pg_url, autocommit=True) as raw:
            for channel in channels.values():
                raw.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            long.announce()
            odd_writer.announce()
            got = [n.channel for n in raw.notifies(timeout=TIMEOUT, stop_after=2)]
        assert got == [channels["long"], channels["odd"]]
        assert woken.wait(TIMEOUT)  # odd's listener heard its own schema's case
        for undo in stop:
            undo()
    finally:
        for store in (odd, long, odd_writer):
            store.close()


def test_a_channel_is_an_identifier_for_any_schema_name() -> None:
    from actors.stores._pg_listen import CHANNEL, channel_of

    assert channel_of("public") == CHANNEL  # as before: older workers there still hear it
    names = [LONG, "x" * 61 + "è", ODD, "Public", "public ", "", "é" * 31]
    channels = [channel_of(name) for name in names]
    assert len(set(channels)) == len(names)
    assert all(len(c.encode()) <= 63 and c.isascii() for c in channels)
    assert channels == [channel_of(name) for name in names]  # the same in every process
