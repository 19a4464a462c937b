"""What ``actors jobs show --tree --history`` prints: a case's tree and a job's history.

``jobs show`` (in ``_cli_status``) reads the job; what its two options add is read here,
through the read-only ``Admin`` that ``_cli_jobs`` opens, and drawn or returned as JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from actors._admin_views import LISTED
from actors._cli import _console, _dash, _when, _when_due
from actors._cli_console import printable, table_console
from actors._cli_jobs import _admin, _short
from actors._due_text import server_now
from actors._job import JobState
from actors.admin import CaseNode, CaseTree, HistoryEntry, JobInfo

__all__ = ["HISTORY_SHOWN", "SHOWN_BRANCHES", "print_history", "print_tree", "show_more"]

HISTORY_SHOWN = 1_000
"""The most history rows ``jobs show --history`` prints (the latest ones)."""


def _label(job: JobInfo, now: float) -> Text:
    parts = [job.state.value, f"at {job.step!r}"]
    if job.branch_index is not None:
        parts.insert(0, f"branch {job.branch_index}")
    if job.attempt > 1:
        parts.append(f"attempt {job.attempt}")
    if job.waiting_for:
        parts.append(f"waits for {job.waiting_for}")
    if job.due is not None:
        parts.append(f"due {_when_due(job.due, now)}")
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


def _grow(top: Tree, root: CaseNode, now: float) -> None:
    # With a stack of its own: a case nests as deep as its splits, past Python's stack.
    stack = [(top, root)]
    while stack:
        branch, node = stack.pop()
        kids, left_out = _drawn(node.children)
        stack.extend((branch.add(_label(kid.job, now), highlight=False), kid) for kid in kids)
        if left_out is not None:
            branch.add(left_out)
        split = node.split
        if split is not None and not split.joined:
            missing = _runs(split.waiting_for)
            if len(split.waiting_for) >= LISTED:  # a total edited by hand, say
                missing = f"{missing[:-1]}, ... of {split.total:,}]"
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


def print_tree(case: CaseTree, now: float) -> None:
    """The case as a tree, with its lease; ``now`` by the store's clock, as due times are."""
    if case.held_by is not None:
        lease = f"held by {case.held_by} until {_when(case.lease_expires)}"
    else:
        lease = "held by no live worker"
    tree = Tree(f"Case {case.case_id}: {case.state.value}, {case.jobs} job(s), {lease}")
    _grow(tree.add(_label(case.root.job, now), highlight=False), case.root, now)
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
        now = server_now(admin.store)  # due times are stored by its clock
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
        print_tree(case, now)
    if entries is not None:
        print_history(job_id, entries)
    return {}
