"""``actors jobs retry|cancel|prune`` and ``actors events send``: act on a store's cases.

Every command is a thin layer over ``actors.admin``: one line for people, ``--json``
for scripts. Exit codes: 0 done; 1 the job is not there, or the store failed; 2 a bad
argument; 3 the action does not apply (a retry of a job that did not fault, an event
nobody waits for); 4 a live worker holds the case and did not take the action in time
(nothing changed; try again). ``jobs list`` and ``jobs show`` (reading) are in
``_cli_jobs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from actors._admin_input import OPERATOR_ENV, correlation_id_problem, step_name_problem
from actors._cli import _to_json, _when, main, store_option
from actors._cli_errors import (
    BadArgumentError,
    CliError,
    Seconds,
    id_argument,
    operator_argument,
    text_argument,
)
from actors._cli_input import MAX_EVENT_DEPTH, InputError, strict_json
from actors._cli_interrupt import (
    AgainInterrupt,
    interrupt_after,
    one_request,
    terminate_as_interrupt,
)
from actors._cli_jobs import _admin, json_option, parse_age
from actors._cli_status import jobs
from actors._job import JobState
from actors._seconds import MAX_SECONDS
from actors._text import printable
from actors.admin import ActionRefusedError, ActionResult, Admin, CaseBusyError

__all__ = ["events"]

REFUSED_EXIT = 3
BUSY_EXIT = 4


class RefusedError(CliError):
    """The action does not apply to the job as it stands (exit 3)."""

    exit_code = REFUSED_EXIT


class BusyError(CliError):
    """A live worker holds the case and did not take the action in time (exit 4)."""

    exit_code = BUSY_EXIT


operator_option = click.option(
    "--operator",
    default=None,
    callback=operator_argument,
    metavar="NAME",
    help=f"Who is acting, recorded in the job's history [env: {OPERATOR_ENV}; else the login].",
)
timeout_option = click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=Seconds(0, MAX_SECONDS),
    help="Seconds to wait for the worker holding the case to carry the action out.",
)


def _run_action(admin: Admin, act: Any) -> ActionResult:
    try:
        # SIGTERM stops it as Ctrl-C does (a request handed to a worker is withdrawn);
        # a signal's copy within a second (timeout's, to the process group) is the same.
        with one_request() as stop:
            if stop is not None:
                admin._delivery.whole = stop.whole
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
        # The operator's name (--operator, ACTORS_OPERATOR, the login name) and the
        # worker's are shown as the tables show them: an escape is written, not obeyed.
        click.echo(
            printable(
                f"{result.action} {result.job_id}{detail}: {result.outcome}, via {result.via}, "
                f"by {result.operator}"
            )
        )
    if result.outcome not in ok:
        raise SystemExit(REFUSED_EXIT)


def _step_argument(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback for ``--from``: a name a step can have, else exit 2.

    ``--from ''`` reset the job to a step no workflow has, reporting the step it had.
    """
    value = text_argument(ctx, param, value)
    problem = None if value is None else step_name_problem(value)
    if problem is not None:
        msg = f"--from {problem}: a workflow's steps are named non-empty, without '/'"
        raise BadArgumentError(msg)
    return value


# -- actions -----------------------------------------------------------------------------------


@jobs.command("retry")
@click.argument("job_id", metavar="ID", callback=id_argument)
@store_option
@click.option(
    "--from",
    "from_step",
    default=None,
    metavar="STEP",
    callback=_step_argument,
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
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=Seconds(0, MAX_SECONDS),
    help="Seconds to wait for a write of the case another transaction holds (a worker "
    "frozen in one); then exit 4, nothing changed.",
)
@json_option
def jobs_retry(
    job_id: str,
    store_url: str,
    from_step: str | None,
    refs: tuple[str, ...],
    operator: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Run a FAULTED job again from the step it faulted at (a new attempt), or reset it.

    A job that faulted because branches of its split faulted has those branches retried;
    a retried branch makes its parent wait at the join again. Every job of the case must
    have ended. The case is then free: the next worker to poll the store runs it.
    """
    admin = _admin(store_url, operator, timeout, refs=refs)
    result = _run_action(admin, lambda: admin.retry(job_id, from_step=from_step))
    _report(result, as_json, ("retried", "reset"))


@jobs.command("cancel")
@click.argument("job_id", metavar="ID", callback=id_argument)
@store_option
@click.option(
    "--workflows",
    "refs",
    multiple=True,
    metavar="MODULE[:ATTRIBUTE]",
    help="Where the workflows are: imported, so the dataclasses of the case's data are read.",
)
@operator_option
@timeout_option
@json_option
def jobs_cancel(
    job_id: str,
    store_url: str,
    refs: tuple[str, ...],
    operator: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Cancel a job and every job below it (give a case's id to cancel the case).

    A live worker holding the case does it, woken for it (a running step finishes
    first); otherwise the store is changed directly.
    """
    admin = _admin(store_url, operator, timeout, refs=refs)
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
@click.option(
    "--trim-history",
    is_flag=True,
    help="Also delete what unfinished cases (a loop that never ends) left more than AGE "
    "ago: their jobs' history, but for operators' actions and each job's latest entry of "
    "each step and attempt, and the finished branches of splits they have split again.",
)
@json_option
def jobs_prune(store_url: str, older_than: str, trim_history: bool, as_json: bool) -> None:
    """Delete finished cases (all their jobs and history) that ended more than AGE ago.

    A case with any job not yet ended is kept, however old; with --trim-history, its
    history older than AGE goes.
    """
    age = parse_age(older_than, "--older-than", unit_required=True)
    admin = _admin(store_url)
    gone = [0, 0]  # cases and jobs of the batches stored so far

    def batch_done(cases: int, jobs: int) -> bool:
        gone[0], gone[1] = gone[0] + cases, gone[1] + jobs
        return stop_asked()  # a Ctrl-C or SIGTERM: stop once this batch is stored

    try:
        with terminate_as_interrupt(), interrupt_after() as stop_asked:
            result = admin.prune(age, trim_history=trim_history, batch_done=batch_done)
    except AgainInterrupt:  # a second one, inside a batch: that batch is stored or not
        msg = f"{_deleted(*gone)}, and maybe the cases of the batch under way (each whole)"
        raise KeyboardInterrupt(msg) from None
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"{_deleted(*gone)}; the rest are kept") from None
    finally:
        admin.close()
        admin.store.close()
    if as_json:
        click.echo(_to_json(result.to_dict()))
        return
    when = _when(result.finished_before)
    click.echo(f"deleted {result.cases} case(s), {result.jobs} job(s), that ended before {when}")
    if trim_history:
        click.echo(
            f"deleted {result.history_rows} history row(s) and {result.branch_jobs} finished "
            f"branch job(s) of unfinished cases, from before {when}"
        )


def _deleted(cases: int, jobs: int) -> str:
    return f"deleted {cases} case(s), {jobs} job(s), before it stopped"


# -- events ------------------------------------------------------------------------------------


@main.group()
def events() -> None:
    """Send events to waiting jobs."""


@events.command("send")
@click.argument("correlation_id", metavar="CORRELATION_ID", callback=text_argument)
@store_option
@click.option(
    "--data",
    default=None,
    metavar="JSON",
    help="The event's payload, as JSON. Without it the event has no payload: the step "
    "gets null (None), as from Admin.send_event without data; --data '{}' sends an empty "
    "object.",
)
@click.option("--fault", is_flag=True, help="Deliver it as a fault (the step's fault path).")
@click.option(
    "--workflows",
    "refs",
    multiple=True,
    metavar="MODULE[:ATTRIBUTE]",
    help="Where the workflows are: an event the job's step does not wait on is then "
    "refused (unknown), as a worker refuses it.",
)
@operator_option
@timeout_option
@json_option
def events_send(
    correlation_id: str,
    store_url: str,
    data: str | None,
    fault: bool,
    refs: tuple[str, ...],
    operator: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Answer a waiting job by hand: JOB/STEP for a request, JOB/STEP/EVENT for a choice.

    Exits 0 when the event was delivered, 3 when nobody waits for it (the outcome says
    why: duplicate, late, finished, unknown). Without --data the payload is null.
    Without --workflows, an event for a job parked at STEP is delivered whatever STEP
    is; a Wait step that gets one ignores it and waits its whole duration again, and a
    DeferredChoice given an EVENT it does not have faults the job (jobs retry puts it
    back).
    """
    # No --data is no payload (None), as the Python API and the dashboard's empty field
    # give: an invented {} would reach on_reply / on_fault as a value nobody sent.
    try:
        payload = None if data is None else strict_json(data, MAX_EVENT_DEPTH)
    except InputError as exc:
        raise BadArgumentError(f"--data {exc}") from None
    problem = correlation_id_problem(correlation_id)
    if problem is not None:  # a bad argument (exit 2), before the store is opened
        raise BadArgumentError(problem)
    admin = _admin(store_url, operator, timeout, refs=refs)
    hints: list[str] = []

    def send() -> ActionResult:
        result = admin.send_event(correlation_id, payload, fault=fault)
        if result.outcome == "unknown" and not as_json:  # a typo, or early: what it waits on
            hints.append(_awaited(admin, result.job_id, known=bool(refs)))
        return result

    result = _run_action(admin, send)
    if result.outcome == "delivered" and result.via == "store" and not refs and not as_json:
        # Nothing read the workflow: a typo in EVENT faults the job when a worker takes it.
        hints.append(_unchecked(correlation_id))
    for hint in hints:
        click.echo(printable(f"actors: {hint}"), err=True)
    _report(result, as_json, ("delivered",))


def _unchecked(correlation_id: str) -> str:
    """The hint for an event delivered to the store with no workflow to check it against."""
    job_id, _, rest = correlation_id.partition("/")
    step, _, event = rest.partition("/")
    if event:
        then = (
            f"if step {step!r} has no event {event!r}, job {job_id} faults there when a "
            "worker takes it up (jobs retry puts it back)"
        )
    else:
        then = f"if step {step!r} is a Wait, it ignores the event and waits its whole time again"
    return f"not checked against the workflow (give --workflows to check it): {then}"


def _awaited(admin: Admin, job_id: str, *, known: bool) -> str:
    """What job ``job_id`` waits on now (``known``: its workflow was given, so its ids are)."""
    job = admin.job(job_id)
    if job.state is not JobState.WAITING:
        return f"job {job_id} is {job.state.value} at step {job.step!r}, waiting for no event"
    if job.correlation_ids:
        return f"job {job_id} waits at step {job.step!r} for {', '.join(job.correlation_ids)}"
    if known:
        return f"job {job_id} waits at step {job.step!r} for no event (a timer, or its branches)"
    return f"job {job_id} waits at step {job.step!r} (--workflows names the events it waits for)"
