"""A failure whose choices came from Hypothesis data replays elsewhere from its printed blob.

What docs/how-to/test-with-the-harness.md says: with ``print_blob=True`` the failure
report carries a ``@reproduce_failure(version, blob)`` decorator, and the test under it
runs that failing example again, interleaving included, with no example database. And a
test's own check failing inside a ``with Harness(...)`` block names the seed to replay it,
even one the harness picked itself.
"""

from __future__ import annotations

import ast
import re

import pytest
from hypothesis import given, reproduce_failure, settings
from hypothesis import strategies as st

from actors import ParallelSplit, Sequential, Synchronize, Workflow
from actors.testing import Harness

stock = {"count": 0}


def read_stock(data):
    data["seen"] = stock["count"]


def write_stock(data):
    stock["count"] = data["seen"] + 1  # a lost update when both branches read first


count_flow = Workflow("count", start="split", steps=[
    ParallelSplit("split", branches=["read_a", "read_b"]),
    Sequential("read_a", read_stock, next="write_a"),
    Sequential("write_a", write_stock, next="join"),
    Sequential("read_b", read_stock, next="write_b"),
    Sequential("write_b", write_stock, next="join"),
    Synchronize("join"),
])  # fmt: skip

_BLOB = re.compile(r"@reproduce_failure\(('[^']+'), (b'[^']+')\)")


def test_a_printed_blob_replays_the_failing_interleaving():
    traces: list[list[tuple[str, str, str | None]]] = []

    def counts_both(data):
        stock["count"] = 0
        with Harness([count_flow], data=data, runners=2) as h:
            h.schedule("count", {})
            h.finish()
            traces.append([(e.actor, e.action, e.job) for e in h.trace])
            assert stock["count"] == 2, "lost update"

    found = settings(print_blob=True, database=None, deadline=None)(
        given(data=st.data())(counts_both)
    )
    with pytest.raises(AssertionError, match="lost update") as failure:
        found()
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    printed = _BLOB.search(notes)
    assert printed is not None, notes
    version, blob = (ast.literal_eval(part) for part in printed.groups())
    failing = traces[-1]  # Hypothesis runs the minimal failing example last

    traces.clear()
    replayed = settings(database=None, deadline=None)(
        reproduce_failure(version, blob)(given(data=st.data())(counts_both))
    )
    with pytest.raises(AssertionError, match="lost update"):
        replayed()
    assert traces == [failing]


_SEED = re.compile(r"^seed: (\d+) \(replay: Harness\(\.\.\., seed=\1\)", re.MULTILINE)


def test_a_check_failing_in_a_with_block_names_the_seed_the_harness_picked():
    # No seed given: the harness picks one. The test's own assert, raised inside the
    # block, gets the seed (and the trace tail) as a note, and that seed replays it.
    traces = []
    for _ in range(50):
        stock["count"] = 0
        try:
            with Harness([count_flow], runners=2) as h:
                h.schedule("count", {})
                h.finish()
                traces.append([str(e) for e in h.trace])
                assert stock["count"] == 2, "lost update"
        except AssertionError as exc:
            failure = exc
            break
    else:
        pytest.fail("50 seeds never lost the update")
    notes = "\n".join(getattr(failure, "__notes__", []))
    seed = _SEED.search(notes)
    assert seed is not None, notes
    assert notes.count("raised in this harness run:") == 1
    stock["count"] = 0
    with Harness([count_flow], runners=2, seed=int(seed.group(1))) as again:
        again.schedule("count", {})
        again.finish()
    assert [str(e) for e in again.trace] == traces[-1]
    assert stock["count"] != 2
