"""Correlations against a model, over any sequence of parks, answers and withdrawals.

No runtime: the Scheduler's bookkeeping of which job waits on which id is a plain
object, so Hypothesis drives it message by message and compares it with a dict model.
"""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given
from hypothesis import strategies as st
from records import record

from actors._correlations import Correlations
from actors._outcomes import EventOutcome

JOBS = [f"j{i}" for i in range(4)]
NAMES = ["", "a", "b"]
MEMORY = 3  # small, so forgetting the oldest answer is exercised
outcomes = st.sampled_from([*EventOutcome, None])

ops = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(JOBS), st.sets(st.sampled_from(NAMES))),
    st.tuples(st.just("withdraw"), st.sampled_from(JOBS), outcomes),
    st.tuples(
        st.just("remember"),
        st.sampled_from(JOBS),
        st.sampled_from(NAMES),
        st.sampled_from(list(EventOutcome)),
    ),
    st.tuples(st.just("forget"), st.sampled_from(JOBS), st.sampled_from(NAMES)),
)


def cid(job: str, name: str) -> str:
    return f"{job}/wait/{name}" if name else f"{job}/wait"


@given(st.lists(ops, max_size=40))
def test_correlations_agree_with_a_model(sequence: list[tuple]) -> None:
    corr = Correlations(memory=MEMORY)
    waiting: dict[str, dict[str, str]] = {}  # job -> {cid: name}
    answered: OrderedDict[str, EventOutcome] = OrderedDict()

    def remember(key: str, outcome: EventOutcome) -> None:
        answered[key] = outcome
        answered.move_to_end(key)
        if len(answered) > MEMORY:
            answered.popitem(last=False)

    for op in sequence:
        if op[0] == "register":
            _, job, names = op
            corr.register(job, [(cid(job, n), n) for n in sorted(names)])
            waiting.pop(job, None)
            if names:
                waiting[job] = {cid(job, n): n for n in names}
        elif op[0] == "withdraw":
            _, job, outcome = op
            withdrawn = corr.withdraw(job, outcome)
            expected = waiting.pop(job, {})
            assert set(withdrawn) == set(expected)
            if outcome is not None:
                for key in withdrawn:
                    remember(key, outcome)
        elif op[0] == "remember":
            _, job, name, outcome = op
            corr.remember(cid(job, name), outcome)
            remember(cid(job, name), outcome)
        else:
            _, job, name = op
            corr.forget(cid(job, name))
            answered.pop(cid(job, name), None)
        corr._check_invariants()
        for job in JOBS:
            assert corr.waits(job) == (job in waiting)
            for name in NAMES:
                key = cid(job, name)
                want = (job, name) if key in waiting.get(job, {}) else None
                assert corr.target(key) == want
                assert corr.answered(key) == answered.get(key)
        assert {j: set(ids) for j, ids in corr.by_job().items()} == {
            j: set(w) for j, w in waiting.items()
        }


@given(st.sets(st.sampled_from(NAMES), min_size=1), st.sampled_from(list(EventOutcome)))
def test_the_first_answer_withdraws_every_id_of_the_job(
    names: set[str], outcome: EventOutcome
) -> None:
    """A DeferredChoice: one event takes the job, and its other ids answer with the outcome."""
    corr = Correlations()
    corr.register("j", [(cid("j", n), n) for n in names])
    corr.withdraw("j", outcome)
    assert not corr.waits("j")
    for n in names:
        assert corr.target(cid("j", n)) is None
        assert corr.answered(cid("j", n)) is outcome


@given(
    st.lists(
        st.tuples(st.sampled_from(["early", "take", "forget_case"]), st.sampled_from(JOBS)),
        max_size=30,
    )
)
def test_events_that_came_early_are_kept_until_taken_or_their_case_is_lost(
    sequence: list[tuple[str, str]],
) -> None:
    corr = Correlations()
    model: dict[str, str] = {}  # job id -> case id
    case_of = {job: f"case-{int(job[1:]) % 2}" for job in JOBS}
    for op, job in sequence:
        if op == "early":
            corr.early(record(job, case_id=case_of[job]))
            model[job] = case_of[job]
        elif op == "take":
            taken = corr.take_early(job)
            assert (taken is not None) == (job in model)
            assert taken is None or taken.id == job
            model.pop(job, None)
        else:
            corr.forget_case(case_of[job])
            model = {j: c for j, c in model.items() if c != case_of[job]}
        for other in JOBS:
            assert corr.got_early(other) == (other in model)
