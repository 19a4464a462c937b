"""Who an operator's action is recorded under (docs/how-to/command-line.md).

``--operator``, else ``ACTORS_OPERATOR``, else the login name.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

from actors import JobState, Mediator, Sequential, Workflow
from actors._cli import main
from actors.admin import Admin, operator_name


def decline(data: dict[str, Any]) -> None:
    raise RuntimeError("card declined")


FLOW = Workflow("order", [Sequential("pay", decline)], start="pay")


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A store holding three cases FAULTED at pay, with no worker."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Mediator([FLOW], store=store) as mediator:
        for n in range(3):
            job = mediator.schedule("order", {}, job_id=f"o{n}").result(timeout=TIMEOUT)
            assert job.state is JobState.FAULTED
    return store


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(getpass, "getuser", lambda: "login-lee")
    return "login-lee"


def retry(url: str, job: str, *options: str, env: str | None) -> str:
    result = CliRunner().invoke(
        main, ["jobs", "retry", job, "--store", url, *options], env={"ACTORS_OPERATOR": env}
    )
    assert result.exit_code == 0, result.output
    return str(result.output.strip())


def test_the_option_then_the_environment_then_the_login_name(url: str, login: str) -> None:
    assert retry(url, "o0", "--operator", "olga", env="eve").endswith(", by olga")
    assert retry(url, "o1", env="eve").endswith(", by eve")
    assert retry(url, "o2", env=None).endswith(f", by {login}")
    with Admin(url) as admin:
        actions = {
            job: [e.worker for e in admin.history(job) if e.kind == "action"]
            for job in ("o0", "o1", "o2")
        }
    assert actions == {"o0": ["olga"], "o1": ["eve"], "o2": [login]}  # as recorded


def test_an_empty_environment_variable_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, login: str
) -> None:
    monkeypatch.setenv("ACTORS_OPERATOR", "")
    assert operator_name() == login
    assert operator_name("given") == "given"


def test_without_a_login_name_the_operator_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_login() -> str:
        raise KeyError("getpwuid(): uid not found: 4242")

    monkeypatch.delenv("ACTORS_OPERATOR", raising=False)
    monkeypatch.setattr(getpass, "getuser", no_login)
    assert operator_name() == "unknown"
