"""An int too long to write as text is no job data, on every store alike.

Python writes an int of at most ``sys.get_int_max_str_digits()`` digits (4,300 by
default) as text and raises ``ValueError`` past that. The durable stores write JSON text,
so they refuse such an int with a ``CodecError`` naming where it sits; ``memory://``
writes no text, and refuses it the same way, naming the same path, so a flow that runs
in memory runs on SQLite and PostgreSQL too. Refused at the door, or by faulting the step
that put it there (with its last saved data); a branch that arrives at its join with one
counts nothing there.
"""

import re
import sys
from functools import partial

import pytest
from bounds import TIMEOUT
from records import saved_split

from actors import CodecError, JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors.stores import DEFAULT_CODEC

HUGE = 10**5000  # more digits than Python writes as text (4,300)
WHY = (
    "an int of more than 4300 digits, more than Python writes as text (store it as a "
    "str, or raise the limit with sys.set_int_max_str_digits in every process that reads "
    "the store)"
)
COUNTED: list[int] = []


def _count(data):
    COUNTED.append(data["n"])


def _putting(**values):
    def task(data):
        data.update(values)

    return task


def _int_key(data):
    data[HUGE] = "x"


def _flow():
    return Workflow("rule", [Sequential("a", lambda d: d.update(a=1))], start="a")


@pytest.mark.parametrize("commit", ["step", "slice", "group"])
def test_an_int_too_long_to_write_faults_its_step_and_leaves_other_cases_alone(
    make_sql_store, commit
):
    """The step faults once, naming the path: the save raised, and the runner crashed for ever."""
    COUNTED.clear()
    counting = Workflow("count", [Sequential("count", _count)], start="count")
    huge = Workflow(
        "huge",
        [Sequential("a", _putting(total={"cents": HUGE}), next="b"), Sequential("b", _count)],
        "a",
    )
    with Mediator([huge, counting], store=make_sql_store(commit=commit)) as m:
        handles = [m.schedule("count", {"n": n}) for n in range(10)]
        job = m.schedule("huge", {"n": -1}).result(timeout=TIMEOUT)
        assert all(h.result(timeout=TIMEOUT).state is JobState.DONE for h in handles)
        assert (job.state, job.step) == (JobState.FAULTED, "a")
        assert "['total']['cents']: an int of more than 4300 digits" in job.error
        assert m.get_job(job.id).state is JobState.FAULTED  # stored as such
    assert sorted(COUNTED) == list(range(10))


@pytest.mark.parametrize(
    ("task", "path"),
    [
        (_putting(total=HUGE), "['total']"),  # a flat dict: memory's fast path
        (_putting(total=-HUGE), "['total']"),
        (_putting(total={"cents": HUGE}), "['total']['cents']"),
        (_putting(items=[1, (2, HUGE)]), "['items'][1][1]"),
        (_int_key, " (an int key)"),
    ],
)
def test_a_step_putting_an_int_too_long_to_write_faults_there_naming_its_path(
    make_store, task, path
):
    """Every store alike: the step that put it there faults, naming the same path.

    Its data is the last saved, on every store.
    """
    flow = Workflow(
        "huge", [Sequential("a", lambda d: d.update(a=1), next="b"), Sequential("b", task)], "a"
    )
    with Mediator([flow], store=make_store()) as m:
        job = m.schedule("huge", {"n": 7}).result(timeout=TIMEOUT)
        assert (job.state, job.step) == (JobState.FAULTED, "b")
        assert job.data == {"n": 7, "a": 1}
        expected = f"step 'b': data cannot be stored: cannot encode data of job {job.id}{path}: "
        assert job.error == expected + WHY
        assert m.get_job(job.id).state is JobState.FAULTED  # stored as such


def test_a_branch_putting_an_int_too_long_to_write_faults_and_its_join_never_fires(make_store):
    """The branch faults at that step, before it arrives: the join never fires."""
    flow = Workflow(
        "fan",
        [
            ParallelSplit("split", branches=["ok", "huge"]),
            Sequential("ok", lambda d: d.update(ok=1), next="join"),
            Sequential("huge", _putting(total=HUGE), next="join"),
            Synchronize("join", next="after"),
            Sequential("after", lambda d: d.update(after=1)),
        ],
        "split",
    )
    with Mediator([flow], store=make_store()) as m:
        job = m.schedule("fan", {}).result(timeout=TIMEOUT)
        assert (job.state, job.step) == (JobState.FAULTED, "split"), job.error
        branch = re.fullmatch(
            r"join 'join' got 1 of 2 branches: branch 1 \(job (\S+)\) faulted at step 'huge': "
            r"data cannot be stored: cannot encode data of job (\S+)\['total'\]: (.*)",
            job.error,
        )
        assert branch is not None, job.error
        assert branch[1] == branch[2] and branch[3] == WHY  # the branch's own save refused it
        assert "after" not in job.data


def test_an_arrival_with_an_int_too_long_to_write_is_refused_and_counts_nothing(make_store):
    """As its data is stored: every store keeps its own copy of an arrival's data."""
    store = make_store()
    parent, _ = saved_split(store, 2)
    arrive = partial(store.record_arrival, parent.id, 1, join_step="join")
    with pytest.raises(CodecError) as refused:
        arrive(0, {"total": HUGE})
    assert (
        str(refused.value) == f"cannot encode data of branch 0 of job {parent.id}['total']: {WHY}"
    )
    assert arrive(1, {"ok": 1}) == (1, 2)
    assert arrive(0, {"ok": 0}) == (2, 2)


def test_an_int_too_long_to_write_is_refused_at_the_door_naming_its_path(make_store):
    with Mediator([_flow()], store=make_store()) as m:
        for bad, path in (
            ({"n": HUGE}, "['n']: "),
            ({"items": [1, HUGE]}, "['items'][1]: "),
            ({"ids": {HUGE: "x"}}, "['ids'] (an int key): "),
        ):
            with pytest.raises(CodecError, match="more than 4300 digits") as refused:
                m.schedule("rule", bad)
            assert path in str(refused.value)
        assert m.stats().admitted == 0


def test_the_limit_is_python_s_own_as_it_stands():
    """Raised or lowered with sys.set_int_max_str_digits, the rule follows it."""
    limit = sys.get_int_max_str_digits()
    try:
        sys.set_int_max_str_digits(640)
        with pytest.raises(CodecError, match=r"data\['n'\]: an int of more than 640 digits"):
            DEFAULT_CODEC.copy({"n": 10**640})
        assert DEFAULT_CODEC.copy({"n": 10**640 - 1}) == {"n": 10**640 - 1}
        sys.set_int_max_str_digits(0)  # no limit
        assert DEFAULT_CODEC.copy({"n": HUGE}) == {"n": HUGE}
    finally:
        sys.set_int_max_str_digits(limit)
    for refuse in (DEFAULT_CODEC.copy, DEFAULT_CODEC.check):
        with pytest.raises(CodecError, match=r"data\[0\]: an int of more than 4300 digits"):
            refuse([10**4300])
    assert DEFAULT_CODEC.copy([10**4300 - 1]) == [10**4300 - 1]
    DEFAULT_CODEC.check((-(10**4300) + 1, {"k": 1}))
