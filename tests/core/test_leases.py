"""Leases against a model, over any sequence of losses, claims back, hand-backs and renewals."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given
from hypothesis import strategies as st
from records import record

from actors._leases import Leases

CASES = ["a", "b", "c", "d"]
MEMORY = 2  # small, so forgetting the oldest lost case is exercised

ops = st.lists(
    st.tuples(
        st.sampled_from(["lose", "claim_back", "hand_back", "renewed"]),
        st.sampled_from(CASES),
        st.integers(0, 2),
    ),
    max_size=30,
)


@given(ops)
def test_leases_agree_with_a_model(sequence: list[tuple[str, str, int]]) -> None:
    leases = Leases(OrderedDict(), memory=MEMORY)
    lost: list[str] = []  # oldest first
    handed: dict[str, str] = {}  # job id -> case id
    for op, case, n in sequence:
        job_id = f"{case}.{n}"
        if op == "lose":
            if case in lost:
                lost.remove(case)
            lost.append(case)
            del lost[:-MEMORY]
            handed = {j: c for j, c in handed.items() if c != case}
            leases.lose(case)
        elif op == "claim_back":
            if case in lost:
                lost.remove(case)
            leases.claim_back(case)
        elif op == "hand_back":
            handed[job_id] = case
            leases.hand_back(record(job_id, case_id=case))
        else:
            assert {job.id for job in leases.renewed()} == set(handed)
            handed = {}
        assert list(leases.lost) == lost
        assert leases.waiting == bool(handed)


@given(st.integers(0, 5).map(float), st.integers(0, 5).map(float), st.booleans())
def test_the_leases_are_looked_up_when_one_may_be_gone(
    renewed_at: float, deadline: float, waiting: bool
) -> None:
    # Only a renewal that ended past the deadline vouched for may find a case taken.
    looked = Leases.must_look(renewed_at, deadline, waiting=waiting)
    assert looked == (waiting or renewed_at >= deadline)
