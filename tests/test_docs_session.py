"""The operations guide's terminal session is what the commands print today.

docs/how-to/operations.md shows a session (made by ``examples/operations_session.sh``):
its commands are run here in the same order on the same story, with a worker named
``worker-1`` in this process instead of a background ``actors worker``, and each
command's output must be the page's, once job ids, times and durations (which differ
from run to run) are put aside.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from bounds import wait_until
from click.testing import CliRunner

from actors import JobState, Mediator
from actors._cli import main
from actors.admin import Admin

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs/how-to/operations.md"

# The commands of the session, in order; the story between them is in the test.
_ENQUEUE = "actors enqueue order --workflows operations --id order-{0} --data '{1}'"
COMMANDS = [
    _ENQUEUE.format(1, '{"order": 1, "card": "expired"}'),
    _ENQUEUE.format(2, '{"order": 2, "card": "valid"}'),
    "actors jobs list --state faulted",
    "actors jobs show order-1 --tree --history",
    "actors jobs retry order-1",
    "actors jobs show order-1 --tree --workflows operations",
    """actors events send order-1/dispatch --data '{"carrier": "DHL"}'""",
    """actors events send order-1/dispatch --data '{"carrier": "UPS"}'; echo "exit status $?\"""",
    "actors jobs cancel order-2",
    "actors jobs list --cases",
    "actors jobs show order-1 --history --json"
    " | jq -c '.history[] | [.kind, .step, .attempt, .worker, .action]'",
    """actors jobs retry order-2; echo "exit status $?\"""",
    "actors jobs prune --older-than 7d",
]

_ID = re.compile(r"\b[0-9a-f]{17}\b")
_VARYING = [
    (re.compile(r"\b[0-9a-f]{4,16}…"), "<cut id>"),  # a job id a table column cut short
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<when>"),
    (re.compile(r"\b\d\d:\d\d:\d\d\.\d{3}\b"), "<time>"),
    (re.compile(r"\b\d+\.\d{3} s\b"), "<took>"),
]


def the_page_s_session() -> list[tuple[str, str]]:
    """(command, output) of each ``$`` line of the page's session, in order."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("This session was produced by")
    block = re.search(r"^```text\n(.*?)^```", text[start:], re.MULTILINE | re.DOTALL)
    assert block is not None
    pairs: list[tuple[str, list[str]]] = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif line.startswith("# (") or not pairs:
            continue
        else:
            pairs[-1][1].append(line)
    return [(command, "\n".join(lines).strip("\n")) for command, lines in pairs]


def normalised(text: str) -> str:
    """``text`` with its job ids numbered by first appearance, and times put aside."""
    seen: dict[str, str] = {}

    def number(found: re.Match[str]) -> str:
        return seen.setdefault(found.group(0), f"<id{len(seen)}>".ljust(17, "_"))

    text = _ID.sub(number, text)
    for pattern, shown in _VARYING:
        text = pattern.sub(shown, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # the page's store: sqlite:///shop.db, relative
    monkeypatch.setenv("ACTORS_STORE", "sqlite:///shop.db")
    monkeypatch.setenv("ACTORS_OPERATOR", "alice")
    monkeypatch.setenv("COLUMNS", "118")
    monkeypatch.delenv("PAYMENTS_FIXED", raising=False)
    return "sqlite:///shop.db"


def run(command: str) -> str:
    """What ``command`` (one of COMMANDS) prints, as the session shows it."""
    pipe = None
    if " | jq " in command:
        command, pipe = command.split(" | jq ", 1)
    status = command.endswith('; echo "exit status $?"')
    words = shlex.split(command.removesuffix('; echo "exit status $?"'))
    assert words[0] == "actors"
    result = CliRunner().invoke(main, words[1:])
    if pipe is not None:  # jq -c '.history[] | [.kind, .step, .attempt, .worker, .action]'
        assert result.exit_code == 0, result.output
        history = json.loads(result.stdout)["history"]
        keys = ("kind", "step", "attempt", "worker", "action")
        return "\n".join(
            json.dumps([entry[key] for key in keys], separators=(",", ":")) for entry in history
        )
    if status:
        return f"{result.output.rstrip()}\nexit status {result.exit_code}"
    assert result.exit_code == 0, result.output
    return str(result.output)


@pytest.mark.slow
def test_the_operations_session_is_what_the_commands_print(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from operations import WORKFLOWS

    page = the_page_s_session()
    assert [command for command, _ in page] == COMMANDS  # the story below follows these
    outputs: list[str] = []
    admin = Admin(shop)

    def at(job: str, state: JobState, step: str | None = None) -> None:
        def there() -> bool:
            found = admin.job(job)
            return found.state is state and (step is None or found.step == step)

        wait_until(there, f"{job} {state.value} at {step}")

    try:
        with Mediator(WORKFLOWS, store=shop, owner="worker-1"):
            outputs += [run(COMMANDS[0]), run(COMMANDS[1])]
            at("order-1", JobState.FAULTED)
            at("order-2", JobState.WAITING, "dispatch")
            outputs += [run(COMMANDS[2]), run(COMMANDS[3])]
        # (the payment bug is fixed and worker-1 restarted with the fix)
        monkeypatch.setenv("PAYMENTS_FIXED", "1")
        with Mediator(WORKFLOWS, store=shop, owner="worker-1"):
            wait_until(lambda: admin.case("order-2").held_by == "worker-1", "order-2 held")
            outputs.append(run(COMMANDS[4]))
            at("order-1", JobState.WAITING, "dispatch")
            wait_until(lambda: admin.case("order-1").held_by == "worker-1", "order-1 held")
            outputs += [run(COMMANDS[5]), run(COMMANDS[6])]
            at("order-1", JobState.DONE)
            outputs += [run(command) for command in COMMANDS[7:9]]
            at("order-2", JobState.CANCELLED)
            outputs += [run(command) for command in COMMANDS[9:]]
    finally:
        admin.close()
    for (command, shown), printed in zip(page, outputs, strict=True):
        assert normalised(printed) == normalised(shown), command
