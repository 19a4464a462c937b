"""``actors demo``: the order demo on a store, resumed after a stop."""

from __future__ import annotations

from bounds import TIMEOUT
from cli_support import UNSUPPORTED, one_error_line
from click.testing import CliRunner
from records import record

from actors import (
    JobState,
    Mediator,
)
from actors._cli import main
from actors._demo import DEMO_WORKFLOW, case_id, demo_order, run_demo
from actors.stores import MemoryStore, open_store
from actors.testing import VirtualClock


def test_demo_runs_on_the_memory_store(runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo", "--store", "memory://", "--orders", "3"])
    assert result.exit_code == 0, result.output
    assert "Running 3 demo order(s) on memory://" in result.output
    assert "finished" in result.output
    assert "3/3" in result.output
    done_row = next(line for line in result.output.splitlines() if "│ done" in line)
    assert done_row.split("│")[2].strip() == "3"
    assert "scheduled now" in result.output


def test_demo_refuses_more_orders_than_it_can_keep_naming_the_option(runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo", "--store", "memory://", "--orders", "100001"])
    assert result.exit_code == 2
    assert "--orders" in result.output
    assert "100001 is not in the range 1<=x<=100000" in result.output


def test_demo_default_store_is_sqlite(runner: CliRunner) -> None:
    demo = next(p for p in main.commands["demo"].params if p.name == "store_url")
    assert demo.default == "sqlite:///demo.db"


def test_demo_with_an_unsupported_store_url_exits_2_naming_it(runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo", "--store", UNSUPPORTED])
    line = one_error_line(result)
    assert result.exit_code == 2
    assert UNSUPPORTED in line
    assert "memory://" in line  # the forms it accepts


def test_demo_resumes_unfinished_orders_and_skips_finished_ones(clock: VirtualClock) -> None:
    """A second run over the same store finishes what the first left, starting nothing twice."""
    store = MemoryStore(copy_data=True)
    with Mediator([DEMO_WORKFLOW], runners=2, store=store) as first:
        report = run_demo(first, 1, timeout=TIMEOUT)  # order 1 finishes
    assert report.scheduled == 1
    # Order 2 starts under a clock that never moves: it parks on its carrier-pickup wait,
    # and the run stops there (drain returns once nothing is ready or running). Whatever
    # of it had not run by then is saved, and runs on the next start.
    interrupted = Mediator([DEMO_WORKFLOW], runners=2, store=store, clock=clock)
    interrupted.schedule(DEMO_WORKFLOW.name, demo_order(2), job_id=case_id(2))
    interrupted.shutdown(drain=True)
    saved = store.get(case_id(2))
    assert saved is not None
    assert saved.state is JobState.WAITING

    admitted: list[str] = []
    with Mediator([DEMO_WORKFLOW], runners=2, store=store) as again:
        report = run_demo(again, 3, on_admitted=admitted.append, timeout=TIMEOUT)
    # Order 2 resumed as the Mediator started: by the time the demo looks it may be done
    # already (its wait, due on the first run's clock, is overdue) or still running.
    assert report.scheduled == 1
    assert report.already_finished + report.resumed == 2
    assert admitted == [case_id(1), case_id(2), case_id(3)]
    assert [job.state for job in report.jobs] == [JobState.DONE] * 3
    assert report.jobs[1].data["status"] == "confirmed"


def test_a_demo_started_while_another_runs_on_its_store_refuses(tmp_path, monkeypatch) -> None:
    # Every demo works as the worker 'actors-demo' (so that a killed one's orders are
    # taken back at once): a second one took the running one's orders too, and both ran
    # the same steps.
    import time

    import actors._cli_demo as cli_demo
    from actors import RequestReaction, Workflow
    from actors.stores import open_store

    monkeypatch.setattr(cli_demo, "_RENEWAL_WAIT", 0.6, raising=False)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    # A case the running demo holds for as long as it runs: it waits for a reply.
    hold = Workflow("hold", [RequestReaction("ask", send=lambda d, ctx: None)], start="ask")
    with Mediator(
        [DEMO_WORKFLOW, hold], store=url, owner="actors-demo", poll_interval=0.1
    ) as running:
        running.schedule("hold", {}, job_id="held-1")
        result = CliRunner().invoke(main, ["demo", "--store", url, "--orders", "2"])
        assert "another actors demo is running on" in one_error_line(result)
        assert result.exit_code == 1
        store = open_store(url)
        try:
            assert store.get(case_id(1)) is None  # it admitted nothing
        finally:
            store.close()
        running.shutdown(drain=False)
    # Its leases released, or left to lapse by a demo killed mid-way: the next demo runs.
    killed = open_store(url)
    try:
        assert killed.claim("actors-demo", time.time(), 60.0, 1, case_id="held-1")
    finally:
        killed.close()
    again = CliRunner().invoke(main, ["demo", "--store", url, "--orders", "2"])
    assert again.exit_code == 0, again.output


def test_demo_exits_1_when_an_order_did_not_end_done(runner: CliRunner, tmp_path) -> None:
    """docs/how-to/command-line.md: it exits 1 if an order did not end ``DONE``."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    store = open_store(url)
    store.create(  # order 1 faulted in an earlier run: reported, not run again
        record(
            case_id(1),
            workflow=DEMO_WORKFLOW.name,
            version=DEMO_WORKFLOW.version,
            step="payment",
            data=demo_order(1),
            state=JobState.FAULTED,
            error="step 'payment': card declined",
        )
    )
    store.close()
    result = runner.invoke(main, ["demo", "--store", url, "--orders", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "demo-order-1: faulted: step 'payment': card declined" in result.output
    states = {
        cells[1].strip(): cells[2].strip()
        for cells in (line.split("│") for line in result.output.splitlines())
        if len(cells) == 4
    }
    assert (states.get("done"), states.get("faulted")) == ("1", "1")  # order 2 ran
