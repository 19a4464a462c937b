"""The ``actors`` command-line program (also ``python -m actors``).

Commands: ``graph`` (Mermaid of a workflow), ``demo`` (order fulfilment on a store),
``status`` (what a store holds), ``jobs show`` (one job's snapshot) and ``worker`` (run
a Mediator until SIGTERM/SIGINT). Expected failures (a bad store URL, a module or
attribute that is not there, an unknown job id) are one line on stderr and a non-zero
exit status: 2 for a bad argument (store URL, module reference), 1 for anything else.

Output goes through click (plain text such as Mermaid) and rich (tables, progress);
logs go to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, ModuleType
from typing import IO, TYPE_CHECKING, Any

import click
import pykka
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from actors._errors import ActorsError, StoreError, WorkflowDefinitionError
from actors._job import Job, JobRecord, JobState
from actors._version import __version__
from actors._workflow import Workflow
from actors.stores import Store, open_store

if TYPE_CHECKING:
    from actors._demo import DemoReport

__all__ = ["main"]

logger = logging.getLogger("actors.cli")

DEMO_STORE = "sqlite:///demo.db"
_STORE_HELP = "Store URL: memory://, sqlite:///path.db or postgresql://... [env: ACTORS_STORE]"
_USAGE_EXIT = 2  # the argument is wrong (store URL, module reference): as click's usage errors
_FAILURE_EXIT = 1  # the arguments are fine but the thing asked for is not there
_INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report it


class CliError(click.ClickException):
    """An expected failure: printed as one ``actors: error: ...`` line on stderr (exit 1)."""

    exit_code = _FAILURE_EXIT

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the message on one line to stderr."""
        click.echo(f"actors: error: {self.format_message()}", file=file, err=True)


class BadArgumentError(CliError):
    """A bad store URL or module reference (exit 2, as for click's usage errors)."""

    exit_code = _USAGE_EXIT


class _Group(click.Group):
    """Turns errors the engine raises on purpose into one-line messages, never tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ActorsError as exc:  # a store that fails after opening is StoreError too
            raise CliError(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="actors")
def main() -> None:
    """Run and inspect workflows of the actors engine.

    Each command has its own --help. Store URLs are memory:// (this process only),
    sqlite:///path.db and postgresql://...; a scheme this installation does not support
    is reported with the forms it accepts.
    """


# -- shared helpers ----------------------------------------------------------------------------


def _console() -> Console:
    # Made per command so that output follows sys.stdout as it is at that moment (tests
    # swap it); rich drops colours and animation when stdout is not a terminal.
    return Console(highlight=False, soft_wrap=False)


def _open_store(url: str, **options: Any) -> Store:
    try:
        return open_store(url, **options)
    except (StoreError, OSError) as exc:
        msg = f"cannot open store {url!r}: {exc}"
        raise BadArgumentError(msg) from exc


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _import_module(ref: str, module_name: str) -> ModuleType:
    """Import ``module_name`` as ``python -m`` would: the working directory comes first."""
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            msg = (
                f"no module named {missing!r} (in {ref!r}); check the spelling and that it "
                "is importable from the current directory or PYTHONPATH"
            )
            raise BadArgumentError(msg) from exc
        msg = f"importing {module_name!r} failed: {_describe(exc)}"
        raise BadArgumentError(msg) from exc
    except WorkflowDefinitionError as exc:
        msg = f"module {module_name!r} defines an invalid workflow: {exc}"
        raise BadArgumentError(msg) from exc
    except (Exception, SystemExit) as exc:
        msg = f"importing {module_name!r} failed: {_describe(exc)}"
        raise BadArgumentError(msg) from exc


def _as_workflows(value: Any) -> list[Workflow] | None:
    """``value`` as a list of workflows, or ``None`` when it is not one or a list of them."""
    if isinstance(value, Workflow):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, Workflow) for v in value):
        return list(value)
    return None


def load_workflows(ref: str) -> list[Workflow]:
    """The workflows ``ref`` names: ``package.module:attribute`` or ``package.module``.

    The attribute may be a ``Workflow`` or a list of them. A bare module gives its
    ``WORKFLOWS`` list if it has one, else every ``Workflow`` it defines at top level.
    """
    module_name, colon, attr = ref.partition(":")
    if not module_name or (colon and not attr) or any(not part for part in module_name.split(".")):
        msg = f"{ref!r} is not a reference; write package.module or package.module:attribute"
        raise BadArgumentError(msg)
    module = _import_module(ref, module_name)
    if attr:
        value: Any = module
        for part in attr.split("."):
            try:
                value = getattr(value, part)
            except AttributeError:
                msg = f"module {module_name!r} has no attribute {attr!r}"
                raise BadArgumentError(msg) from None
        found = _as_workflows(value)
        if not found:
            kind = "an empty list" if value in ([], ()) else f"a {type(value).__name__}"
            msg = f"{ref!r} is {kind}, not a Workflow or a list of Workflows"
            raise BadArgumentError(msg)
        return found
    if hasattr(module, "WORKFLOWS"):
        found = _as_workflows(module.WORKFLOWS)
        if not found:
            msg = f"{module_name}.WORKFLOWS must be a non-empty list of Workflows"
            raise BadArgumentError(msg)
        return found
    seen: dict[int, Workflow] = {}
    for value in vars(module).values():
        if isinstance(value, Workflow):
            seen.setdefault(id(value), value)
    if not seen:
        msg = (
            f"module {module_name!r} defines no Workflow; name one as {module_name}:attribute "
            "or list them in WORKFLOWS"
        )
        raise BadArgumentError(msg)
    return list(seen.values())


def _json_default(value: Any) -> Any:
    """JSON for values json does not know: dataclasses, enums, sets; else their repr."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


def _to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=_json_default, ensure_ascii=False)


def _when(due: float | None) -> str:
    if due is None:
        return "-"
    return datetime.fromtimestamp(due, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


# -- graph -------------------------------------------------------------------------------------


@main.command()
@click.argument("reference", metavar="MODULE[:ATTRIBUTE]")
@click.option("--markdown", is_flag=True, help="Wrap each diagram in a ```mermaid fence, for docs.")
def graph(reference: str, markdown: bool) -> None:
    """Print the Mermaid flowchart of a workflow.

    MODULE[:ATTRIBUTE] names a Workflow or a list of them, e.g.
    myapp.flows:ORDER; a bare module prints every workflow it defines. The current
    directory is importable, as with python -m. Paste the output into any Mermaid
    renderer (GitHub, mkdocs-material, mermaid.live).
    """
    for index, workflow in enumerate(load_workflows(reference)):
        if index:
            click.echo()
        text = workflow.to_mermaid()
        click.echo(f"```mermaid\n{text}```" if markdown else text.rstrip("\n"))


# -- demo --------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--store",
    "store_url",
    default=DEMO_STORE,
    show_default=True,
    envvar="ACTORS_STORE",
    help=_STORE_HELP,
)
@click.option(
    "--orders", default=20, show_default=True, type=click.IntRange(1), help="Orders to run."
)
@click.option(
    "--runners", default=4, show_default=True, type=click.IntRange(1), help="Runner actors."
)
def demo(store_url: str, orders: int, runners: int) -> None:
    """Run the order-fulfilment demo on a store, durably.

    Each order reserves stock, then takes payment, books shipping (after a short
    carrier-pickup wait) and notifies the customer in parallel, joins, and confirms.
    Orders are cases named demo-order-1..N: run the command again with the same durable
    store and it resumes unfinished orders from their last saved step and reports
    finished ones, instead of starting over.
    """
    from actors._demo import DEMO_WORKFLOW, run_demo
    from actors._mediator import Mediator

    console = _console()
    store = _open_store(store_url)
    console.print(
        f"Running {orders} demo order(s) on [bold]{store.url}[/] with {runners} runner(s)."
    )
    # A fixed worker name: a demo killed mid-way takes its orders back at once next time.
    mediator = Mediator([DEMO_WORKFLOW], runners=runners, store=store, owner="actors-demo")
    columns = (
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            admitted = progress.add_task("admitted", total=orders)
            finished = progress.add_task("finished", total=orders)
            report = run_demo(
                mediator,
                orders,
                on_admitted=lambda _: progress.advance(admitted),
                on_finished=lambda _: progress.advance(finished),
            )
    except KeyboardInterrupt:
        mediator.shutdown(drain=False)
        if store.url.startswith("memory:"):
            console.print("Interrupted. memory:// keeps nothing, so the next run starts over.")
        else:
            console.print(
                f"Interrupted. Unfinished orders stay saved in {store.url}; run the same "
                "command again to resume them."
            )
        raise SystemExit(_INTERRUPTED_EXIT) from None
    mediator.shutdown(drain=True)
    _print_demo_report(console, report, store.url)
    if any(job.state is not JobState.DONE for job in report.jobs):
        raise SystemExit(_FAILURE_EXIT)


def _print_demo_report(console: Console, report: DemoReport, url: str) -> None:
    states = Table(title="Demo orders by state", min_width=30)
    states.add_column("state")
    states.add_column("orders", justify="right")
    for state in JobState:
        count = sum(1 for job in report.jobs if job.state is state)
        if count:
            states.add_row(state.value, str(count))
    console.print(states)

    timing = Table(title="This run")
    timing.add_column("measure")
    timing.add_column("value", justify="right")
    timing.add_row("scheduled now", str(report.scheduled))
    timing.add_row("resumed from the store", str(report.resumed))
    timing.add_row("finished by an earlier run", str(report.already_finished))
    timing.add_row("wall time", f"{report.elapsed:.2f} s")
    if report.latencies and report.elapsed > 0:
        ran = len(report.latencies)
        ordered = sorted(report.latencies)
        timing.add_row("orders per second", f"{ran / report.elapsed:.1f}")
        timing.add_row("order time, median", f"{ordered[ran // 2]:.3f} s")
        timing.add_row("order time, slowest", f"{ordered[-1]:.3f} s")
    if report.stats is not None:
        timing.add_row("jobs ended DONE (branches included)", str(report.stats.done))
        timing.add_row("peak admission queue", str(report.stats.peak_queued))
    console.print(timing)
    for job in report.jobs:
        if job.state is not JobState.DONE:
            console.print(f"{job.id}: {job.state.value}: {job.error}")
    if url.startswith("memory:"):
        console.print("memory:// keeps nothing after exit; use a durable store to resume.")


# -- status ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Facts:
    """What ``status`` read from the store, once, for every summary row to use."""

    store: Store
    counts: dict[JobState, int]
    unfinished: list[JobRecord]

    def waiting(self, test: Callable[[JobRecord], bool]) -> list[JobRecord]:
        return [j for j in self.unfinished if j.state is JobState.WAITING and test(j)]


# One function per summary row: it returns (label, value), or None when the store cannot
# tell. A store that exposes more (pending timers, waiting events, expired leases) gets
# its row by appending a function here; the table needs no other change.
_Row = Callable[[_Facts], tuple[str, str] | None]


def _row_total(facts: _Facts) -> tuple[str, str]:
    return ("jobs in the store", str(sum(facts.counts.values())))


def _row_unfinished(facts: _Facts) -> tuple[str, str]:
    return ("unfinished jobs", str(len(facts.unfinished)))


def _row_oldest(facts: _Facts) -> tuple[str, str]:
    if not facts.unfinished:
        return ("oldest unfinished job", "-")
    job = facts.unfinished[0]  # Store.unfinished() is oldest first
    where = f"{job.workflow} v{job.version} at {job.step!r}, {job.state.value}"
    return ("oldest unfinished job", f"{job.id} ({where})")


def _row_due(facts: _Facts) -> tuple[str, str]:
    parked = facts.waiting(lambda j: j.due is not None)
    soonest = min((j.due for j in parked if j.due is not None), default=None)
    value = f"{len(parked)}" + (f", next due {_when(soonest)}" if parked else "")
    return ("waiting on a due time (wait, retry, timeout)", value)


def _row_branches(facts: _Facts) -> tuple[str, str]:
    return ("waiting for their branches", str(len(facts.waiting(lambda j: j.split_total > 0))))


def _row_events(facts: _Facts) -> tuple[str, str]:
    parked = facts.waiting(lambda j: j.due is None and j.split_total == 0)
    return ("waiting for an event, no timeout", str(len(parked)))


def _row_shed(facts: _Facts) -> tuple[str, str]:
    return ("shed (DROP_OLDEST evictions)", str(facts.counts.get(JobState.SHED, 0)))


STATUS_ROWS: list[_Row] = [
    _row_total,
    _row_unfinished,
    _row_oldest,
    _row_due,
    _row_branches,
    _row_events,
    _row_shed,
]


@main.command()
@click.option("--store", "store_url", required=True, envvar="ACTORS_STORE", help=_STORE_HELP)
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(0),
    help="Unfinished jobs to list (oldest first); 0 lists none.",
)
def status(store_url: str, limit: int) -> None:
    """Show what a store holds: jobs by state, what waits, the oldest unfinished jobs.

    It reads the store only. memory:// is private to one process, so from here it is
    always empty; point this at the store your workers use.
    """
    store = _open_store(store_url)
    try:
        facts = _Facts(store, store.counts(), store.unfinished())
    finally:
        store.close()
    console = _console()
    console.print(f"Store [bold]{store.url}[/]")

    states = Table(title="Jobs by state")
    states.add_column("state")
    states.add_column("jobs", justify="right")
    for state in JobState:
        states.add_row(state.value, str(facts.counts.get(state, 0)))
    console.print(states)

    summary = Table(title="Summary")
    summary.add_column("what")
    summary.add_column("value")
    for row in STATUS_ROWS:
        cells = row(facts)
        if cells is not None:
            summary.add_row(*cells)
    console.print(summary)

    if limit and facts.unfinished:
        shown = facts.unfinished[:limit]
        jobs = Table(title=f"Unfinished jobs (oldest {len(shown)} of {len(facts.unfinished)})")
        for column in ("id", "workflow", "step", "state", "parent", "branch", "due"):
            jobs.add_column(column, overflow="fold")
        for job in shown:
            jobs.add_row(
                job.id,
                f"{job.workflow} v{job.version}",
                _dash(job.step),
                job.state.value,
                _dash(job.parent_id),
                _dash(job.branch_index),
                _when(job.due),
            )
        console.print(jobs)


# -- jobs --------------------------------------------------------------------------------------


@main.group()
def jobs() -> None:
    """Look at individual jobs in a store."""


def _job_fields(job: Job) -> list[tuple[str, Any]]:
    return [
        ("id", job.id),
        ("workflow", job.workflow),
        ("version", job.version),
        ("step", job.step),
        ("state", job.state.value),
        ("case", job.case_id),
        ("parent", job.parent_id),
        ("branch", job.branch_index),
        ("attempt", job.attempt),
        ("error", job.error),
    ]


@jobs.command("show")
@click.argument("job_id", metavar="ID")
@click.option("--store", "store_url", required=True, envvar="ACTORS_STORE", help=_STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as one JSON object.")
def jobs_show(job_id: str, store_url: str, as_json: bool) -> None:
    """Show the job ID as last saved: workflow, step, state, parent, error and data."""
    store = _open_store(store_url)
    try:
        job = store.get(job_id)
    finally:
        store.close()
    if job is None:
        msg = f"no job {job_id!r} in {store.url}"
        raise CliError(msg)
    if as_json:
        click.echo(_to_json({**dict(_job_fields(job)), "data": job.data}))
        return
    console = _console()
    table = Table(title=f"Job {job.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in _job_fields(job):
        table.add_row(name, _dash(value))
    console.print(table)
    console.print("data:")
    click.echo(_to_json(job.data))


# -- db ----------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Manage a store's database schema."""


@db.command("upgrade")
@click.option("--store", "store_url", required=True, envvar="ACTORS_STORE", help=_STORE_HELP)
def db_upgrade(store_url: str) -> None:
    """Apply the schema migrations the database has not had yet, in order.

    Workers apply them too when they start; run this to upgrade ahead of a deploy. It is
    safe to run again, or from several places at once.
    """
    from actors.stores._schema import MIGRATIONS, current_version, migrate

    if store_url.startswith("memory:"):
        msg = f"{store_url!r} keeps nothing between runs: it has no schema to upgrade"
        raise BadArgumentError(msg)
    conn = _schema_connection(store_url)
    try:
        before = current_version(conn)
        after = migrate(conn)
    except Exception as exc:
        msg = f"cannot upgrade the schema of {store_url!r}: {_describe(exc)}"
        raise CliError(msg) from exc
    finally:
        conn.close()
    applied = [m for m in MIGRATIONS if before < m.version <= after]
    for migration in applied:
        click.echo(f"applied {migration.version}: {migration.description}")
    click.echo(f"schema version {after}" + ("" if applied else " (already up to date)"))


def _schema_connection(url: str) -> Any:
    """A plain connection to the database a SQL store URL names."""
    scheme = url.split(":", 1)[0]
    try:
        if scheme == "sqlite":
            import sqlite3

            from actors.stores import _sqlite_path

            path = _sqlite_path(url, url[len("sqlite://") :])
            if not Path(path).parent.exists():
                msg = f"no directory {str(Path(path).parent)!r} for {url!r}"
                raise BadArgumentError(msg)
            return sqlite3.connect(path, isolation_level=None)
        if scheme in ("postgresql", "postgres"):
            import psycopg

            return psycopg.connect(url, autocommit=True)
    except (StoreError, ImportError, OSError) as exc:
        msg = f"cannot open store {url!r}: {exc}"
        raise BadArgumentError(msg) from exc
    except Exception as exc:  # the driver's own connection errors
        msg = f"cannot open store {url!r}: {_describe(exc)}"
        raise BadArgumentError(msg) from exc
    msg = f"cannot open store {url!r}: use sqlite:///path.db or postgresql://..."
    raise BadArgumentError(msg)


# -- worker ------------------------------------------------------------------------------------


@main.command()
@click.option("--store", "store_url", required=True, envvar="ACTORS_STORE", help=_STORE_HELP)
@click.option(
    "--workflows",
    "refs",
    required=True,
    multiple=True,
    metavar="MODULE[:ATTRIBUTE]",
    help="Where the workflows are: every Workflow in a module, its WORKFLOWS list, or "
    "one attribute. Repeat for several modules.",
)
@click.option(
    "--runners", default=4, show_default=True, type=click.IntRange(1), help="Runner actors."
)
@click.option(
    "--capacity",
    default=100,
    show_default=True,
    type=click.IntRange(1),
    help="Admission capacity of the Scheduler.",
)
@click.option(
    "--name",
    default=None,
    help="This worker's name among the workers sharing the store (unique; default: host, "
    "process id and a random suffix). Restarted under the same name, a worker takes its "
    "unfinished cases back at once instead of waiting for their leases to expire.",
)
@click.option(
    "--commit",
    default="step",
    show_default=True,
    type=click.Choice(["step", "slice", "group"]),
    help="SQL stores: commit every save before the next step; or a runner's saves of "
    "one job together before the Scheduler hears of it (faster; a crash re-runs the "
    "steps of the slice in flight); or those slices, from every runner, many per "
    "transaction on a writer thread (fastest; the same crash behaviour as slice).",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log level on stderr.",
)
def worker(
    store_url: str,
    refs: Sequence[str],
    runners: int,
    capacity: int,
    name: str | None,
    commit: str,
    log_level: str,
) -> None:
    """Run a Mediator for the given workflows until SIGTERM or SIGINT.

    At start it takes over every case no live worker holds (each job resumes from
    its last saved step), and keeps polling for more: several workers, on one
    machine or many, may share a store. On SIGTERM or SIGINT it stops without
    draining: a running step finishes, everything else stays saved for the next
    start, and its cases are released to other workers. A second signal stops at once.
    Logs go to stderr.
    """
    workflows = _unique(wf for ref in refs for wf in load_workflows(ref))
    sql = not store_url.startswith("memory:")
    store = _open_store(store_url, **({"commit": commit} if sql else {}))
    with _log_to_stderr(log_level):
        _serve(store, workflows, runners=runners, capacity=capacity, name=name)


def _serve(
    store: Store, workflows: list[Workflow], *, runners: int, capacity: int, name: str | None
) -> None:
    from actors._mediator import Mediator

    served = {wf.key for wf in workflows}
    unfinished = store.unfinished()
    strangers = sorted({(j.workflow, j.version) for j in unfinished} - served)
    if strangers:
        names = ", ".join(f"{name} v{version}" for name, version in strangers)
        logger.warning("the store has unfinished jobs of workflows not served here: %s", names)
    stop = threading.Event()
    previous = _on_stop_signals(stop)
    try:
        try:
            mediator = Mediator(
                workflows, runners=runners, capacity=capacity, store=store, owner=name
            )
        except ValueError as exc:  # e.g. the same workflow and version from two modules
            store.close()
            raise BadArgumentError(str(exc)) from exc
        try:
            mediator.stats()  # answered once the Scheduler has started and resumed the jobs
        except (ActorsError, pykka.ActorDeadError) as exc:
            mediator.shutdown(drain=False)
            msg = f"the engine stopped while it resumed the store's jobs ({_describe(exc)})"
            raise CliError(msg) from exc
        logger.info(
            "worker started: store %s, %d runner(s), workflows %s; %d unfinished job(s) resumed",
            store.url,
            runners,
            ", ".join(f"{wf.name} v{wf.version}" for wf in workflows),
            len(unfinished),
        )
        while not stop.wait(0.5):  # a timed wait: signal handlers run in this thread
            pass
        logger.info("stopping: running steps finish, everything else stays saved")
        mediator.shutdown(drain=False)
        logger.info("worker stopped")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _unique(workflows: Iterable[Workflow]) -> list[Workflow]:
    seen: dict[int, Workflow] = {}
    for wf in workflows:
        seen.setdefault(id(wf), wf)
    return list(seen.values())


@contextlib.contextmanager
def _log_to_stderr(level: str) -> Iterator[None]:
    """Send the engine's logs (the ``actors`` logger) to stderr while the block runs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    engine_logger = logging.getLogger("actors")
    level_before = engine_logger.level
    engine_logger.addHandler(handler)
    engine_logger.setLevel(level.upper())
    try:
        yield
    finally:
        engine_logger.removeHandler(handler)
        engine_logger.setLevel(level_before)


def _on_stop_signals(stop: threading.Event) -> dict[int, Any]:
    """Set ``stop`` on the first SIGTERM/SIGINT; a second one stops the process at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            logger.warning(
                "second %s: exiting now, without waiting for running steps",
                signal.Signals(signum).name,
            )
            logging.shutdown()
            os._exit(128 + signum)  # actor threads are not daemons: SystemExit would wait
        logger.info("%s received", signal.Signals(signum).name)
        stop.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
