"""Operator actions on a case with a row this process cannot read change nothing.

A row's data naming a dataclass the command has not registered (its module not
imported) reads as a stand-in: FAULTED, no data. An action saved that stand-in over the
row: ``jobs retry`` ran a DONE job again with its data ``null``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from cli_support import write_module
from click.testing import CliRunner

from actors import JobState, Mediator, RequestReaction, Sequential, Workflow
from actors._cli import main
from actors.stores import Codec, open_store

# Registered with the workers' codec only: the command's default codec does not know it.
WORKERS = Codec()


@WORKERS.register
@dataclass
class Parcel:
    weight: float


def _pack(data: dict[str, Any]) -> None:
    data["parcel"] = Parcel(1.5)


def _row(path: Path, job_id: str) -> tuple[Any, ...]:
    with sqlite3.connect(path) as db:
        return tuple(db.execute("SELECT state, data, error FROM jobs WHERE id = ?", (job_id,)))


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, Path]:
    """A DONE case and a waiting one whose data hold a ``Parcel``; no worker holds them."""
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    flows = [
        Workflow("ship", [Sequential("pack", _pack)], start="pack"),
        Workflow(
            "ask",
            [
                Sequential("pack", _pack, next="wait"),
                RequestReaction("wait", send=lambda d, ctx: None, on_reply=lambda d, r: None),
            ],
            start="pack",
        ),
    ]
    with Mediator(flows, store=open_store(url, codec=WORKERS)) as mediator:
        assert mediator.schedule("ship", {}, job_id="s1").result(timeout=TIMEOUT).state is (
            JobState.DONE
        )
        mediator.schedule("ask", {}, job_id="a1")
        mediator.shutdown(drain=True, timeout=TIMEOUT)  # a1 parks, then is released
    return url, path


@pytest.mark.parametrize(
    "command",
    [
        ["jobs", "retry", "s1"],
        ["jobs", "retry", "s1", "--from", "pack"],
        ["jobs", "cancel", "a1"],
        ["events", "send", "a1/wait", "--data", "1"],
    ],
)
def test_an_action_on_a_row_it_cannot_read_changes_nothing(
    stored: tuple[str, Path], command: list[str]
) -> None:
    url, path = stored
    before = {job: _row(path, job) for job in ("s1", "a1")}
    result = CliRunner().invoke(main, [*command, "--store", url])
    assert result.exit_code == 3, result.output
    assert "cannot be read here" in result.stderr
    assert "not registered" in result.stderr and "--workflows" in result.stderr
    assert {job: _row(path, job) for job in ("s1", "a1")} == before
    assert '"__dataclass__"' in before["s1"][0][1]  # the data, as the worker stored it


def test_with_the_module_imported_the_action_keeps_the_data(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module that registers the class with the default codec, as users' modules do.
    module = write_module(
        workdir,
        """
        from dataclasses import dataclass
        from actors import RequestReaction, Sequential, Workflow
        from actors.stores import register_dataclass

        @register_dataclass
        @dataclass
        class Crate:
            size: int

        def pack(data):
            data["crate"] = Crate(3)

        FLOW = Workflow(
            "box",
            [
                Sequential("pack", pack, next="wait"),
                RequestReaction("wait", send=lambda d, ctx: None, on_reply=lambda d, r: None),
            ],
            start="pack",
        )
        """,
    )
    path = workdir / "box.db"
    url = f"sqlite:///{path}"
    from importlib import import_module

    monkeypatch.syspath_prepend(str(workdir))
    flow = import_module(module).FLOW
    with Mediator([flow], store=url) as mediator:
        mediator.schedule("box", {}, job_id="b1")
        mediator.shutdown(drain=True, timeout=TIMEOUT)
    before = _row(path, "b1")[0][1]
    result = CliRunner().invoke(
        main, ["jobs", "cancel", "b1", "--store", url, "--workflows", module]
    )
    assert result.exit_code == 0, result.output
    assert "cancelled, via store" in result.output
    state, data, _ = _row(path, "b1")[0]
    assert (state, data) == ("cancelled", before)
