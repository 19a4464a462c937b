"""A user's ``Mediator(ids=...)`` factory: its mistakes fault a case, never another case.

A factory that raised at a split restarted the runner for ever; one that made an id the
store held saved a branch over that job (another case's, on every store).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors.stores import MemoryStore, SqliteStore

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


class _LooksUpSlowly:
    """A store whose look-up of branch ids waits until the other split has made its ids."""

    other_split_made_ids: threading.Event

    def existing(self, job_ids: Sequence[str]) -> set[str]:
        found: set[str] = super().existing(job_ids)  # type: ignore[misc]
        self.other_split_made_ids.wait(TIMEOUT)
        return found


class _SlowMemory(_LooksUpSlowly, MemoryStore):
    pass


class _SlowSqlite(_LooksUpSlowly, SqliteStore):
    pass


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_two_splits_given_the_same_ids_at_once_never_share_a_branch(kind, tmp_path):
    """Neither split's ids are stored when the other looks them up: one must fault still."""
    store = _SlowMemory() if kind == "memory" else _SlowSqlite(tmp_path / "ids.db")
    store.other_split_made_ids = threading.Event()
    made = itertools.count()
    lock = threading.Lock()

    def ids() -> str:  # each split gets "b0", "b1": the second ones are taken
        with lock:
            n = next(made)
        if n == 2:
            store.other_split_made_ids.set()
        return f"b{n % 2}"

    with Mediator([fan], ids=ids, store=store, runners=2, runner_batch=1) as m:
        handles = [m.schedule("fan", {}, job_id=case) for case in ("A", "B")]
        ended = {h.job_id: h.result(timeout=TIMEOUT) for h in handles}
        branches = [m.get_job(b) for b in ("b0", "b1")]
    states = sorted(job.state.value for job in ended.values())
    assert states == ["done", "faulted"], {c: (j.state, j.error) for c, j in ended.items()}
    (done,) = [c for c, job in ended.items() if job.state is JobState.DONE]
    assert {b.parent_id for b in branches} == {done}
