"""``actors demo``: the order-fulfilment demo on a store, with progress and a report.

The workflow and the run itself are ``_demo``'s; this module is the command that shows
them (rich progress bars while orders run, then tables of their states and timing).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from actors._cli import _STORE_HELP, _console, _open_store, main
from actors._cli_errors import _FAILURE_EXIT, CliError
from actors._cli_interrupt import terminate_as_interrupt
from actors._job import JobState
from actors._leases_log import own_leases
from actors._mediator_options import MAX_RUNNERS

if TYPE_CHECKING:
    from actors._demo import DemoReport
    from actors.stores import Store

__all__ = ["DEMO_STORE", "demo"]

DEMO_STORE = "sqlite:///demo.db"
_INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report it
_DEMO_OWNER = "actors-demo"
# Longer than a demo's worker takes to renew its leases (its poll interval, 1 s).
_RENEWAL_WAIT = 1.5


def _running_demo(store: Store) -> bool:
    """Whether a demo runs on ``store`` now: its worker's leases live, and renewed.

    Every demo works under one name, so that one killed mid-way has its orders taken
    back at once by the next. A second demo started while the first runs took them
    too, and both ran the same steps. Leases that stay put are a killed demo's.
    """
    if not store.shared:
        return False
    held = own_leases(store, _DEMO_OWNER, time.time())
    if held is None:
        return False
    time.sleep(_RENEWAL_WAIT)
    again = own_leases(store, _DEMO_OWNER, time.time())
    return again is not None and again[1] > held[1]


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
    "--orders",
    default=20,
    show_default=True,
    # Each order's handle is kept until the demo reports: a typo's billion would fill memory.
    type=click.IntRange(1, 100_000),
    help="Orders to run, 1 to 100,000.",
)
@click.option(
    "--runners",
    default=4,
    show_default=True,
    type=click.IntRange(1, MAX_RUNNERS),
    help=f"Runner actors (threads), 1 to {MAX_RUNNERS}.",
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
    if _running_demo(store):
        store.close()
        msg = (
            f"another actors demo is running on {store.url} (its worker {_DEMO_OWNER!r} "
            "renews its leases): both would run the same orders; let it end, or give "
            "this one another --store"
        )
        raise CliError(msg)
    console.print(
        Text.assemble(
            f"Running {orders} demo order(s) on ",
            (store.url, "bold"),
            f" with {runners} runner(s).",
        ),
        soft_wrap=True,  # a URL folded in two could not be copied: the terminal wraps it
    )
    # A fixed worker name: a demo killed mid-way takes its orders back at once next time.
    mediator = Mediator([DEMO_WORKFLOW], runners=runners, store=store, owner=_DEMO_OWNER)
    columns = (
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        # kill, timeout: the orders stop as on Ctrl-C, the store consistent and said so.
        with terminate_as_interrupt(), Progress(*columns, console=console) as progress:
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
                "command again to resume them.",
                soft_wrap=True,
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
