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
        for job_id in ("o1", "o2"):
            job = mediator.schedule("order", {}, job_id=job_id).result(timeout=TIMEOUT)
            assert job.state is JobState.DONE
    return store


def listed(url: str, *filters: str) -> list[str]:
    result = CliRunner().invoke(main, ["jobs", "list", "--store", url, "--json", *filters])
    assert result.exit_code == 0, result.output
    return [job["id"] for job in json.loads(result.output)["items"]]


def test_a_job_is_listed_by_since_while_young_and_by_before_once_older(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert listed(url, "--since", "1h") == ["o2", "o1"]  # newest first
    assert listed(url, "--before", "1h") == []
    # Two hours on: o1 was created more than an hour ago.
    later = time.time() + 2 * 3600
    monkeypatch.setattr(admin_module, "time", types.SimpleNamespace(time=lambda: later))
    assert listed(url, "--since", "1h") == []
    assert listed(url, "--before", "1h") == ["o2", "o1"]
    assert listed(url, "--before", "3h") == []
    assert listed(url, "--since", "3h", "--before", "90m") == ["o2", "o1"]  # both at once


def test_a_before_that_is_not_an_age_is_refused_naming_the_option(url: str) -> None:
    result = CliRunner().invoke(main, ["jobs", "list", "--store", url, "--before", "last week"])
    assert result.exit_code == 2
    assert "--before 'last week' is not an age; write e.g. 90s, 15m, 1h, 7d or 2w" in (
        result.stderr
    )


def test_a_page_in_json_names_the_next_one_and_the_last_says_null(url: str) -> None:
    """`--json` prints `items`, `next_cursor` and `next_offset` (`null` on the last page)."""

    def page(*options: str) -> dict[str, object]:
        args = ["jobs", "list", "--store", url, "--json", "--limit", "1", *options]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.output))

    first = page()
    assert [job["id"] for job in first["items"]] == ["o2"]  # type: ignore[attr-defined]
    assert first["next_offset"] == 1 and isinstance(first["next_cursor"], str)
    last = page("--after", str(first["next_cursor"]))
    assert [job["id"] for job in last["items"]] == ["o1"]  # type: ignore[attr-defined]
    assert last["next_cursor"] is None and last["next_offset"] is None
