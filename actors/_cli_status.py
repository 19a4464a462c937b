"""``actors status`` (what a store holds) and ``actors jobs show`` (one job's snapshot)."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from actors._admin_views import store_workers
from actors._cases import missing_job, padded_twins
from actors._cli import (
    _console,
    _dash,
    _open_reader,
    _to_json,
    _when_due,
    main,
    store_option,
)
from actors._cli_console import table_console
from actors._cli_errors import CliError, id_argument
from actors._cli_status_rows import StatusFacts, summary_rows
from actors._cli_unreadable import reason_lines, unreadable, unreadable_state
from actors._cli_workers import workers_json, workers_option, workers_table
from actors._due_text import server_now, server_skew
from actors._job import Job, JobState
from actors._runner_failures import LIMIT as TRIES_LIMIT
from actors.stores import Store

__all__ = ["cancel_shown", "jobs", "jobs_show", "status"]


# -- status ------------------------------------------------------------------------------------


def _unclaimed(store: Store) -> dict[tuple[str, int], int]:
    """Cases no live worker holds, by the workflow version a worker must serve to run them."""
    try:
        return store.unclaimed(time.time())
    except NotImplementedError:
        return {}


@main.command()
@store_option
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(0, 2**62),  # as jobs list: within SQL's integers
    help="Unfinished jobs to list (oldest first); 0 lists none.",
)
@workers_option
@click.option("--json", "as_json", is_flag=True, help="Print the same facts as one JSON object.")
def status(store_url: str, limit: int, worker_limit: int, as_json: bool) -> None:
    """Show what a store holds: jobs by state, what waits, the workers, the oldest jobs.

    Workers are live while their lease runs; one whose lease expired stopped renewing it,
    and its cases wait for another worker to take them over.

    It opens the store read-only and writes nothing; a database that does not exist is
    an error, never created. memory:// is private to one process, so from here it is
    always empty; point this at the store your workers use.
    """
    store = _open_reader(store_url)
    try:
        facts = StatusFacts(
            store,
            store.counts(),
            store.unfinished_facts(limit),
            server_now(store),
            server_skew(store),
            store_workers(store, worker_limit),
        )
        unclaimed = _unclaimed(store)
    finally:
        store.close()
    if as_json:
        click.echo(_to_json(_status_json(facts, limit, unclaimed)))
        return
    console = table_console()  # in a pipe, each row on one line
    console.print(Text.assemble("Store ", (store.url, "bold")))

    states = Table(title="Jobs by state")
    states.add_column("state")
    states.add_column("jobs", justify="right")
    for state in JobState:
        states.add_row(state.value, str(facts.counts.get(state, 0)))
    console.print(states)

    summary = Table(title="Summary")
    summary.add_column("what")
    summary.add_column("value")
    for got in summary_rows(facts):
        summary.add_row(got.label, got.text)
    console.print(summary)

    listed = None if facts.workers is None else workers_table(facts.workers)
    if listed is not None:
        console.print(listed)

    if unclaimed:
        # Cases no live worker holds: none runs their workflow version, or none polled yet.
        waiting = Table(title="Unclaimed cases")
        waiting.add_column("waiting for a worker serving")
        waiting.add_column("cases", justify="right")
        for (name, version), count in sorted(unclaimed.items()):
            waiting.add_row(f"{name} v{version}", str(count))
        console.print(waiting)

    if limit and facts.unfinished.oldest:
        shown = facts.unfinished.oldest[:limit]
        jobs = Table(title=f"Unfinished jobs (oldest {len(shown)} of {facts.unfinished.total})")
        for column in ("id", "workflow", "step", "state", "parent", "branch", "due"):
            jobs.add_column(column, overflow="fold")
        for job in shown:
            jobs.add_row(
                job.id,
                f"{job.workflow} v{job.version}",
                _dash(job.step),
                unreadable_state(job, cancel_shown(job.state.value, job.cancel_requested)),
                _dash(job.parent_id),
                _dash(job.branch_index),
                _when_due(facts.due(job), facts.now),
            )
        console.print(jobs)
        for line in reason_lines(shown):
            console.print(line)


def _status_json(
    facts: StatusFacts, limit: int, unclaimed: dict[tuple[str, int], int]
) -> dict[str, Any]:
    return {
        "store": facts.store.url,
        "counts": {state.value: facts.counts.get(state, 0) for state in JobState},
        "summary": {got.key: got.value for got in summary_rows(facts)},
        **({} if facts.workers is None else {"workers": workers_json(facts.workers)}),
        "unclaimed": [
            {"workflow": name, "version": version, "cases": count}
            for (name, version), count in sorted(unclaimed.items())
        ],
        "unfinished": [
            {
                "id": job.id,
                "case": job.case_id,
                "workflow": job.workflow,
                "version": job.version,
                "step": job.step,
                "state": job.state.value,
                "cancel_requested": job.cancel_requested,
                "parent": job.parent_id,
                "branch": job.branch_index,
                "due": facts.due(job),
                "unreadable": unreadable(job),
            }
            for job in facts.unfinished.oldest[:limit]
        ],
    }


def cancel_shown(state: str, cancel_requested: bool) -> str:
    """A job's state in a table: ``ready, cancel requested`` while a cancel waits on its step.

    Such a job is saved in its last state until the step ends and it is saved CANCELLED.
    """
    return f"{state}, cancel requested" if cancel_requested else state


# -- jobs --------------------------------------------------------------------------------------


@main.group()
def jobs() -> None:
    """List, inspect and act on the jobs in a store (see also: events send)."""


def _job_fields(job: Job, tries: int = 0) -> list[tuple[str, Any]]:
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
        # Workers that took it over from a stopped one and ran it from its last save.
        ("tries", tries),
    ]


@jobs.command("show")
@click.argument("job_id", metavar="ID", callback=id_argument)
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as one JSON object.")
@click.option("--tree", is_flag=True, help="Also show its case as a tree: branches, joins, lease.")
@click.option("--history", is_flag=True, help="Also show its history: steps, waits, actions.")
@click.option(
    "--workflows",
    "refs",
    multiple=True,
    metavar="MODULE[:ATTRIBUTE]",
    help="Where the workflows are: names the correlation ids waiting jobs expect.",
)
def jobs_show(
    job_id: str,
    store_url: str,
    as_json: bool,
    tree: bool,
    history: bool,
    refs: tuple[str, ...],
) -> None:
    """Show the job ID as last saved: workflow, step, state, parent, error and data.

    It opens the store read-only and writes nothing.
    """
    from actors._cli_job_show import show_more
    from actors._cli_load import load_all

    load_all(refs)  # a bad reference fails before anything is printed
    store = _open_reader(store_url)
    try:
        job = store.get(job_id)
        stored = store.stored_job(job_id) if job is not None else None
        twins = store.stored_jobs(padded_twins(job_id)) if job is None else {}
    finally:
        store.close()
    if job is None:
        raise CliError(missing_job(job_id, store.url, twins))
    tries = stored.tries if stored is not None else 0
    # Its worker cancelled it while its step runs: the row's error is the cancel's, not a
    # failed attempt, until the step ends and the job is saved CANCELLED.
    cancelling = stored is not None and stored.record.cancel_requested and not job.state.is_final
    if as_json:
        more = show_more(store_url, job_id, tree=tree, history=history, refs=refs, as_json=True)
        fields = {**dict(_job_fields(job, tries)), "cancel_requested": cancelling}
        click.echo(_to_json({**fields, "data": job.data, **more}))
        return
    console = _console()
    table = Table(title=f"Job {job.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    # A live job's error is a failed attempt it retries: it has not faulted.
    error = "last failure" if job.error and not job.state.is_final else "error"
    for name, value in _job_fields(job, tries):
        if name == "error" and cancelling:
            ending = "yes: the running step ends first, then the job ends cancelled"
            table.add_row("cancel requested", ending)
        elif name != "tries":
            table.add_row(error if name == "error" else name, _dash(value))
        elif tries:  # shown only for a job that workers stopped under
            table.add_row(
                name,
                f"{tries}: run {tries} time(s) from its last save by workers that took it over "
                f"from a stopped one (the first beside other jobs, the rest alone; a run "
                f"past {TRIES_LIMIT + 1} faults it)",
            )
    console.print(table)
    console.print("data:")
    click.echo(_to_json(job.data, strict=False))  # for reading: NaN stays a number
    if tree or history:
        show_more(store_url, job_id, tree=tree, history=history, refs=refs, as_json=False)
