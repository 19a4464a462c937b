import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from bounds import TIMEOUT
from records import record

from actors import JobState, StoreError
from actors.stores import open_store
from actors.stores._postgres import PostgresStore
from actors.stores._schema import MIGRATIONS, current_version, migrate
from actors.stores._sql import mask_url

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


rec = record


def test_open_store_accepts_both_schemes(fresh_pg_url):
    assert fresh_pg_url.startswith("postgresql://")
    for url in (fresh_pg_url, "postgres://" + fresh_pg_url.split("://", 1)[1]):
        store = open_store(url, max_size=2)
        assert isinstance(store, PostgresStore)
        store.create(rec(f"via-{url[: url.index(':')]}"))
        store.close()


def test_passwords_never_show(fresh_pg_url):
    assert mask_url("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert mask_url("postgresql://db/x?password=s3cret&sslmode=require") == (
        "postgresql://db/x?password=***&sslmode=require"
    )
    assert mask_url("postgresql://bob@db/x") == "postgresql://bob@db/x"
    with pytest.raises(StoreError) as info:
        open_store("postgresql://bob:s3cret@127.0.0.1:1/nothing", timeout=2)
    text = str(info.value)
    assert "cannot open the PostgreSQL store at postgresql://bob:***@127.0.0.1:1/nothing" in text
    assert "s3cret" not in text


@pytest.mark.parametrize("where", ["url", "environment"])
def test_a_bad_connect_timeout_is_named_at_once(pg_url, monkeypatch, where):
    # The first connection overrode connect_timeout, so only the pool met the bad value:
    # the store waited out its timeout and said no more than that the pool did not open.
    url = pg_url + ("&" if "?" in pg_url else "?") + "connect_timeout=abc"
    if where == "environment":
        url = pg_url
        monkeypatch.setenv("PGCONNECT_TIMEOUT", "abc")
    with pytest.raises(StoreError) as info:
        open_store(url, timeout=2)
    assert "bad value for connect_timeout: 'abc'" in str(info.value)
    assert "connection pool" not in str(info.value)


def test_a_connect_timeout_in_the_url_is_kept(pg_url):
    url = pg_url + ("&" if "?" in pg_url else "?") + "connect_timeout=3"
    store = open_store(url, timeout=2)
    try:
        with store._pool.connection() as conn:
            assert conn.info.get_parameters()["connect_timeout"] == "3"
    finally:
        store.close()


def test_migrate_is_idempotent_and_safe_to_race(fresh_pg_url):
    errors = []
    start = threading.Barrier(4)

    def run():
        try:
            with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
                start.wait(timeout=TIMEOUT)
                migrate(conn)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=2 * TIMEOUT)
    assert not errors
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        assert current_version(conn) == MIGRATIONS[-1].version
        assert migrate(conn) == MIGRATIONS[-1].version
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]
        kinds = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'jobs'"
            ).fetchall()
        )
        assert kinds["data"] == "text"  # JSON text, exact round trip (see PostgresStore)
        assert kinds["joined"] == "boolean"
        indexes = {
            name
            for (name,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'jobs'")
        }
        assert {"jobs_claim", "jobs_case", "jobs_due"} <= indexes
        assert "jobs_parent" not in indexes  # migration 11: no query reads it
        # Migration 11: every column holding a job id compares byte by byte, so an
        # index search costs a memcmp, not the locale's strcoll, and any two of them
        # compare under one collation (an index of either serves the comparison).
        collations = conn.execute(
            "SELECT c.relname, a.attname, l.collname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_collation l ON l.oid = a.attcollation "
            "WHERE c.relkind = 'r' AND a.attnum > 0 AND (a.attname IN ('id', 'case_id', "
            "'parent_id', 'job_id') AND c.relname <> 'job_requests' OR c.relname = 'job_requests' "
            "AND a.attname IN ('case_id', 'job_id'))"
        ).fetchall()
        assert sorted(collations) == [
            ("job_requests", "case_id", "C"),
            ("job_requests", "job_id", "C"),
            ("jobs", "case_id", "C"),
            ("jobs", "id", "C"),
            ("jobs", "parent_id", "C"),
            ("join_arrivals", "parent_id", "C"),
            ("join_counts", "parent_id", "C"),
            ("step_history", "job_id", "C"),
        ]


def test_migrate_works_inside_a_non_autocommit_connection(fresh_pg_url):
    with psycopg.connect(fresh_pg_url) as conn:
        assert migrate(conn) == MIGRATIONS[-1].version
    with psycopg.connect(fresh_pg_url) as conn:
        assert current_version(conn) == MIGRATIONS[-1].version


@pytest.fixture
def pg_store(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE jobs, step_history, job_requests, join_arrivals, join_counts, workers"
        )
    store = PostgresStore(pg_url, max_size=4)
    yield store
    store.close()


def test_claim_skips_cases_another_worker_is_claiming_without_waiting(pg_store, pg_url):
    for job_id in ("a", "b", "c"):
        pg_store.create(rec(job_id))
    with psycopg.connect(pg_url) as other:
        other.execute("SELECT id FROM jobs WHERE id = 'a' FOR UPDATE")  # held, uncommitted
        got = pg_store.claim("w1", now=1.0, lease_seconds=10.0, limit=5)
        assert [j.id for j in got] == ["b", "c"]
        other.rollback()
    assert [j.id for j in pg_store.claim("w2", now=1.0, lease_seconds=10.0, limit=5)] == ["a"]


def test_a_heartbeat_waits_on_no_case_its_worker_holds(pg_store, pg_url):
    # A group commit holds root "b" while it saves: the heartbeat writes the worker's
    # lease alone, so it neither waits for the group nor touches a root.
    for job_id in ("a", "b", "c"):
        pg_store.create(rec(job_id))
    assert len(pg_store.claim("w1", now=1.0, lease_seconds=10.0, limit=5)) == 3
    with psycopg.connect(pg_url) as group:
        group.execute("SELECT id FROM jobs WHERE id = 'b' FOR UPDATE")  # held, uncommitted
        pg_store.heartbeat("w1", 5.0, 10.0)  # returns while "b" is locked
        group.rollback()
    assert pg_store.leases_held(5.0) == [("w1", 3, 15.0)]
    assert pg_store.claim("w2", now=14.9, lease_seconds=10.0, limit=5) == []
    assert [j.id for j in pg_store.claim("w2", now=15.1, lease_seconds=10.0, limit=5)] == [
        "a",
        "b",
        "c",
    ]


def test_a_save_writes_the_row_and_its_history_together(pg_store, pg_url):
    job = rec("atomic")
    pg_store.create(job)
    job.state = JobState.RUNNING
    pg_store.save(job)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        [(n,)] = conn.execute(
            "SELECT COUNT(*) FROM step_history WHERE job_id = 'atomic'"
        ).fetchall()
    assert n == 2
    assert [s for _, _, s, _ in pg_store.history("atomic")] == ["ready", "running"]


def test_store_error_when_the_database_goes_away(fresh_pg_url):
    store = PostgresStore(fresh_pg_url, max_size=1, timeout=2)
    store.create(rec("x"))
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE jobs")
    with pytest.raises(StoreError, match=r"cannot load x: .*jobs"):
        store.load("x")
    store.close()


def test_the_core_does_not_import_psycopg():
    code = (
        "import sys, actors, actors.stores\n"
        "actors.stores.open_store('memory://')\n"
        "assert 'psycopg' not in sys.modules, 'psycopg imported eagerly'\n"
        "sys.modules['psycopg'] = None  # as if it were not installed\n"
        "try:\n"
        "    actors.stores.open_store('postgresql://u:pw@h/db')\n"
        "except actors.StoreError as exc:\n"
        "    assert 'pip install' in str(exc) and 'pw@' not in str(exc), str(exc)\n"
        "else:\n"
        "    raise SystemExit('no StoreError')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_session_options_in_the_url_reach_every_connection(fresh_pg_url):
    # The documented way to trade a server crash's last commits for throughput.
    sep = "&" if "?" in fresh_pg_url else "?"
    store = PostgresStore(f"{fresh_pg_url}{sep}options=-c%20synchronous_commit%3Doff")
    try:
        store.create(rec("j"))
        assert store._read("SHOW synchronous_commit", (), "show") == [("off",)]
        assert store.load("j").step == "a"
    finally:
        store.close()


def test_a_role_that_cannot_create_tables_opens_an_upgraded_store(fresh_pg_url, pg_server):
    """The migrations are run by the schema's owner; workers run as a role with DML only.

    Opening the store wrote nothing when it was up to date, but it still ran
    ``CREATE TABLE IF NOT EXISTS schema_version``, which PostgreSQL refuses without the
    right to create in the schema: every worker and command of that role failed.
    """
    name = urlsplit(fresh_pg_url).path.lstrip("/")
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'actors_dml') "
            "THEN CREATE ROLE actors_dml LOGIN; END IF; END $$"
        )
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO actors_dml')
        conn.execute("GRANT USAGE ON SCHEMA public TO actors_dml")
        conn.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO actors_dml"
        )
        conn.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO actors_dml")
    url = fresh_pg_url.replace("postgres:@", "actors_dml:@", 1)
    assert url != fresh_pg_url
    store = open_store(url)
    try:
        store.create(rec("c1", step="a"))
        assert store.get("c1").step == "a"
    finally:
        store.close()
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        assert current_version(conn) == MIGRATIONS[-1].version
        conn.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM actors_dml")
        conn.execute("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM actors_dml")
        conn.execute("REVOKE ALL ON SCHEMA public FROM actors_dml")
        conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM actors_dml')


def test_a_prune_never_deletes_a_case_a_retry_reopened_meanwhile(fresh_pg_url):
    """A retry that commits while a prune runs: the case is kept, or the retry finds none.

    The prune picked the finished roots, then deleted their cases by id: a case retried
    in between (READY again, its operator told "retried") was deleted all the same.
    """
    from actors import JobNotFoundError
    from actors.admin import Admin

    store = open_store(fresh_pg_url)
    store.create(rec("f1", state=JobState.FAULTED, error="boom"))
    store.close()
    outcome: list[object] = []

    def retry() -> None:
        with Admin(fresh_pg_url, operator="bob") as other:
            try:
                outcome.append(other.retry("f1").outcome)
            except JobNotFoundError as exc:
                outcome.append(exc)

    def retry_waits_or_ended(racer: threading.Thread) -> bool:
        if not racer.is_alive():
            return True
        with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
        return bool(row and row[0])

    with Admin(fresh_pg_url, operator="alice") as admin:
        write = admin.store._write
        racer = threading.Thread(target=retry)

        def racing_write(fn, what):
            def picked_then_raced(execute):
                def traced(sql, params):
                    result = execute(sql, params)
                    if sql.startswith("SELECT r.id FROM jobs r") and not racer.is_alive():
                        racer.start()
                        deadline = time.monotonic() + TIMEOUT
                        while not retry_waits_or_ended(racer):
                            assert time.monotonic() < deadline, "the retry neither ran nor waited"
                            threading.Event().wait(0.01)
                    return result

                return fn(traced)

            return write(picked_then_raced, what)

        admin.store._write = racing_write
        pruned = admin.prune(0)
        admin.store._write = write
        racer.join(TIMEOUT)
        assert not racer.is_alive()
        if outcome == ["retried"]:
            assert admin.job("f1").state is JobState.READY  # kept, as the retry said
            assert pruned.cases == 0
        else:
            assert isinstance(outcome[0], JobNotFoundError), outcome  # pruned first
            assert pruned.cases == 1


def test_a_migration_the_server_ends_in_a_deadlock_runs_again(fresh_pg_url, monkeypatch):
    """A worker of the release before, still running, reads jobs then writes it.

    Migration 7 builds an index (holding off writes), then drops one, waiting for that
    worker's read to end: the worker's write waits on the migration, which waits on the
    worker, and the server ends one of them (the worker, when it is the one to wait last:
    its transaction is rolled back, and the migration goes on). Here the migration is
    ended, as `actors db upgrade` beside such a worker was, failing with DeadlockDetected:
    it runs again, in a transaction of its own, and the upgrade completes.
    """
    from psycopg.errors import DeadlockDetected

    from actors.stores import _schema

    real_apply = _schema._apply
    ended = []

    def apply(execute, migration, *args):
        version = real_apply(execute, migration, *args)
        if migration.version == 7 and not ended:
            ended.append(migration.version)
            raise DeadlockDetected("deadlock detected")  # as the server ends it
        return version

    monkeypatch.setattr(_schema, "_apply", apply)
    applied = []
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        assert migrate(conn, applied) == MIGRATIONS[-1].version
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert ended == [7]
    assert [m.version for m in applied] == [m.version for m in MIGRATIONS]  # 7 once
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]
