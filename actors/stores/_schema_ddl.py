"""The SQL stores' tables and indexes as their migrations create them, per dialect.

Statements only: ``actors.stores._schema`` numbers them into migrations and applies them.
"""

from __future__ import annotations

__all__ = ["LISTING_ID", "POSTGRES", "SQLITE"]

SQLITE = "sqlite"
POSTGRES = "postgres"

LISTING_ID = {SQLITE: "id", POSTGRES: 'id COLLATE "C"'}
"""How a listing orders ids, per dialect: by code point, as Python orders ``str``."""


def _jobs_table(dialect: str) -> str:
    pg = dialect == POSTGRES
    real = "DOUBLE PRECISION" if pg else "REAL"
    boolean = "BOOLEAN NOT NULL DEFAULT FALSE" if pg else "INTEGER NOT NULL DEFAULT 0"
    # SQLite orders by its implicit rowid (insertion order); PostgreSQL needs a column.
    seq = "    seq BIGINT GENERATED ALWAYS AS IDENTITY,\n" if pg else ""
    return f"""
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
{seq}    case_id TEXT NOT NULL,
    workflow TEXT NOT NULL,
    version INTEGER NOT NULL,
    step TEXT,
    data TEXT NOT NULL,
    state TEXT NOT NULL,
    parent_id TEXT,
    branch_index INTEGER,
    attempt INTEGER NOT NULL DEFAULT 1,
    error TEXT,
    due {real},
    event TEXT,
    split_step TEXT,
    split_total INTEGER NOT NULL DEFAULT 0,
    split_live INTEGER NOT NULL DEFAULT 0,
    arrivals TEXT,
    join_step TEXT,
    joined {boolean},
    branch_error TEXT,
    branch_cancelled {boolean},
    gen INTEGER NOT NULL DEFAULT 0,
    cancel_requested {boolean},
    lease_owner TEXT,
    lease_expires {real},
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    finished_at {real}
)"""


def _history_table(dialect: str) -> str:
    # Keyed by (job, seq) so one B-tree holds it: in SQLite (WITHOUT ROWID) an appended
    # row dirties one page, not a table page and an index page. seq is a nanosecond
    # timestamp made strictly increasing per store (see SqlStore._seq).
    real, suffix = ("DOUBLE PRECISION", "") if dialect == POSTGRES else ("REAL", " WITHOUT ROWID")
    return f"""
CREATE TABLE step_history (
    job_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    step TEXT,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    at {real} NOT NULL,
    PRIMARY KEY (job_id, seq)
){suffix}"""


def _indexes() -> tuple[str, ...]:
    return (
        # claim(): READY jobs, and RUNNING jobs by lease expiry
        "CREATE INDEX jobs_claim ON jobs (state, lease_expires)",
        # the branches of a split parent
        "CREATE INDEX jobs_parent ON jobs (parent_id)",
        # due_timers()
        "CREATE INDEX jobs_due ON jobs (due)",
        # retention: the oldest finished jobs go first
        "CREATE INDEX jobs_finished ON jobs (finished_at)",
    )


def _v1(dialect: str) -> tuple[str, ...]:
    return (_jobs_table(dialect), _history_table(dialect), *_indexes())


def _v4(dialect: str) -> tuple[str, ...]:
    # Who saved each history row (the worker, or the operator of an action), the job's
    # error as saved, what an operator did (NULL for the engine's own saves), and when the
    # step the save ends began (a runner's saves only: the start of its slice, or the
    # save before in the same slice). An
    # operator's action on a case a live worker holds is handed to that worker as a row of
    # job_requests, which it takes when woken or at its next poll (see actors.admin).
    pg = dialect == POSTGRES
    real = "DOUBLE PRECISION" if pg else "REAL"
    key = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    return (
        "ALTER TABLE step_history ADD COLUMN worker TEXT",
        "ALTER TABLE step_history ADD COLUMN error TEXT",
        "ALTER TABLE step_history ADD COLUMN action TEXT",
        f"ALTER TABLE step_history ADD COLUMN started {real}",
        f"""
CREATE TABLE job_requests (
    id {key},
    case_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT,
    operator TEXT NOT NULL,
    posted_at {real} NOT NULL,
    taken_by TEXT,
    taken_at {real},
    done_at {real},
    outcome TEXT
)""",
        "CREATE INDEX job_requests_case ON job_requests (case_id)",
    )


def _v5(dialect: str) -> tuple[str, ...]:
    suffix = " WITHOUT ROWID" if dialect == SQLITE else ""
    # A save that writes a parent's arrivals map (a parent waiting on its split, saved
    # from its record) replaces what was recorded for that split before it.
    clear = (
        "DELETE FROM join_arrivals WHERE parent_id = NEW.id AND gen = NEW.gen; "
        "DELETE FROM join_counts WHERE parent_id = NEW.id AND gen = NEW.gen;"
    )
    if dialect == SQLITE:
        trigger: tuple[str, ...] = (
            "CREATE TRIGGER jobs_arrivals_saved AFTER UPDATE OF arrivals ON jobs "
            f"WHEN NEW.arrivals IS NOT NULL BEGIN {clear} END",
        )
    else:
        trigger = (
            "CREATE FUNCTION actors_arrivals_saved() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {clear} RETURN NULL; END $$",
            "CREATE TRIGGER jobs_arrivals_saved AFTER UPDATE OF arrivals ON jobs "
            "FOR EACH ROW WHEN (NEW.arrivals IS NOT NULL) "
            "EXECUTE FUNCTION actors_arrivals_saved()",
        )
    return (
        "CREATE TABLE join_arrivals (parent_id TEXT NOT NULL, gen INTEGER NOT NULL, "
        "branch_index INTEGER NOT NULL, data TEXT NOT NULL, "
        f"PRIMARY KEY (parent_id, gen, branch_index)){suffix}",
        "CREATE TABLE join_counts (parent_id TEXT NOT NULL, gen INTEGER NOT NULL, "
        f"arrived INTEGER NOT NULL, PRIMARY KEY (parent_id, gen)){suffix}",
        *trigger,
    )


def _v7(dialect: str) -> tuple[str, ...]:
    # Ids compare byte by byte (as Python compares str) in both: PostgreSQL's default
    # collation would order them by the locale's rules. See SqlAdmin.query_jobs.
    key = f"created_at, {LISTING_ID[dialect]}"
    return (
        f"CREATE INDEX jobs_listed ON jobs ({key})",
        f"CREATE INDEX jobs_listed_cases ON jobs ({key}) WHERE parent_id IS NULL",
        "DROP INDEX jobs_due",
        "CREATE INDEX jobs_due ON jobs (due) WHERE due IS NOT NULL",
        "DROP INDEX jobs_finished",
        "CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL",
    )


# Every column that holds a job's id, by table (see migration 11).
_ID_COLUMNS = {
    "jobs": ("id", "case_id", "parent_id"),
    "step_history": ("job_id",),
    "join_arrivals": ("parent_id",),
    "join_counts": ("parent_id",),
    "job_requests": ("case_id", "job_id"),
}


def _v11() -> tuple[str, ...]:
    # One statement per table: its indexes on those columns are rebuilt once.
    return (
        "DROP INDEX IF EXISTS jobs_parent",
        *(
            f"ALTER TABLE {table} "
            + ", ".join(f'ALTER COLUMN {c} TYPE TEXT COLLATE "C"' for c in columns)
            for table, columns in _ID_COLUMNS.items()
        ),
    )
