"""``actors jobs list|retry|cancel|prune`` and ``actors events send``: operate a store.

Every command is a thin layer over ``actors.admin``: rich tables for people, ``--json``
for scripts. Exit codes: 0 done; 1 the job is not there, or the store failed; 2 a bad
argument; 3 the action does not apply (a retry of a job that did not fault, an event
nobody waits for); 4 a live worker holds the case and did not take the action in time
(nothing changed; try again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table
from rich.tree import Tree

from actors._cli import (
    _console,
    _dash,
    _open_reader,
    _open_store,
    _to_json,
    _when,
    main,
    store_option,
)
from actors._cli_errors import BadArgumentError, CliError
from actors._cli_load import load_workflows
from actors._cli_status import jobs
from actors.admin import (
    OPERATOR_ENV,
    ActionRefusedError,
    ActionResult,
    Admin,
    CaseBusyError,
    CaseNode,
    CaseTree,
    HistoryEntry,
    JobInfo,
)

__all__ = ["events", "parse_age", "print_history", "print_tree"]

REFUSED_EXIT = 3
BUSY_EXIT = 4

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_age(text: str, option: str) -> float:
    """Seconds in ``30s``, ``15m``, ``1h``, ``7d``, ``2w`` or a plain number of seconds."""
    found = _AGE.match(text)
    if found is None:
        msg = f"{option} {text!r} is not an age; write e.g. 90s, 15m, 1h, 7d or 2w"
        raise BadArgumentError(msg)
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


class RefusedError(CliError):
    """The action does not apply to the job as it stands (exit 3)."""

    exit_code = REFUSED_EXIT


class BusyError(CliError):
    """A live worker holds the case and did not take the action in time (exit 4)."""

    exit_code = BUSY_EXIT


operator_option = click.option(
    "--operator",
    default=None,
    metavar="NAME",
    help=f"Who is acting, recorded in the job's history [env: {OPERATOR_ENV}; else the login].",
)
timeout_option = click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for the worker holding the case to carry the action out.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _admin(
    store_url: str,
    operator: str | None = None,
    timeout: float = 10.0,
    refs: Sequence[str] = (),
    *,
    read_only: bool = False,
) -> Admin:
    workflows = [wf for ref in refs for wf in load_workflows(ref)]
    store = _open_reader(store_url) if read_only else _open_store(store_url)
    return Admin(store, operator=operator, timeout=timeout, workflows=workflows)


def _run_action(admin: Admin, act: Any) -> ActionResult:
    try:
        result: ActionResult = act()
    except CaseBusyError as exc:
        raise BusyError(str(exc)) from exc
    except ActionRefusedError as exc:
        raise RefusedError(str(exc)) from exc
    finally:
        admin.close()
        admin.store.close()
    return result


def _report(result: ActionResult, as_json: bool, ok: Sequence[str]) -> None:
    if as_json:
        click.echo(_to_json(result.to_dict()))
    else:
        detail = f" ({result.detail})" if result.detail else ""
        click.echo(
            f"{result.action} {result.job_id}{detail}: {result.outcome}, via {result.via}, "
            f"by {result.operator}"
        )
    if result.outcome not in ok:
        raise SystemExit(REFUSED_EXIT)


# -- jobs list ---------------------------------------------------------------------------------


@jobs.command("list")
@store_option
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(["ready", "running", "waiting", "done", "faulted", "cancelled", "shed"]),
    help="Only jobs in this state (repeat for several).",
)
@click.option("--workflow", default=None, help="Only jobs of this workflow.")
@click.option("--version", "version", type=int, default=None, help="Only this workflow version.")
@click.option("--step", default=None, help="Only jobs at this step.")
@click.option("--since", default=None, metavar="AGE", help="Created within AGE (1h, 7d...).")
@click.option("--before", default=None, metavar="AGE", help="Created more than AGE ago.")
@click.option("--error", default=None, metavar="TEXT", help="Only jobs whose error has TEXT.")
@click.option("--cases", "cases_only", is_flag=True, help="Cases (root jobs) only.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@json_option
def jobs_list(  # noqa: PLR0913, PLR0917 - click passes every option as an argument
    store_url: str,
    states: tuple[str, ...],
    workflow: str | None,
    version: int | None,
    step: str | None,
    since: str | None,
    before: str | None,
    error: str | None,
    cases_only: bool,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List jobs, newest first, filtered by state, workflow, step, age and error text.

    It opens the store read-only and writes nothing.
    """
    admin = _admin(store_url, read_only=True)
    try:
        page = admin.jobs(
            state=states or None,
            workflow=workflow,
            version=version,
            step=step,
            since=None if since is None else parse_age(since, "--since"),
            before=None if before is None else parse_age(before, "--before"),
            error=error,
            cases_only=cases_only,
            limit=limit,
            offset=offset,
        )
    finally:
        admin.close()
        admin.store.close()
    if as_json:
        click.echo(_to_json(page.to_dict()))
        return
    table = Table(title=f"Jobs in {admin.store.url}")
    for column in ("id", "case", "workflow", "step", "state", "attempt", "created", "error"):
        table.add_column(column, overflow="fold")
    for job in page.items:
        table.add_row(
            job.id,
            "-" if job.parent_id is None else job.case_id,
            f"{job.workflow} v{job.version}",
            _dash(job.step),
            job.state.value,
            str(job.attempt),
            _when(job.created_at),
            _short(job.error),
        )
    console = _console()
    console.print(table)
    if page.next_offset is not None:
        console.print(f"More: --offset {page.next_offset}")


# -- jobs show --tree / --history (called by jobs show) ----------------------------------------


def _label(job: JobInfo) -> str:
    parts = [f"[bold]{job.id}[/]", job.state.value, f"at {job.step!r}"]
    if job.branch_index is not None:
        parts.insert(1, f"branch {job.branch_index}")
    if job.attempt > 1:
        parts.append(f"attempt {job.attempt}")
    if job.waiting_for:
        parts.append(f"waits for {job.waiting_for}")
    if job.due is not None:
        parts.append(f"due {_when(job.due)}")
    if job.error:
        parts.append(f"error: {job.error}")
    return ", ".join(parts)


def _grow(branch: Tree, node: CaseNode) -> None:
    for kid in node.children:
        _grow(branch.add(_label(kid.job), highlight=False), kid)
    split = node.split
    if split is not None and not split.joined:
        branch.add(
            f"split {split.split_step!r} -> join {_dash(split.join_step)}: "
            f"arrived {list(split.arrived)}, waiting for {list(split.waiting_for)}"
        )


def print_tree(case: CaseTree) -> None:
    """The case as a tree, with its lease."""
    if case.held_by is not None:
        lease = f"held by {case.held_by} until {_when(case.lease_expires)}"
    else:
        lease = "held by no live worker"
    tree = Tree(f"Case {case.case_id}: {case.state.value}, {case.jobs} job(s), {lease}")
    _grow(tree.add(_label(case.root.job), highlight=False), case.root)
    _console().print(tree)


def _short(text: str | None, most: int = 60) -> str:
    """An error cut for a table cell; ``jobs show`` and ``--json`` give it whole."""
    if text is None:
        return "-"
    return text if len(text) <= most else text[: most - 1] + "…"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _at(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, tz=UTC).strftime("%H:%M:%S.%f")[:-3]


def print_history(job_id: str, entries: list[HistoryEntry]) -> None:
    """The job's history as a table."""
    table = Table(title=f"History of job {job_id}")
    for column in ("what", "step", "attempt", "start", "end", "took", "state", "by", "error"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        what = entry.action if entry.kind == "action" else entry.kind
        table.add_row(
            _dash(what),
            _dash(entry.step),
            str(entry.attempt),
            _at(entry.started),
            _at(entry.ended),
            _seconds(entry.duration),
            entry.state,
            _dash(entry.worker),
            _short(entry.error),
        )
    _console().print(table)


def show_more(
    store_url: str, job_id: str, *, tree: bool, history: bool, refs: Sequence[str], as_json: bool
) -> dict[str, Any]:
    """What ``jobs show --tree --history`` adds: printed, or (``as_json``) returned."""
    admin = _admin(store_url, refs=refs, read_only=True)
    try:
        case = admin.case(job_id) if tree else None
        entries = admin.history(job_id) if history else None
    finally:
        admin.close()
        admin.store.close()
    if as_json:
        out: dict[str, Any] = {}
        if case is not None:
            out["tree"] = case.to_dict()
        if entries is not None:
            out["history"] = [{**e.to_dict(), "duration": e.duration} for e in entries]
        return out
    if case is not None:
        print_tree(case)
    if entries is not None:
        print_history(job_id, entries)
    return {}


# -- actions -----------------------------------------------------------------------------------


@jobs.command("retry")
@click.argument("job_id", metavar="ID")
@store_option
@click.option(
    "--from",
    "from_step",
    default=None,
    metavar="STEP",
    help="Reset the job to STEP instead of retrying the step it faulted at.",
)
@click.option(
    "--workflows",
    "refs",
    multiple=True,
    metavar="MODULE[:ATTRIBUTE]",
    help="Where the workflows are: checks that --from names a step of the job's workflow.",
)
@operator_option
@json_option
def jobs_retry(
    job_id: str,
    store_url: str,
    from_step: str | None,
    refs: tuple[str, ...],
    operator: str | None,
    as_json: bool,
) -> None:
    """Run a FAULTED job again from the step it faulted at (a new attempt), or reset it.

    A job that faulted because branches of its split faulted has those branches retried;
    a retried branch makes its parent wait at the join again. Every job of the case must
    have ended. The case is then free: the next worker to poll the store runs it.
    """
    admin = _admin(store_url, operator, refs=refs)
    result = _run_action(admin, lambda: admin.retry(job_id, from_step=from_step))
    _report(result, as_json, ("retried", "reset"))


@jobs.command("cancel")
@click.argument("job_id", metavar="ID")
@store_option
@operator_option
@timeout_option
@json_option
def jobs_cancel(
    job_id: str, store_url: str, operator: str | None, timeout: float, as_json: bool
) -> None:
    """Cancel a job and every job below it (give a case's id to cancel the case).

    A live worker holding the case does it on its next poll (a running step finishes
    first); otherwise the store is changed directly.
    """
    admin = _admin(store_url, operator, timeout)
    result = _run_action(admin, lambda: admin.cancel(job_id))
    _report(result, as_json, ("cancelled", "already_finished"))


@jobs.command("prune")
@store_option
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE",
    help="Delete cases that ended more than AGE ago (90s, 15m, 1h, 7d, 2w).",
)
@json_option
def jobs_prune(store_url: str, older_than: str, as_json: bool) -> None:
    """Delete finished cases (all their jobs and history) that ended more than AGE ago.

    A case with any job not yet ended is kept, however old.
    """
    age = parse_age(older_than, "--older-than")
    admin = _admin(store_url)
    try:
        result = admin.prune(age)
    finally:
        admin.close()
        admin.store.close()
    if as_json:
        click.echo(_to_json(result.to_dict()))
    else:
        click.echo(
            f"deleted {result.cases} case(s), {result.jobs} job(s), that ended before "
            f"{_when(result.finished_before)}"
        )


# -- events ------------------------------------------------------------------------------------


@main.group()
def events() -> None:
    """Send events to waiting jobs."""


@events.command("send")
@click.argument("correlation_id", metavar="CORRELATION_ID")
@store_option
@click.option("--data", default="null", metavar="JSON", help="The event's payload, as JSON.")
@click.option("--fault", is_flag=True, help="Deliver it as a fault (the step's fault path).")
@operator_option
@timeout_option
@json_option
def events_send(
    correlation_id: str,
    store_url: str,
    data: str,
    fault: bool,
    operator: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Answer a waiting job by hand: JOB/STEP for a request, JOB/STEP/EVENT for a choice.

    Exits 0 when the event was delivered, 3 when nobody waits for it (the outcome says
    why: duplicate, late, finished, unknown).
    """
    try:
        payload = json.loads(data)
    except ValueError as exc:
        msg = f"--data is not JSON: {exc}"
        raise BadArgumentError(msg) from None
    admin = _admin(store_url, operator, timeout)
    result = _run_action(admin, lambda: admin.send_event(correlation_id, payload, fault=fault))
    _report(result, as_json, ("delivered",))
