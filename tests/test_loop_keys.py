"""A loop's passes share a step's idempotency key; a pass run again after a crash keeps it.

What the guarantees page promises: every pass through a step in a loop has the same key
(``"{job_id}:{step}:{attempt}"``, the attempt starting again at 1), so an effect that
must happen once per pass adds the pass, counted in the data, to the key. The pass
counter is the data's, saved with the step, so a step run again after a crash (its save
lost, or the whole slice's or group's) counts the same pass again and makes the same key.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until

from actors import ExclusiveChoice, JobState, Mediator, Sequential, Spec, StepContext, Workflow
from actors.admin import Admin
from actors.stores import open_store
from actors.testing import Crash, FaultPlan, Harness

PASSES = 6


def _flow(made: dict[int, list[str]]) -> Workflow:
    def charge(data: dict[str, Any], ctx: StepContext) -> None:
        data["round"] = data.get("round", 0) + 1
        made[data["round"]].append(f"{ctx.idempotency_key}:{data['round']}")

    return Workflow("loop", start="charge", steps=[
        Sequential("charge", charge, next="again"),
        ExclusiveChoice("again", Spec(lambda d: d["round"] < PASSES, "more"),
                        if_true="charge", if_false="end"),
        Sequential("end", lambda d: None),
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("commit", "crashes"),
    [
        (None, (Crash(at_step=3, point="before_save"), Crash(at_step=8, point="before_save"))),
        ("slice", (Crash(at_step=5, point="before_save"),)),
        ("group", (Crash(at_step=4, point="in_group"), Crash(at_step=9, point="in_group"))),
    ],
)
def test_a_pass_run_again_after_a_crash_makes_the_key_it_made_before(
    commit: str | None, crashes: tuple[Crash, ...], tmp_path: Path
) -> None:
    made: dict[int, list[str]] = defaultdict(list)
    store = None if commit is None else open_store(f"sqlite:///{tmp_path / 'j.db'}", commit=commit)
    with Harness([_flow(made)], seed=1, store=store, faults=FaultPlan(crashes=crashes)) as h:
        case = h.schedule("loop", {})
        h.finish()
    job = case.result()
    assert job.state is JobState.DONE and job.data["round"] == PASSES
    assert sorted(made) == list(range(1, PASSES + 1))
    assert sum(len(keys) for keys in made.values()) > PASSES  # some pass ran again
    for turn, keys in made.items():  # one key per pass, however often the pass ran
        assert set(keys) == {f"{job.id}:charge:1:{turn}"}, (turn, keys)


@pytest.mark.parametrize(("history", "attempts"), [(True, [1, 2]), (False, [1, 1])])
def test_a_reset_to_a_step_passed_before_has_a_new_attempt_only_with_history(
    history: bool, attempts: list[int], tmp_path: Path
) -> None:
    """What the durable stores page says of ``retry --from`` on a store without history."""
    seen: list[int] = []

    def fail(data: dict[str, Any]) -> None:
        raise RuntimeError("declined")

    flow = Workflow("pay", start="charge", steps=[
        Sequential("charge", lambda d, ctx: seen.append(ctx.attempt), next="ship"),
        Sequential("ship", fail),
    ])  # fmt: skip
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with Mediator([flow], store=open_store(url, history=history)) as mediator:
        assert mediator.schedule("pay", {}, job_id="p1").result(TIMEOUT).state is JobState.FAULTED
    admin = Admin(open_store(url, history=history), workflows=[flow])
    assert admin.retry("p1", from_step="charge").outcome == "reset"
    admin.store.close()
    with Mediator([flow], store=open_store(url, history=history)):  # resumes the reset job
        wait_until(lambda: len(seen) == 2, "the reset step to run")
    assert seen == attempts
