"""The defaults and limits the guides promise are the ones the program and the API have.

Each default below is written in a guide (the page is named beside it); a user who
leaves the option out relies on it. Changing one is a change to the guide as well.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import click
import pytest
from cli_support import FLOWS, write_module
from click.testing import CliRunner

from actors import Mediator
from actors._cli import main
from actors.stores import MemoryStore, PostgresStore, SqliteStore, open_store

# (command, option): the default the guide gives it.
CLI_DEFAULTS = {
    # docs/how-to/command-line.md
    ("demo", "--store"): "sqlite:///demo.db",  # "on sqlite:///demo.db, 20 orders"
    ("demo", "--orders"): 20,
    ("status", "--limit"): 20,  # "(`--limit`, 20 by default)"
    ("status", "--workers"): 20,  # "(`--workers`, 20 by default; ..."
    ("jobs list", "--limit"): 50,  # "A table shows `--limit` jobs (50)"
    ("jobs cancel", "--timeout"): 10.0,  # "wait up to `--timeout` seconds (10)"
    ("events send", "--timeout"): 10.0,
    ("worker", "--runners"): 4,  # "(4 by default)"
    ("worker", "--poll-interval"): 1.0,  # "(1 s by default)"
    ("worker", "--lease-seconds"): 15.0,  # "(15 s by default)"
    ("worker", "--group-wait"): 0.005,  # "(5 ms by default, 0 to 1 s)"
    ("worker", "--commit"): "group",  # "the default, `--commit group`"
    ("worker", "--log-level"): "INFO",  # "(`--log-level`, INFO by default)"
    ("worker", "--log-format"): "text",
    ("ui", "--host"): "127.0.0.1",  # "# http://127.0.0.1:8400/"
    ("ui", "--port"): 8400,
    # docs/how-to/many-workers.md: "cases in flight, 100 by default"
    ("worker", "--capacity"): 100,
}


def option(command: str, name: str) -> click.Option:
    found: click.Command = main
    for word in command.split():
        assert isinstance(found, click.Group), command
        found = found.commands[word]
    (param,) = [p for p in found.params if isinstance(p, click.Option) and name in p.opts]
    return param


@pytest.mark.parametrize(("command", "name"), list(CLI_DEFAULTS))
def test_each_option_s_default_is_the_guide_s(command: str, name: str) -> None:
    assert option(command, name).default == CLI_DEFAULTS[command, name]


def defaults(call: Any) -> dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(call).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_the_mediator_s_defaults_are_the_guides() -> None:
    given = defaults(Mediator)
    # docs/how-to/many-workers.md, docs/tutorial/durable.md, docs/how-to/durable-stores.md
    assert given["runners"] == 4
    assert given["capacity"] == 100
    assert given["poll_interval"] == 1.0
    assert given["lease_seconds"] == 15.0
    assert given["store"] == "memory://"  # "`memory://` (the default)"


def test_the_stores_defaults_are_the_guides(tmp_path: Path) -> None:
    # docs/how-to/durable-stores.md: WAL with synchronous=NORMAL; group commit, 5 ms;
    # PostgreSQL's first connection bounded by `timeout` (10 s).
    sqlite, postgres = defaults(SqliteStore), defaults(PostgresStore)
    assert sqlite["synchronous"] == "NORMAL"
    assert sqlite["group_wait"] == postgres["group_wait"] == 0.005
    assert postgres["timeout"] == 10.0
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        assert store.commit == "group"  # type: ignore[attr-defined]
    finally:
        store.close()
    # docs/explanation/guarantees.md: "the most recent 10,000 finished ones (`retain=`)"
    assert MemoryStore().retain == 10_000


def test_a_worker_given_no_options_runs_with_the_guide_s_defaults(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defaults reach the engine: an option's default that the worker dropped would not."""
    import actors._mediator as mediator_module

    seen: list[dict[str, Any]] = []

    def fake_mediator(*args: Any, **options: Any) -> Any:
        seen.append(options)
        raise ValueError("started no engine")

    monkeypatch.setattr(mediator_module, "Mediator", fake_mediator)
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", "sqlite:///jobs.db", "--workflows", name])
    assert result.exit_code == 2, result.output
    assert "started no engine" in result.output
    (options,) = seen
    assert options["runners"] == 4
    assert options["capacity"] == 100
    assert options["poll_interval"] == 1.0
    assert options["lease_seconds"] == 15.0
    assert options["store"].commit == "group"


def test_the_limits_the_guides_give_are_the_code_s() -> None:
    """The behaviour behind each is tested with the limit made small; here, the figure."""
    from actors import _cli_enqueue, _cli_input, _cli_job_show, _job, _redact

    # docs/how-to/command-line.md, `jobs show`: "A job with more than 100 branches has 100
    # of them drawn"; "A history of more than 1,000 entries ... its most recent 1,000".
    assert _cli_job_show.SHOWN_BRANCHES == 100
    assert _cli_job_show.HISTORY_SHOWN == 1_000
    # `enqueue`: "nested at most 200 levels below the top value"; "A line of `--file`
    # holds at most 64 Mi characters".
    assert _cli_input.MAX_JSON_DEPTH == 200
    # `events send`: "nests at most 100 levels below the top value, as on the dashboard".
    assert _cli_input.MAX_EVENT_DEPTH == 100
    assert _cli_enqueue.MAX_LINE == 64 * 1024 * 1024
    # docs/how-to/durable-stores.md: "A job keeps the first 10,000 characters of its error".
    assert _redact.ERROR_CHARS == 10_000
    # docs/explanation/guarantees.md: a branch's long error "is quoted by its first 600 and
    # last 1,200 characters".
    assert (_job._QUOTED_HEAD, _job._QUOTED_TAIL) == (600, 1_200)
    # docs/how-to/events-and-timeouts.md: "The Scheduler remembers the last 10,000
    # correlation ids it answered or withdrew".
    from actors import _correlations, _gc_pace, _try_batch
    from actors.stores import _sql_prune

    assert _correlations.ANSWERED_MEMORY == 10_000
    # docs/how-to/embed.md: the youngest generation runs "every 10,000 allocations".
    assert _gc_pace.THRESHOLD == 10_000
    # docs/how-to/many-workers.md: tries of jobs taken over are counted "50 at most" a
    # transaction; docs/how-to/operations.md: a prune "deletes 500 cases per transaction".
    assert _try_batch.TRY_BATCH == 50
    assert _sql_prune.PRUNE_BATCH == 500
