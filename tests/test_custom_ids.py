"""A user's ``Mediator(ids=...)`` factory: its mistakes fault a case, never another case.

A factory that raised at a split restarted the runner for ever; one that made an id the
store held saved a branch over that job (another case's, on every store).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow

one = Workflow("one", start="a", steps=[Sequential("a", lambda d: None)])
fan = Workflow("fan", start="split", steps=[
    ParallelSplit("split", branches=["a", "b"]),
    Sequential("a", lambda d: None, next="join"),
    Sequential("b", lambda d: None, next="join"),
    Synchronize("join"),
])  # fmt: skip


def factory(ids: list[Any]) -> Any:
    made: Iterator[Any] = iter(ids)

    def new_id() -> Any:
        value = next(made)
        if isinstance(value, Exception):
            raise value
        return value

    return new_id


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'ids.db'}"


def test_a_split_whose_branch_id_is_taken_faults_and_the_other_case_is_kept(store):
    ids = factory(["first", "second", "first", "spare"])  # the split reuses "first"
    with Mediator([one, fan], ids=ids, store=store) as m:
        assert m.schedule("one", {"keep": 1}).result(timeout=TIMEOUT).state is JobState.DONE
        split = m.schedule("fan", {}).result(timeout=TIMEOUT)
        kept = m.get_job("first")
    assert split.state is JobState.FAULTED
    assert split.error == (
        "step 'split': Mediator(ids=...) made id 'first' for a branch, which is taken"
    )
    assert (kept.workflow, kept.data, kept.case_id) == ("one", {"keep": 1}, "first")


def test_a_split_whose_factory_makes_one_id_twice_faults(store):
    with Mediator([fan], ids=factory(["root", "twin", "twin"]), store=store) as m:
        split = m.schedule("fan", {}).result(timeout=TIMEOUT)
    assert split.state is JobState.FAULTED
    assert "made id 'twin' for a branch, which is taken" in (split.error or "")


def test_a_factory_that_raises_at_a_split_faults_the_split_instead_of_looping(store):
    ids = factory(["root", RuntimeError("the id service is down")])
    with Mediator([fan], ids=ids, store=store) as m:
        split = m.schedule("fan", {}).result(timeout=TIMEOUT)
    assert split.state is JobState.FAULTED
    assert split.error == (
        "step 'split': making its branches' ids: RuntimeError: the id service is down"
    )


@pytest.mark.parametrize("bad", ["", "a/b", "nul\x00", "x" * 501, 7])
def test_an_id_against_the_rule_is_refused_at_admission_naming_the_factory(store, bad):
    with Mediator([one], ids=factory([bad]), store=store) as m:
        with pytest.raises(ValueError, match=r"Mediator\(ids=\.\.\.\) made .*which is no job id"):
            m.schedule("one", {})
        assert m.store.counts() == {} or sum(m.store.counts().values()) == 0
