"""A record the case book handed out is not touched until it comes back.

A split's branches are made ready (handed to the work channel), come back in their
runners' reports, and the case is cancelled at any moment: the book writes nothing on a
record while it is out, asks for it back (``Withdraw``) instead, and a cancel noted for
a runner's job is put on the record when it returns.
"""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st
from records import record

from actors._case_book import CaseBook
from actors._case_effects import Ready, Withdraw
from actors._job import JobRecord, JobState

BRANCHES = 3


def _fields(job: JobRecord) -> dict[str, object]:
    return {name: getattr(job, name) for name in JobRecord.__slots__}


@given(
    st.lists(
        st.tuples(st.sampled_from(["return", "cancel", "stop"]), st.integers(0, BRANCHES - 1)),
        max_size=12,
    )
)
def test_the_book_writes_nothing_on_a_record_it_handed_out(ops: list[tuple[str, int]]) -> None:
    book = CaseBook(lambda parent, join: False)
    parent = record("p", state=JobState.WAITING, split_total=BRANCHES, gen=1)
    kids = [
        record(f"p.{i}", case_id="p", parent_id="p", branch_index=i, parent_gen=1)
        for i in range(BRANCHES)
    ]
    handed = {}
    for i, kid in enumerate(kids):
        effects = book.spawn(parent if i == 0 else None, kid)
        assert effects == [Ready(kid)]
        handed[kid.id] = copy.deepcopy(_fields(kid))
    for op, i in ops:
        kid = kids[i]
        if op == "return" and kid.id in book.out:
            was_stopping = kid.id in book.stopping
            book.returned(kid)
            assert kid.id not in book.out
            assert kid.cancel_requested == was_stopping
            del handed[kid.id]
        elif op == "cancel":
            effects = book.cancel(parent, "cancelled")
            withdrawn = {e.job.id for e in effects if isinstance(e, Withdraw)}
            assert withdrawn == {k.id for k in kids if k.id in book.out}
        elif op == "stop" and kid.id in book.out:  # its runner had it: told to stop
            book.stop(kid, "cancelled")
        for kid_id, fields in handed.items():
            assert _fields(next(k for k in kids if k.id == kid_id)) == fields, kid_id
