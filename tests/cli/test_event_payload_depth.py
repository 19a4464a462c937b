"""An event's payload nests at most ``MAX_EVENT_DEPTH`` levels, from the CLI and the dashboard.

The command took 200 levels below the top value (the stores' limit for data), the
dashboard 100: a payload of 200 passed the command's check, then the store refused the
event it wraps (exit status 1, a store failure, not a bad ``--data``). One limit now,
counted alike, and a payload at it is delivered and kept in the job's data.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

from actors import JobState, Mediator, RequestReaction, Workflow
from actors._cli import main
from actors._cli_input import MAX_EVENT_DEPTH
from actors.admin import Admin

REPLIED = threading.Event()


def _keep(data: dict[str, Any], reply: Any) -> None:
    data["reply"] = reply  # one level below the job's data: deeper than the payload
    REPLIED.set()


ASK = Workflow(
    "ask", [RequestReaction("wait", send=lambda d, ctx: None, on_reply=_keep)], start="wait"
)


def _nested(below_top: int) -> str:
    """Arrays nested ``below_top`` levels below the top one."""
    return "[" * (below_top + 1) + "]" * (below_top + 1)


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Mediator([ASK], store=url) as mediator:
        mediator.schedule("ask", {}, job_id="a1")
        mediator.shutdown(drain=True, timeout=TIMEOUT)  # a1 parks, then is released
    return url


def test_the_command_refuses_a_payload_past_the_limit_naming_data(url):
    result = CliRunner().invoke(
        main, ["events", "send", "a1/wait", "--data", _nested(MAX_EVENT_DEPTH + 1), "--store", url]
    )
    assert result.exit_code == 2, result.output
    assert f"--data is nested more than {MAX_EVENT_DEPTH} levels deep" in result.output


def test_a_payload_at_the_limit_is_delivered_and_kept_in_the_job_s_data(url):
    payload = _nested(MAX_EVENT_DEPTH)
    result = CliRunner().invoke(
        main, ["events", "send", "a1/wait", "--data", payload, "--store", url]
    )
    assert result.exit_code == 0, result.output
    REPLIED.clear()
    with Mediator([ASK], store=url) as mediator:
        assert REPLIED.wait(TIMEOUT)
        mediator.shutdown(drain=True, timeout=TIMEOUT)
    with Admin(url) as admin:
        job = admin.job("a1")
    assert job.state is JobState.DONE, job.error
    assert job.data["reply"] == json.loads(payload)


def test_the_dashboard_takes_and_refuses_the_same_payloads():
    pytest.importorskip("starlette", reason="the dashboard needs the ui extra")
    from actors.ui._actions import ActionError, parse_payload

    assert parse_payload(_nested(MAX_EVENT_DEPTH)) == json.loads(_nested(MAX_EVENT_DEPTH))
    with pytest.raises(ActionError, match=f"nested more than {MAX_EVENT_DEPTH} levels deep"):
        parse_payload(_nested(MAX_EVENT_DEPTH + 1))
