"""``actors jobs list`` and what ``jobs show --tree --history`` prints: read a store's cases.

These commands open the store read-only and write nothing. The commands that act on
cases (``jobs retry|cancel|prune``, ``events send``) are in ``_cli_case_actions`` and
share ``parse_age`` and the ``Admin`` opened here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from actors._admin_input import cursor_position
from actors._cli import (
    _console,
    _dash,
    _open_existing,
    _open_reader,
    _to_json,
    _when,
    store_option,
)
from actors._cli_console import printable, table_console
from actors._cli_errors import BadArgumentError, text_argument
from actors._cli_input import VERSION
from actors._cli_load import load_all
from actors._cli_status import jobs
from actors._job import JobState
from actors.admin import Admin, CaseNode, CaseTree, HistoryEntry, JobInfo

__all__ = ["parse_age", "print_history", "print_tree"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# The most history entries drawn as a table: a job that loops keeps a row per save on a
# SQL store, and rich draws about 1,500 rows a second (``--json`` gives every one).
HISTORY_SHOWN = 1_000
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


_MOST = 100 * 366 * 86400.0  # an age past a century is a typo (and past what dates hold)


def parse_age(text: str, option: str, *, unit_required: bool = False) -> float:
    """Seconds in ``30s``, ``15m``, ``1h``, ``7d``, ``2w`` or a plain number of seconds.

    With ``unit_required`` a bare number is refused: where an age decides what is
    deleted, ``0`` or ``5`` must not be read as seconds by accident.
    """
    found = _AGE.match(text)
    if found is None or (unit_required and not found.group(2)):
        msg = f"{option} {text!r} is not an age; write e.g. 90s, 15m, 1h, 7d or 2w"
        if found is not None:
            msg += " (a unit is required)"
        raise BadArgumentError(msg)
    seconds = float(found.group(1)) * _UNITS[found.group(2) or "s"]
    if seconds > _MOST:
        msg = f"{option} {text!r} is more than a hundred years"
        raise BadArgumentError(msg)
    return seconds


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _admin(
    store_url: str,
    operator: str | None = None,
    timeout: float = 10.0,
    refs: Sequence[str] = (),
    *,
    read_only: bool = False,
) -> Admin:
    workflows = load_all(refs)
    store = _open_reader(store_url) if read_only else _open_existing(store_url)
    return Admin(store, operator=operator, timeout=timeout, workflows=workflows)


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
@click.option(
    "--workflow", default=None, callback=text_argument, help="Only jobs of this workflow."
)
@click.option(
    "--version", "version", type=VERSION, default=None, help="Only this workflow version."
)
@click.option("--step", default=None, help="Only jobs at this step.", callback=text_argument)
@click.option("--since", default=None, metavar="AGE", help="Created within AGE (1h, 7d...).")
@click.option("--before", default=None, metavar="AGE", help="Created more than AGE ago.")
@click.option(
    "--error",
    default=None,
    metavar="TEXT",
    callback=text_argument,
    help="Only jobs whose error has TEXT.",
)
@click.option("--cases", "cases_only", is_flag=True, help="Cases (root jobs) only.")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(1, 2**62),
    help="Jobs on the page.",
)
@click.option(
    "--offset",
    default=0,
    show_default=True,
    type=click.IntRange(0, 2**62),
    help="Skip this many jobs first (after --after, that many more); reads every job skipped.",
)
@click.option(
    "--after",
    default=None,
    metavar="CURSOR",
    help="Start past the job this cursor names (the next page, as the last one printed).",
)
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
    after: str | None,
    as_json: bool,
) -> None:
    """List jobs, newest first, filtered by state, workflow, step, age and error text.

    It opens the store read-only and writes nothing. Each page ends with the
    ``--after`` cursor of the next one (``--offset`` works too, but reads every job it
    skips).
    """
    if after is not None:
        try:
            cursor_position(after)
        except ValueError as exc:
            raise BadArgumentError(f"--after {exc}") from None
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
            after=after,
        )
    finally:
        admin.close()
        admin.store.close()
    if as_json:
        click.echo(_to_json(page.to_dict()))
        return
    table = Table(title=f"Jobs in {admin.store.url}")
    # Ids stay whole on one line (an operator copies them into the next command); on a
    # narrow terminal the other columns fold instead.
    cases = ["-" if job.parent_id is None else job.case_id for job in page.items]
    table.add_column("id", no_wrap=True, min_width=max((len(j.id) for j in page.items), default=2))
    table.add_column("case", no_wrap=True, min_width=max(map(len, cases), default=4))
    table.add_column("workflow", overflow="fold")
    table.add_column("step", overflow="fold")
    shown = [job.state.value for job in page.items]
    table.add_column("state", no_wrap=True, min_width=max(map(len, shown), default=5))
    for column in ("attempt", "created", "error"):
        table.add_column(column, overflow="fold")
    for job, case in zip(page.items, cases, strict=True):
        table.add_row(
            job.id,
            case,
            f"{job.workflow} v{job.version}",
            _dash(job.step),
            job.state.value,
            str(job.attempt),
            _when(job.created_at),
            _short(job.error),
        )
    console = table_console()
    console.print(table)
    if page.next_cursor is not None:
        console.print(f"More: --after {page.next_cursor} (or --offset {page.next_offset})")


# -- jobs show --tree / --history (called by jobs show) ----------------------------------------


def _label(job: JobInfo) -> Text:
    parts = [job.state.value, f"at {job.step!r}"]
    if job.branch_index is not None:
        parts.insert(0, f"branch {job.branch_index}")
    if job.attempt > 1:
        parts.append(f"attempt {job.attempt}")
    if job.waiting_for:
        parts.append(f"waits for {job.waiting_for}")
    if job.due is not None:
        parts.append(f"due {_when(job.due)}")
    if job.error:  # on a live job, a failed attempt it retries (it has not faulted)
        parts.append(f"{'error' if job.state.is_final else 'last failure'}: {job.error}")
    return Text.assemble((printable(job.id), "bold"), ", ", printable(", ".join(parts)))


# Branches drawn under one job: drawing all of a split of 100,000 took 50 s and 450 MiB.
SHOWN_BRANCHES = 100


def _drawn(kids: list[CaseNode]) -> tuple[list[CaseNode], str | None]:
    """The branches of a job to draw, in branch order, and a line for those left out.

    Those not DONE first (a fault or a wait is what one looks for), then the first DONE.
    """
    if len(kids) <= SHOWN_BRANCHES:
        return kids, None
    first = [kid for kid in kids if kid.job.state is not JobState.DONE][:SHOWN_BRANCHES]
    first += [kid for kid in kids if kid.job.state is JobState.DONE][: SHOWN_BRANCHES - len(first)]
    shown = {id(kid) for kid in first}
    left = Counter(kid.job.state.value for kid in kids if id(kid) not in shown)
    states = ", ".join(f"{n:,} {state}" for state, n in sorted(left.items()))
    line = f"... {sum(left.values()):,} more branches not drawn ({states}); --json gives every job"
    return [kid for kid in kids if id(kid) in shown], line


def _grow(top: Tree, root: CaseNode) -> None:
    # With a stack of its own: a case nests as deep as its splits, past Python's stack.
    stack = [(top, root)]
    while stack:
        branch, node = stack.pop()
        kids, left_out = _drawn(node.children)
        stack.extend((branch.add(_label(kid.job), highlight=False), kid) for kid in kids)
        if left_out is not None:
            branch.add(left_out)
        split = node.split
        if split is not None and not split.joined:
            missing = _runs(split.waiting_for)
            # A split that ended (cancelled, faulted) waits for nothing any more.
            rest = f"never came {missing}" if node.job.state.is_final else f"waiting for {missing}"
            if split.ended:
                rest += f", ended without arriving {_runs(split.ended)}"
            branch.add(
                f"split {split.split_step!r} -> join {_dash(split.join_step)}: "
                f"arrived {_runs(split.arrived)}, {rest}"
            )


def _runs(indexes: Sequence[int]) -> str:
    """Branch indexes as a list, three or more in a row as a range: ``[0-49999, 50001]``."""
    parts: list[str] = []
    ordered = sorted(indexes)
    start = 0
    for at in range(1, len(ordered) + 1):
        if at == len(ordered) or ordered[at] != ordered[at - 1] + 1:
            first, last = ordered[start], ordered[at - 1]
            if last - first >= 2:
                parts.append(f"{first}-{last}")
            else:
                parts.extend(str(i) for i in ordered[start:at])
            start = at
    return f"[{', '.join(parts)}]"


def print_tree(case: CaseTree) -> None:
    """The case as a tree, with its lease."""
    if case.held_by is not None:
        lease = f"held by {case.held_by} until {_when(case.lease_expires)}"
    else:
        lease = "held by no live worker"
    tree = Tree(f"Case {case.case_id}: {case.state.value}, {case.jobs} job(s), {lease}")
    _grow(tree.add(_label(case.root.job), highlight=False), case.root)
    console = _console()
    console.print(tree)
    # Each level indents 4 columns more, and rich draws no label it has no room for.
    drawn = console.width // 4 - 2
    deepest = max(depth for depth, _ in case.walk())
    if deepest > drawn:
        console.print(
            f"(The case nests {deepest} levels deep: branches below level {drawn} do not "
            f"fit in {console.width} columns and are not drawn; --json gives every job.)"
        )


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
    """The job's history as a table; one entry per line where the table does not fit.

    Past ``HISTORY_SHOWN`` entries, only the most recent are drawn, after a line that
    says how many earlier ones were left out.
    """
    if len(entries) > HISTORY_SHOWN:
        left_out = (
            f"{len(entries) - HISTORY_SHOWN:,} earlier entries of job {job_id} not shown: "
            f"the most recent {HISTORY_SHOWN:,} of {len(entries):,} follow "
            "(--json lists every one)"
        )
        table_console().print(Text(left_out, style="italic"))  # an id is no markup
        entries = entries[-HISTORY_SHOWN:]
    table = Table(title=f"History of job {job_id}")
    # Names (copied into the next command, as ids from ``jobs list``), attempts, times and
    # states stay whole on one line; only the free text (what, error) folds.
    columns = ("what", "step", "attempt", "start", "end", "took", "state", "by", "error")
    rows = [_history_row(entry) for entry in entries]
    needed = 1  # the left border; each column adds its padding (2) and right border (1)
    for index, column in enumerate(columns):
        if column in ("what", "error"):
            table.add_column(column, overflow="fold", min_width=7)
            needed += 7 + 3
        else:
            widest = max([len(column), *(len(row[index]) for row in rows)])
            table.add_column(column, no_wrap=True, min_width=widest)
            needed += widest + 3
    for row in rows:
        table.add_row(*row)
    console = table_console()
    if needed <= console.width:
        console.print(table)
        return
    # Too narrow for the table (80 columns, long names): one line per entry, which wraps
    # between fields, never inside a name or a time.
    console.print(f"History of job {job_id}", style="italic")
    for what, step, attempt, started, ended, took, state, by, error in rows:
        when = f"at {ended}" if started == "-" else f"{started} to {ended} ({took})"
        line = f"{what}  {step}  attempt {attempt}  {when}  {state}"
        line += "" if by == "-" else f"  by {by}"
        console.print(line if error == "-" else f"{line}  error: {error}", overflow="fold")


def _history_row(entry: HistoryEntry) -> list[str]:
    return [
        _dash(entry.action if entry.kind in ("action", "takeover") else entry.kind),
        _dash(entry.step),
        str(entry.attempt),
        _at(entry.started),
        _at(entry.ended),
        _seconds(entry.duration),
        entry.state,
        _dash(entry.worker),
        _short(entry.error),
    ]


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
