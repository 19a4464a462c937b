"""The SQL stores' numbered migrations, shared by SQLite and PostgreSQL (``_schema`` applies them).

Never edit a released migration: add the next number.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.stores._schema_ddl import POSTGRES, SQLITE, _v1, _v4, _v5, _v7, _v11
from actors.stores._statements import FREE_ROOT, HELD, UNFINISHED_ROOT

__all__ = ["BREAKS_OLDER_FROM", "MIGRATIONS", "Migration", "Progress"]


@dataclass(frozen=True)
class Migration:
    """One schema change: a number, what it does, and its statements per dialect.

    ``breaks_older``: releases before this migration must not write a store it was
    applied to (they would lose or corrupt cases). Recorded with its version row (from
    migration 15, which adds the column), so a release that does not know this migration
    refuses to open the store instead of warning and running on (``check_newer``).
    """

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]
    breaks_older: bool = False

    def statements(self, dialect: str) -> tuple[str, ...]:
        """The statements for ``dialect`` (``"sqlite"`` or ``"postgres"``)."""
        return self.sqlite if dialect == SQLITE else self.postgres


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "jobs (with leases and split bookkeeping), step_history, indexes",
        sqlite=_v1(SQLITE),
        postgres=_v1(POSTGRES),
    ),
    Migration(
        2,
        "jobs.parent_gen: which split of its parent made a branch",
        sqlite=("ALTER TABLE jobs ADD COLUMN parent_gen INTEGER NOT NULL DEFAULT 0",),
        postgres=("ALTER TABLE jobs ADD COLUMN parent_gen INTEGER NOT NULL DEFAULT 0",),
    ),
    Migration(
        3,
        "indexes for claims and heartbeats: jobs by case, live leases by owner",
        # A claim reads and stamps every row of a case; a heartbeat renews the live
        # leases of one worker. Without these both scan the whole table, finished rows
        # included. The lease index is partial: only unfinished roots hold an expiry.
        sqlite=(
            "CREATE INDEX jobs_case ON jobs (case_id)",
            "CREATE INDEX jobs_lease ON jobs (lease_owner) WHERE lease_expires IS NOT NULL",
        ),
        postgres=(
            "CREATE INDEX jobs_case ON jobs (case_id)",
            "CREATE INDEX jobs_lease ON jobs (lease_owner) WHERE lease_expires IS NOT NULL",
        ),
    ),
    Migration(
        4,
        "step_history.worker/error/action/started; job_requests: actions for a case's holder",
        sqlite=_v4(SQLITE),
        postgres=_v4(POSTGRES),
    ),
    Migration(
        5,
        "join_arrivals and join_counts: a join's arrivals one row each, not one map per parent",
        # Counting an arrival then writes two small rows instead of rewriting a map that
        # grows with the split: a split of N branches costs O(N), not O(N^2). Maps already
        # in jobs.arrivals stay where they are and still count (see stores/_joins.py).
        sqlite=_v5(SQLITE),
        postgres=_v5(POSTGRES),
    ),
    Migration(
        6,
        "jobs_claimable: the unfinished roots in insertion order, for claims",
        # A claim looks for the oldest free case among the unfinished roots. Without this
        # index it read every root the store ever held, finished ones included, so a
        # store's claims slowed down as its history grew (22 ms per claim with 100,000
        # finished cases on PostgreSQL). Partial: finished roots are not in it.
        sqlite=(f"CREATE INDEX jobs_claimable ON jobs (parent_id) WHERE {UNFINISHED_ROOT}",),
        postgres=(f"CREATE INDEX jobs_claimable ON jobs (seq) WHERE {UNFINISHED_ROOT}",),
    ),
    Migration(
        7,
        "indexes for listing jobs newest first (all jobs, cases only); jobs_due and "
        "jobs_finished hold only the rows with a due time and the finished ones",
        # The operator's listing (Admin.jobs, `actors jobs list`) reads jobs newest first,
        # by (created_at, id), a page at a time. Without these it read and sorted every
        # matching row: a page took 65 ms at 100,000 jobs against 1 ms at 1,000 (SQLite).
        # Only two: every insert pays every index and a state change rewrites a state
        # index, so indexes by state and by workflow cost W 6-14% more CPU on SQLite.
        # Other states than DONE read jobs_claim instead (see _sql_listing.parts).
        # Most rows have no due time and no finish time (a job is due only while it waits
        # on a timer, finished once), yet every row inserted and every save that set the
        # column wrote an entry for its NULL. Every query jobs_due and jobs_finished serve
        # compares the column, which implies it is not NULL, so partial indexes serve them.
        sqlite=_v7(SQLITE),
        postgres=_v7(POSTGRES),
    ),
    Migration(
        8,
        "step_history.more: a job's further saves in the same transaction, in its first row",
        # A slice saves one job several times; each history row cost a heap tuple, an
        # index entry and their log records, about a fifth of PostgreSQL's work on W.
        # See stores/_history_rows.py.
        sqlite=("ALTER TABLE step_history ADD COLUMN more TEXT",),
        postgres=("ALTER TABLE step_history ADD COLUMN more TEXT",),
    ),
    Migration(
        9,
        "jobs_free (SQLite): the unfinished roots no worker holds, for the watcher's look",
        # A SQLite worker's watcher asks, after every commit to the file (up to 100 times
        # a second), whether a case is free. jobs_claimable holds every unfinished root,
        # the held ones too, so with 100,000 cases parked on events that look read them
        # all (14 ms each, a core's worth while events came in). This index holds only
        # the free ones: rows admitted by a worker carry its lease and never enter it.
        # PostgreSQL is woken by NOTIFY and asks no such question.
        sqlite=(f"CREATE INDEX jobs_free ON jobs (parent_id) WHERE {FREE_ROOT}",),
        postgres=(),
    ),
    Migration(
        10,
        "jobs.tries/tried_at: runs of a job taken from a stopped worker, at its saved point",
        # A step that ends its worker's process (os._exit, a crash in native code, the
        # kernel's OOM killer) would end every worker that takes its case over, for ever.
        # Before it runs such a job, a worker counts a try here (Store.count_try): at the
        # same updated_at as the last try, the count goes on; a save in between starts it
        # again. Written only for jobs taken over, never by a save.
        sqlite=(
            "ALTER TABLE jobs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN tried_at REAL",
        ),
        postgres=(
            "ALTER TABLE jobs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN tried_at DOUBLE PRECISION",
        ),
    ),
    Migration(
        11,
        'PostgreSQL: job ids compare byte by byte (COLLATE "C"); no jobs_parent',
        # Every new version of a row enters every index of jobs (a save changes an
        # indexed column, so no update is HOT): W wrote 12 entries a workflow into
        # jobs_parent, about a tenth of the server's CPU for it (see benchmarks/README.md).
        # No statement looks a parent's branches up; what asks for roots (parent_id IS
        # NULL) reads jobs_claimable, jobs_lease, jobs_finished or jobs_listed_cases
        # on PostgreSQL. SQLite keeps it: its planner has no statistics to prefer the
        # partial indexes by (see SqlStore._free_from).
        # Ids compared in the database's collation (en_US.UTF-8, C.UTF-8) went through
        # strcoll in every index search; byte by byte they cost a memcmp, and order as
        # Python orders str (as listings asked for already). Every column holding a job
        # id changes together: compared with a column of another collation, an index
        # of either could no longer serve the comparison.
        sqlite=(),
        postgres=_v11(),
    ),
    Migration(
        12,
        "workers: one lease per worker, renewed by its heartbeat; held roots marked held",
        # A heartbeat updated lease_expires on the root of every case its worker held: with
        # 100,000 cases parked on events one renewal took 1.8 s on PostgreSQL, longer than
        # the poll. Now it writes the worker's row, and a claim marks the roots it takes
        # with HELD (see _statements.HELD): held while the worker's row has not expired.
        # Roots leased by workers of the release before keep their expiry and its meaning.
        sqlite=("CREATE TABLE workers (owner TEXT PRIMARY KEY, expires REAL NOT NULL)",),
        postgres=(
            "CREATE TABLE workers (owner TEXT PRIMARY KEY, expires DOUBLE PRECISION NOT NULL)",
        ),
    ),
    Migration(
        13,
        "jobs_free (PostgreSQL): the unfinished roots no worker holds, for claims",
        # A claim walked jobs_claimable, every unfinished root, testing each held one
        # against the live workers: 48 ms a claim that found nothing with 100,000 cases
        # held, at every poll of every worker. It now reads the stopped holders' cases
        # through jobs_lease and the free ones through this index (see _claim_pick.py);
        # SQLite has it since migration 9. In seq order: the oldest free case first.
        sqlite=(),
        postgres=(f"CREATE INDEX jobs_free ON jobs (seq) WHERE {FREE_ROOT}",),
    ),
    Migration(
        14,
        "jobs_free_served, jobs_held_served: a claim reads only the workflows it serves",
        # A worker claims the cases of the workflows it serves. Through jobs_free and
        # jobs_lease it read every free case, and every case of a stopped holder, of any
        # workflow, and dropped those of others: with 50,000 cases waiting for a worker of
        # another workflow, every claim read them all, at every poll and wake-up. Keyed by
        # workflow and version, these give each served pair its own oldest cases. The held
        # roots' index is partial on HELD alone: no look for expired leases can take it
        # (unanalyzed, PostgreSQL's planner took a wider one for those and read every
        # held root).
        # SQLite keeps one index of the held roots, jobs_lease, with the workflow and
        # version after the worker (a save of a held root rewrites each index of them;
        # its statements name their index, so none is taken by mistake).
        sqlite=(
            f"CREATE INDEX jobs_free_served ON jobs (workflow, version) WHERE {FREE_ROOT}",
            "DROP INDEX jobs_lease",
            "CREATE INDEX jobs_lease ON jobs (lease_owner, workflow, version) "
            "WHERE lease_expires IS NOT NULL",
        ),
        postgres=(
            f"CREATE INDEX jobs_free_served ON jobs (workflow, version, seq) WHERE {FREE_ROOT}",
            "CREATE INDEX jobs_held_served ON jobs (lease_owner, workflow, version) "
            f"WHERE lease_expires = {HELD!r}",
        ),
    ),
    Migration(
        15,
        "schema_version.breaks_older: migrations older releases must not write past",
        # A release that finds a newer schema than it knows warned and ran on, which is
        # right for most migrations (they add, and keep what older releases write) and
        # wrong for one that changes what they write. This column says which; every
        # release from this one reads it before it runs on a newer schema.
        sqlite=("ALTER TABLE schema_version ADD COLUMN breaks_older INTEGER NOT NULL DEFAULT 0",),
        postgres=("ALTER TABLE schema_version ADD COLUMN breaks_older INTEGER NOT NULL DEFAULT 0",),
    ),
    Migration(
        16,
        "SQLite: no jobs_parent, no jobs_free (jobs_free_served holds the same rows)",
        # Every admission wrote an entry into each index of jobs, a WAL page each at its
        # commit, and a finishing root left each partial one: an admission's transaction
        # cost SQLite 83 us with them, 71 without (benchmarks/README.md).
        # jobs_parent served no statement but the few that ask for roots
        # (parent_id IS NULL), and those it served badly: it walked every root the store
        # ever held, where jobs_lease or jobs_claimable reads the unfinished ones.
        # jobs_free holds what jobs_free_served holds, keyed by workflow and version: a
        # claim for any workflow reads each pair's oldest free cases there (a probe per
        # pair), and the watcher's look takes its first entry.
        # Releases from migration 13 on name jobs_free in their claims, which would
        # fail here: they must not run on this store (PostgreSQL is unchanged).
        sqlite=("DROP INDEX IF EXISTS jobs_parent", "DROP INDEX IF EXISTS jobs_free"),
        postgres=(),
        breaks_older=True,
    ),
    Migration(
        17,
        "job_requests.void_after: when a request's sender stopped waiting for it",
        # A request left by a command that was killed (SIGKILL, its terminal closed)
        # stayed for its worker to take, maybe much later (a worker that was down comes
        # back), though its operator saw the command die. A sender that lives withdraws
        # its request at its timeout; this is that time, stored with the request, and
        # no worker takes a request past it (see _sql_requests). NULL: never void, as
        # the rows of releases before, which neither write nor read it.
        sqlite=("ALTER TABLE job_requests ADD COLUMN void_after REAL",),
        postgres=("ALTER TABLE job_requests ADD COLUMN void_after DOUBLE PRECISION",),
    ),
)
"""Every migration, in order; the last one's number is the current schema version."""

BREAKS_OLDER_FROM = 15  # the first version whose row has the breaks_older column


class Progress:
    """How far a migration went: the version read first, then each migration applied."""

    def __init__(self) -> None:
        self.version: int | None = None  # None: not read yet
        self.applied: list[Migration] = []

    def step(self) -> str:
        """What the migration was doing: the first migration not applied yet, by number."""
        if self.version is None:
            return "reading the schema's version"
        done = self.applied[-1].version if self.applied else self.version
        pending = [m for m in MIGRATIONS if m.version > done]
        if not pending:
            return "recording the schema's version"
        return f"applying schema migration {pending[0].version} ({pending[0].description})"
