"""The ``actors`` program: every command, its output and its one-line errors.

Commands run in-process with click's CliRunner; the worker also runs as a real
subprocess stopped by a signal. Nothing sleeps: tests wait on events, on a job's
handle or on the subprocess's log lines, each with a timeout.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner
from flows import setter

import actors._cli as cli
import actors._cli_status as cli_status
from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    StoreError,
    Synchronize,
    Wait,
    Workflow,
)
from actors._cli import main
from actors._demo import DEMO_WORKFLOW, case_id, demo_order, run_demo
from actors.stores import MemoryStore, Store, open_store
from actors.stores._schema import MIGRATIONS
from actors.testing import VirtualClock

UNSUPPORTED = "nosuch:///var/lib/jobs.db"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory the CLI imports modules from; sys.path and modules restored."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("wfmod_"):
            del sys.modules[name]


def write_module(where: Path, body: str) -> str:
    """Write a uniquely named module of workflows; return its name."""
    name = f"wfmod_{uuid.uuid4().hex[:8]}"
    (where / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return name


FLOWS = """
    from actors import Sequential, Workflow

    def noop(data):
        return None

    FIRST = Workflow("first", [Sequential("a", noop)], start="a")
    SECOND = Workflow("second", [Sequential("b", noop)], start="b", version=2)
    BOTH = [FIRST, SECOND]
    NOT_A_FLOW = 42
"""


def one_error_line(result: Any) -> str:
    """The command failed with exactly one ``actors: error:`` line and no traceback."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("actors: error: ")
    return str(lines[0])


# -- the program itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["graph"],
        ["demo"],
        ["status"],
        ["jobs"],
        ["jobs", "show"],
        ["enqueue"],
        ["worker"],
        ["jobs", "list"],
        ["jobs", "retry"],
        ["jobs", "cancel"],
        ["jobs", "prune"],
        ["events"],
        ["events", "send"],
    ],
)
def test_every_command_has_help(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_python_dash_m_actors_runs_the_same_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actors", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: actors" in done.stdout
    for command in ("demo", "enqueue", "graph", "jobs", "status", "worker"):
        assert command in done.stdout


def test_version(runner: CliRunner) -> None:
    from actors import __version__

    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


# -- graph -------------------------------------------------------------------------------------


def test_graph_prints_one_workflow(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["graph", f"{name}:FIRST"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("flowchart TD\n")
    assert "%% workflow first v1" in result.output
    assert "second" not in result.output


def test_graph_prints_a_list_and_a_whole_module(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    listed = runner.invoke(main, ["graph", f"{name}:BOTH"])
    whole = runner.invoke(main, ["graph", name])
    assert listed.exit_code == whole.exit_code == 0
    assert listed.output == whole.output
    assert listed.output.count("flowchart TD") == 2
    assert "%% workflow second v2" in listed.output


def test_graph_matches_to_mermaid_and_can_wrap_markdown(runner: CliRunner) -> None:
    plain = runner.invoke(main, ["graph", "actors._demo:DEMO_WORKFLOW"])
    assert plain.output == DEMO_WORKFLOW.to_mermaid()
    fenced = runner.invoke(main, ["graph", "--markdown", "actors._demo:DEMO_WORKFLOW"])
    assert fenced.output == f"```mermaid\n{DEMO_WORKFLOW.to_mermaid()}```\n"


def test_graph_uses_a_workflows_list(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, textwrap.dedent(FLOWS) + "\nWORKFLOWS = [SECOND]\n")
    result = runner.invoke(main, ["graph", name])
    assert result.exit_code == 0
    assert result.output.count("flowchart TD") == 1
    assert "%% workflow second v2" in result.output


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_such_module_xyz:FLOW", "no module named 'no_such_module_xyz'"),
        ("no_such_module_xyz.sub:FLOW", "no module named 'no_such_module_xyz'"),
        ("{mod}:MISSING", "module '{mod}' has no attribute 'MISSING'"),
        ("{mod}:NOT_A_FLOW", "'{mod}:NOT_A_FLOW' is a int, not a Workflow"),
        ("{mod}:noop", "is a function, not a Workflow"),
        ("{mod}:", "is not a reference"),
        (":FIRST", "is not a reference"),
        ("a..b:FIRST", "is not a reference"),
    ],
)
def test_graph_bad_references_are_one_line_errors(
    runner: CliRunner, workdir: Path, reference: str, message: str
) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["graph", reference.format(mod=name)])
    line = one_error_line(result)
    assert result.exit_code == 2
    assert message.format(mod=name) in line


def test_graph_module_without_workflows(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, "X = 1\n")
    line = one_error_line(runner.invoke(main, ["graph", name]))
    assert f"module {name!r} defines no Workflow" in line


def test_graph_module_that_fails_to_import(runner: CliRunner, workdir: Path) -> None:
    broken = write_module(workdir, "import not_installed_anywhere_xyz\n")
    line = one_error_line(runner.invoke(main, ["graph", broken]))
    assert f"importing {broken!r} failed: ModuleNotFoundError" in line
    raising = write_module(workdir, "raise RuntimeError('config missing')\n")
    line = one_error_line(runner.invoke(main, ["graph", raising]))
    assert "RuntimeError: config missing" in line


def test_graph_module_with_an_invalid_workflow(runner: CliRunner, workdir: Path) -> None:
    name = write_module(
        workdir,
        """
        from actors import Sequential, Workflow
        BAD = Workflow("bad", [Sequential("a", print, next="nowhere")], start="a")
        """,
    )
    line = one_error_line(runner.invoke(main, ["graph", name]))
    assert "defines an invalid workflow" in line
    assert "'nowhere'" in line


# -- demo --------------------------------------------------------------------------------------


def test_demo_runs_on_the_memory_store(runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo", "--store", "memory://", "--orders", "3"])
    assert result.exit_code == 0, result.output
    assert "Running 3 demo order(s) on memory://" in result.output
    assert "finished" in result.output
    assert "3/3" in result.output
    done_row = next(line for line in result.output.splitlines() if "│ done" in line)
    assert done_row.split("│")[2].strip() == "3"
    assert "scheduled now" in result.output


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


# -- a store with something in it ------------------------------------------------------------


class Latch:
    """A task that counts its calls; ``reached`` is set at the ``n``-th."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self.lock = threading.Lock()
        self.reached = threading.Event()

    def __call__(self, data: Any) -> None:
        with self.lock:
            self.calls += 1
            if self.calls >= self.n:
                self.reached.set()


@pytest.fixture
def busy_store(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store holding finished and parked jobs; the CLI opens it for any URL."""
    store = MemoryStore()
    branches_started = Latch(2)
    flows = [
        Workflow("quick", [Sequential("a", setter("a"))], start="a"),
        Workflow("pause", [Wait("nap", 60, next="a"), Sequential("a", setter("a"))], "nap"),
        Workflow(
            "ask",
            [RequestReaction("ask", send=lambda d, ctx: None, next="a"), Sequential("a", noop)],
            start="ask",
        ),
        Workflow(
            "fan",
            [
                ParallelSplit("split", branches=["x", "y"]),
                Sequential("x", branches_started, next="wait_x"),
                Sequential("y", branches_started, next="wait_y"),
                Wait("wait_x", 30, next="join"),
                Wait("wait_y", 90, next="join"),
                Synchronize("join"),
            ],
            start="split",
        ),
    ]
    mediator = Mediator(flows, runners=2, store=store, clock=clock)
    assert mediator.schedule("quick", {"n": 1}, job_id="quick-1").result(TIMEOUT)
    for name in ("pause", "ask", "fan"):
        mediator.schedule(name, {"case": name, "note": "∑ unicode"}, job_id=f"{name}-1")
    assert branches_started.reached.wait(TIMEOUT)
    mediator.shutdown(drain=True)  # returns once no job is queued, ready or running
    monkeypatch.setattr(cli, "open_store", lambda url, **options: store)
    return store


def noop(data: Any) -> None:
    return None


def test_status_counts_states_and_what_waits(runner: CliRunner, busy_store: Store) -> None:
    result = runner.invoke(main, ["status", "--store", "memory://"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.splitlines()
        if line.startswith("│")
    }
    assert rows["done"] == "1"
    assert rows["waiting"] == "5"  # pause, ask, the fan parent and its two branches
    assert rows["shed"] == "0"
    assert rows["jobs in the store"] == "6"
    assert rows["unfinished jobs"] == "5"
    assert rows["oldest unfinished job"].startswith("pause-1 (pause v1 at 'nap', waiting)")
    assert (
        rows["waiting on a due time (wait, retry, timeout)"] == "3, next due 1970-01-12T13:47:10Z"
    )
    assert rows["waiting for their branches"] == "1"
    assert rows["waiting for an event, no timeout"] == "1"
    assert rows["shed (DROP_OLDEST evictions)"] == "0"
    assert "Unfinished jobs (oldest 5 of 5)" in out


def test_status_of_an_empty_store(runner: CliRunner) -> None:
    result = runner.invoke(main, ["status", "--store", "memory://", "--limit", "0"])
    assert result.exit_code == 0, result.output
    assert "unfinished jobs" in result.output
    assert "Unfinished jobs (" not in result.output


def test_status_rows_are_pluggable(
    runner: CliRunner, busy_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [*cli_status.STATUS_ROWS, lambda facts: ("expired leases", "7"), lambda facts: None]
    monkeypatch.setattr(cli_status, "STATUS_ROWS", rows)
    result = runner.invoke(main, ["status", "--store", "memory://"], env={"COLUMNS": "200"})
    assert "expired leases" in result.output


def test_status_with_a_bad_store_url(runner: CliRunner) -> None:
    result = runner.invoke(main, ["status", "--store", UNSUPPORTED])
    assert UNSUPPORTED in one_error_line(result)
    assert result.exit_code == 2


def test_status_needs_a_store(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTORS_STORE", raising=False)
    result = runner.invoke(main, ["status"])
    assert result.exit_code == 2
    assert "--store" in result.stderr


def test_a_store_failing_later_is_one_line_too(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenStore(MemoryStore):
        def counts(self) -> dict[JobState, int]:
            raise StoreError("database is locked")

    monkeypatch.setattr(cli, "open_store", lambda url: BrokenStore())
    result = runner.invoke(main, ["status", "--store", "memory://"])
    assert one_error_line(result) == "actors: error: database is locked"
    assert result.exit_code == 1


def test_store_url_from_the_environment(runner: CliRunner) -> None:
    result = runner.invoke(main, ["status"], env={"ACTORS_STORE": UNSUPPORTED})
    assert UNSUPPORTED in one_error_line(result)


# -- jobs show ---------------------------------------------------------------------------------


def test_jobs_show_prints_the_snapshot(runner: CliRunner, busy_store: Store) -> None:
    result = runner.invoke(main, ["jobs", "show", "quick-1", "--store", "memory://"])
    assert result.exit_code == 0, result.output
    fields = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.startswith("│")
    }
    assert fields["workflow"] == "quick"
    assert fields["version"] == "1"
    assert fields["state"] == "done"
    assert fields["parent"] == "-"
    assert fields["attempt"] == "1"
    data = json.loads(result.output.split("data:\n", 1)[1])
    assert data == {"n": 1, "a": True}


def test_jobs_show_a_branch_names_its_parent(runner: CliRunner, busy_store: Store) -> None:
    branch = next(j for j in busy_store.unfinished() if j.parent_id == "fan-1")
    result = runner.invoke(main, ["jobs", "show", branch.id, "--store", "m://", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["parent"] == "fan-1"
    assert shown["case"] == "fan-1"
    assert shown["branch"] == branch.branch_index
    assert shown["state"] == "waiting"
    assert shown["data"] == {"case": "fan", "note": "∑ unicode"}
    assert set(shown) == {
        "id",
        "workflow",
        "version",
        "step",
        "state",
        "case",
        "parent",
        "branch",
        "attempt",
        "error",
        "data",
    }


def test_jobs_show_an_unknown_id_exits_1(runner: CliRunner, busy_store: Store) -> None:
    result = runner.invoke(main, ["jobs", "show", "nope-42", "--store", "memory://"])
    line = one_error_line(result)
    assert result.exit_code == 1
    assert "no job 'nope-42'" in line


def test_jobs_show_with_a_bad_store_url(runner: CliRunner) -> None:
    result = runner.invoke(main, ["jobs", "show", "x", "--store", UNSUPPORTED])
    assert UNSUPPORTED in one_error_line(result)
    assert result.exit_code == 2


def test_json_of_data_json_cannot_encode() -> None:
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: int

    text = cli._to_json({"p": Point(1), "s": {2, 1}, "state": JobState.DONE, "o": object})
    assert json.loads(text) == {"p": {"x": 1}, "s": [1, 2], "state": "done", "o": repr(object)}


# -- enqueue -----------------------------------------------------------------------------------


def test_enqueue_writes_cases_from_a_file_in_batches(runner: CliRunner, workdir: Path) -> None:
    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    lines = [json.dumps({"order": n}) for n in range(7)]
    (workdir / "cases.jsonl").write_text("\n".join([*lines[:3], "", *lines[3:]]) + "\n")
    args = ["enqueue", "first", "--store", url, "--workflows", mod, "--file", "cases.jsonl"]
    result = runner.invoke(main, [*args, "--batch", "3", "--id-field", "order"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(n) for n in range(7)]
    store = open_store(url)
    try:
        jobs = [store.get(str(n)) for n in range(7)]
        assert [(j.workflow, j.step, j.state, j.data) for j in jobs] == [
            ("first", "a", JobState.READY, {"order": n}) for n in range(7)
        ]
        # Again: the first batch's ids exist, so that batch is refused whole, by name.
        again = runner.invoke(main, [*args, "--batch", "3", "--id-field", "order"])
        line = one_error_line(again)
        assert "JobExistsError" in line and "(lines 1 to 3); nothing was written" in line
        assert store.counts()[JobState.READY] == 7
    finally:
        store.close()


def test_enqueue_one_case_from_data_picks_the_workflow_by_name(
    runner: CliRunner, workdir: Path
) -> None:
    mod = write_module(workdir, FLOWS)
    store = MemoryStore()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "open_store", lambda url: store)
        result = runner.invoke(
            main,
            [
                *("enqueue", "second", "--store", "m://", "--workflows", f"{mod}:BOTH"),
                *("--data", '{"x": 1}', "--id", "case-9"),
            ],
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "case-9"
    job = store.get("case-9")
    assert (job.workflow, job.version, job.step, job.data) == ("second", 2, "b", {"x": 1})


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([], "give either --data (one case) or --file"),
        (["--data", "{}", "--file", "-"], "give either --data (one case) or --file"),
        (["--data", "{oops"], "--data is not JSON"),
        (["--data", "{}", "--id-field", "k"], "--id-field names each case of --file"),
        (["--file", "-", "--id", "k"], "--id names the one case of --data"),
        (["--data", "{}", "--version", "7"], "no workflow 'first' version 7 in"),
    ],
)
def test_enqueue_refuses_bad_arguments_in_one_line(
    runner: CliRunner, workdir: Path, extra: list[str], needle: str
) -> None:
    mod = write_module(workdir, FLOWS)
    args = ["enqueue", "first", "--store", "sqlite:///cases.db", "--workflows", mod, *extra]
    line = one_error_line(runner.invoke(main, args, input=""))
    assert needle in line


def test_enqueue_names_the_line_that_is_not_json(runner: CliRunner, workdir: Path) -> None:
    mod = write_module(workdir, FLOWS)
    args = ["enqueue", "first", "--store", "sqlite:///cases.db", "--workflows", mod, "--file", "-"]
    line = one_error_line(runner.invoke(main, args, input='{"a": 1}\n\n{"a": \n'))
    assert "line 3 is not JSON" in line


# -- worker ------------------------------------------------------------------------------------


def test_worker_with_a_bad_module(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(main, ["worker", "--store", "memory://", "--workflows", "nope_xyz"])
    assert "no module named 'nope_xyz'" in one_error_line(result)
    assert result.exit_code == 2


def test_worker_with_a_bad_store_url(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", UNSUPPORTED, "--workflows", name])
    assert UNSUPPORTED in one_error_line(result)
    assert result.exit_code == 2


def test_worker_with_a_module_without_workflows(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, "X = 1\n")
    result = runner.invoke(main, ["worker", "--store", "memory://", "--workflows", name])
    assert "defines no Workflow" in one_error_line(result)


def test_worker_refuses_the_same_workflow_twice(runner: CliRunner, workdir: Path) -> None:
    one = write_module(workdir, FLOWS)
    two = write_module(workdir, FLOWS)
    result = runner.invoke(
        main, ["worker", "--store", "memory://", "--workflows", one, "--workflows", two]
    )
    assert "registered twice" in one_error_line(result)


RESUMABLE = """
    import threading
    from actors import Sequential, Wait, Workflow

    ran = threading.Event()

    def work(data):
        data["worked"] = True
        ran.set()

    FLOW = Workflow("resumable", [Wait("nap", 60, next="work"), Sequential("work", work)],
                    start="nap")
"""


@pytest.mark.parametrize(
    ("url", "args", "options"),
    [
        ("sqlite:///jobs.db", [], {"commit": "group"}),
        ("sqlite:///jobs.db", ["--commit", "step"], {"commit": "step"}),
        ("sqlite:///jobs.db", ["--commit", "slice"], {"commit": "slice"}),
        ("sqlite:///jobs.db", ["--commit", "group"], {"commit": "group"}),
        (
            "sqlite:///jobs.db",
            ["--commit", "group", "--writer", "process"],
            {"commit": "group", "writer": "process"},
        ),
        ("memory://", ["--commit", "slice"], {}),  # the memory store has no commit mode
    ],
)
def test_worker_passes_the_commit_mode_to_a_sql_store(
    runner: CliRunner,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    args: list[str],
    options: dict[str, str],
) -> None:
    seen: list[dict[str, Any]] = []

    def fake_open(store_url: str, **given: Any) -> Store:
        seen.append(given)
        raise StoreError("opened no store")

    monkeypatch.setattr(cli, "open_store", fake_open)
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", url, "--workflows", name, *args])
    assert result.exit_code == 2
    assert "opened no store" in result.output
    assert seen == [options]


@pytest.mark.parametrize(
    ("url", "args"),
    [
        ("sqlite:///jobs.db", ["--commit", "step", "--writer", "process"]),
        ("memory://", ["--commit", "group", "--writer", "process"]),
    ],
)
def test_worker_refuses_a_writer_process_without_sqlite_group_commit(
    runner: CliRunner, workdir: Path, url: str, args: list[str]
) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", url, "--workflows", name, *args])
    assert result.exit_code == 2
    assert "--writer process needs a sqlite:/// store and --commit group" in result.output
    assert url in result.output


def test_worker_passes_the_poll_interval_to_the_mediator(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import actors._mediator as mediator_module

    seen: list[dict[str, Any]] = []

    def fake_mediator(*args: Any, **options: Any) -> Any:
        seen.append(options)
        raise ValueError("started no engine")

    monkeypatch.setattr(mediator_module, "Mediator", fake_mediator)
    name = write_module(workdir, FLOWS)
    args = ["worker", "--store", "memory://", "--workflows", name, "--poll-interval", "0.25"]
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "started no engine" in result.output
    assert [options["poll_interval"] for options in seen] == [0.25]


@pytest.mark.parametrize("seconds", ["0", "6", "soon"])
def test_worker_refuses_a_poll_interval_out_of_range(
    runner: CliRunner, workdir: Path, seconds: str
) -> None:
    name = write_module(workdir, FLOWS)
    args = ["worker", "--store", "memory://", "--workflows", name, "--poll-interval", seconds]
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "--poll-interval" in result.output


def test_worker_refuses_an_unknown_commit_mode(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(
        main, ["worker", "--store", "memory://", "--workflows", name, "--commit", "never"]
    )
    assert result.exit_code == 2
    assert "'never' is not one of 'step', 'slice'" in result.output


def test_worker_resumes_saved_jobs_and_stops_on_sigterm(
    runner: CliRunner, workdir: Path, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job parked by an earlier process runs in the worker; SIGTERM then stops it cleanly."""
    import importlib

    name = write_module(workdir, RESUMABLE)
    sys.path.insert(0, str(workdir))
    module = importlib.import_module(name)
    store = MemoryStore()
    earlier = Mediator([module.FLOW], runners=1, store=store, clock=clock)
    earlier.schedule("resumable", {}, job_id="r-1")
    earlier.shutdown(drain=True)  # parked on its 60 s wait, in a clock that never moves
    assert store.get("r-1").state is JobState.WAITING  # type: ignore[union-attr]
    monkeypatch.setattr(cli, "open_store", lambda url, **options: store)

    def stop_when_the_job_ran() -> None:
        assert module.ran.wait(TIMEOUT), "the worker never ran the resumed job"
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_when_the_job_ran)
    killer.start()
    result = runner.invoke(
        main, ["worker", "--store", "memory://", "--workflows", name, "--runners", "1"]
    )
    killer.join(TIMEOUT)
    assert result.exit_code == 0, result.output
    assert "1 unfinished job(s) in the store" in result.stderr
    assert "SIGTERM received" in result.stderr
    assert "worker stopped" in result.stderr
    job = store.get("r-1")
    assert job is not None
    assert job.state is JobState.DONE
    assert job.data == {"worked": True}
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


COUNTED = """
    import threading
    from actors import Sequential, Workflow

    seen = []
    all_ran = threading.Event()

    def count(data):
        seen.append(data["order"])
        if len(seen) == 12:
            all_ran.set()

    FLOW = Workflow("counted", [Sequential("count", count)], start="count")
"""


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_cases_enqueued_from_the_shell_are_run_by_a_worker(
    runner: CliRunner, workdir: Path, writer: str
) -> None:
    import importlib

    name = write_module(workdir, COUNTED)
    url = f"sqlite:///{workdir / 'shared.db'}"
    orders = "".join(json.dumps({"order": n}) + "\n" for n in range(12))
    enqueued = runner.invoke(
        main,
        [
            *("enqueue", "counted", "--store", url, "--workflows", name, "--file", "-"),
            *("--id-field", "order", "--batch", "5"),
        ],
        input=orders,
    )
    assert enqueued.exit_code == 0, enqueued.output
    assert enqueued.stdout.split() == [str(n) for n in range(12)]
    module = importlib.import_module(name)  # the worker below imports the same module

    def stop_when_all_ran() -> None:
        assert module.all_ran.wait(TIMEOUT), f"the worker ran {len(module.seen)} of 12"
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_when_all_ran)
    killer.start()
    worked = runner.invoke(
        main,
        ["worker", "--store", url, "--workflows", name, "--commit", "group", "--writer", writer],
    )
    killer.join(TIMEOUT)
    assert worked.exit_code == 0, worked.output
    assert sorted(module.seen) == list(range(12))
    store = open_store(url)
    try:
        assert store.counts()[JobState.DONE] == 12
    finally:
        store.close()


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _wait_for(lines: queue.Queue[str], text: str, seen: list[str]) -> None:
    while True:
        try:
            line = lines.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no line with {text!r} within {TIMEOUT}s; got {seen}")
        seen.append(line)
        if text in line:
            return


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_process_runs_until_a_signal(tmp_path: Path, signum: int) -> None:
    name = write_module(tmp_path, FLOWS)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "actors",
            "worker",
            "--store",
            "memory://",
            "--workflows",
            name,
            "--runners",
            "2",
            "--capacity",
            "5",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        _wait_for(lines, "worker started", seen)
        assert "first v1, second v2" in seen[-1]
        assert "2 runner(s)" in seen[-1]
        proc.send_signal(signum)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
    reader.join(TIMEOUT)
    while not lines.empty():
        seen.append(lines.get())
    log = "".join(seen)
    assert f"{signal.Signals(signum).name} received" in log
    assert "worker stopped" in log
    assert "Traceback" not in log
    assert proc.stdout is not None
    assert proc.stdout.read() == ""
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()


# -- db upgrade ---------------------------------------------------------------------------------


def test_db_upgrade_applies_the_migrations_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    first = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert first.exit_code == 0, first.output
    assert all(f"applied {n}:" in first.output for n in (1, 2, 3, 4, 5))
    assert first.output.strip().endswith(f"schema version {MIGRATIONS[-1].version}")
    again = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert again.exit_code == 0
    assert again.output.strip() == f"schema version {MIGRATIONS[-1].version} (already up to date)"


def test_db_upgrade_of_a_postgres_store(pg_server: Any) -> None:
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "actors_cli_upgrade"')
        conn.execute('CREATE DATABASE "actors_cli_upgrade"')
    url = pg_server.get_uri("actors_cli_upgrade")
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"schema version {MIGRATIONS[-1].version}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://", "no schema to upgrade"),
        ("sqlite:////no/such/dir/x.db", "cannot open store"),
        ("redis://localhost", "use sqlite:///path.db or postgresql://"),
    ],
)
def test_db_upgrade_errors_are_one_line(url: str, message: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
