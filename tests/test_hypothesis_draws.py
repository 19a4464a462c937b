"""A derandomized search draws the same examples whatever the process imported before it.

Hypothesis mixes into its draws constants read from the project's modules imported so
far; conftest keeps that pool empty, so that a search found its bug, or not, whichever
tests ran first. Here a machine's search runs, a new module of the project full of
constants is imported, and the same search must draw the same programs.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from actors import RequestReaction, Sequential, Workflow
from actors.testing import MediatorMachine

DRAWN: list[list[str]] = []  # what each example of the last search did, in order

ORDER = Workflow("order", start="pay", steps=[
    RequestReaction("pay", send=lambda d, c: None, timeout=30.0, on_timeout="expire"),
    Sequential("expire", lambda d: d),
])  # fmt: skip


class RecordingMachine(MediatorMachine):
    """Notes each call its rules make on the harness, with the values they drew."""

    workflows = (ORDER,)
    harness_options: ClassVar[dict[str, Any]] = {"runners": 2}

    def __init__(self) -> None:
        super().__init__()
        calls: list[str] = []
        DRAWN.append(calls)
        for name in ("schedule", "schedule_many", "step", "advance", "cancel", "crash_runner"):
            setattr(self.harness, name, _noted(calls, name, getattr(self.harness, name)))

    def cases(self, workflow: str) -> st.SearchStrategy[Any]:
        # Wide values: Hypothesis pools no constant between -100 and 100.
        return st.builds(dict, amount=st.integers(), rate=st.floats(0, 1e6), ref=st.text())


def _noted(calls: list[str], name: str, method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        calls.append(f"{name}{args!r}{sorted(kwargs.items())!r}")
        return method(*args, **kwargs)

    return call


_SEARCH = settings(
    max_examples=40, stateful_step_count=10, deadline=None, database=None,
    derandomize=True, phases=[Phase.generate], suppress_health_check=list(HealthCheck),
)  # fmt: skip


def _programs() -> list[list[str]]:
    DRAWN.clear()
    run_state_machine_as_test(RecordingMachine, settings=_SEARCH)
    return [list(calls) for calls in DRAWN]


def test_a_derandomized_search_draws_the_same_after_the_project_imports_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _programs()
    # A module of the project's (not a test's, not an installed package's): Hypothesis
    # would pool its constants for every search that runs after it is imported.
    (tmp_path / "tariffs.py").write_text(
        "RATES = [" + ", ".join(f"{7919 * n}, {n}.25, 'band{n}'" for n in range(1, 200)) + "]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tariffs", raising=False)
    importlib.import_module("tariffs")
    after = _programs()
    assert after == before
