"""``actors jobs list --since AGE`` and ``--before AGE`` (docs/how-to/command-line.md).

Created within the age, or longer ago.
"""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

import actors.admin as admin_module
from actors import JobState, Mediator, Sequential, Workflow
from actors._cli import main

FLOW = Workflow("order", [Sequential("pack", lambda data: None)], start="pack")


@pytest.fixture
def url(tmp_path: Path) -> str:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Mediator([FLOW], store=store) as mediator:
        assert mediator.schedule("order", {}, job_id="o1").result(timeout=TIMEOUT).state is (
            JobState.DONE
        )
    return store


def listed(url: str, *filters: str) -> list[str]:
    result = CliRunner().invoke(main, ["jobs", "list", "--store", url, "--json", *filters])
    assert result.exit_code == 0, result.output
    return [job["id"] for job in json.loads(result.output)["items"]]


def test_a_job_is_listed_by_since_while_young_and_by_before_once_older(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert listed(url, "--since", "1h") == ["o1"]
    assert listed(url, "--before", "1h") == []
    # Two hours on: o1 was created more than an hour ago.
    later = time.time() + 2 * 3600
    monkeypatch.setattr(admin_module, "time", types.SimpleNamespace(time=lambda: later))
    assert listed(url, "--since", "1h") == []
    assert listed(url, "--before", "1h") == ["o1"]
    assert listed(url, "--before", "3h") == []
    assert listed(url, "--since", "3h", "--before", "90m") == ["o1"]  # both at once


def test_a_before_that_is_not_an_age_is_refused_naming_the_option(url: str) -> None:
    result = CliRunner().invoke(main, ["jobs", "list", "--store", url, "--before", "last week"])
    assert result.exit_code == 2
    assert "--before 'last week' is not an age; write e.g. 90s, 15m, 1h, 7d or 2w" in (
        result.stderr
    )
