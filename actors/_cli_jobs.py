"""``actors jobs list``: read a store's cases, a page at a time.

It opens the store read-only and writes nothing. What ``jobs show --tree --history``
prints is drawn in ``_cli_job_show``; the commands that act on cases (``jobs
retry|cancel|prune``, ``events send``) are in ``_cli_case_actions``. Both use the
``Admin`` opened here, and the latter ``parse_age``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import click
from rich.table import Table

from actors._admin_input import cursor_position
from actors._cli import (
    _dash,
    _open_existing,
    _open_reader,
    _to_json,
    _when,
    store_option,
)
from actors._cli_console import table_console
from actors._cli_errors import BadArgumentError, text_argument
from actors._cli_input import VERSION
from actors._cli_load import load_all
from actors._cli_status import cancel_shown, jobs
from actors._seconds import MAX_SECONDS
from actors.admin import Admin

__all__ = ["json_option", "parse_age"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# The most history entries drawn as a table: a job that loops keeps a row per save on a
# SQL store, and rich draws about 1,500 rows a second (``--json`` gives every one).
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


_MOST = MAX_SECONDS  # an age past a century is a typo (and past what dates hold)


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
    # A job cancelled while its step runs is saved in its last state until that step ends.
    shown = [cancel_shown(job.state.value, job.cancel_requested) for job in page.items]
    table.add_column("state", no_wrap=True, min_width=max(map(len, shown), default=5))
    for column in ("attempt", "created", "error"):
        table.add_column(column, overflow="fold")
    for job, case, state in zip(page.items, cases, shown, strict=True):
        table.add_row(
            job.id,
            case,
            f"{job.workflow} v{job.version}",
            _dash(job.step),
            state,
            str(job.attempt),
            _when(job.created_at),
            _short(job.error),
        )
    console = table_console()
    console.print(table)
    if page.next_cursor is not None:
        console.print(f"More: --after {page.next_cursor} (or --offset {page.next_offset})")


def _short(text: str | None, most: int = 60) -> str:
    """An error cut for a table cell; ``jobs show`` and ``--json`` give it whole."""
    if text is None:
        return "-"
    return text if len(text) <= most else text[: most - 1] + "…"
