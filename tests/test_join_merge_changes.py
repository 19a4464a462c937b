"""A join's default merge, the contract's, and ``merge_changes``, which keeps every change.

Every branch of a split by names starts from a copy of the data at the split, and the
default merge updates the parent with each whole branch in turn: a key one branch
changed is put back by the unchanged copy of a branch after it. The job goes on with the
contract's result, and a runner says so once per join; ``merge_changes`` keeps the change.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import (
    Discriminator,
    Mediator,
    ParallelSplit,
    Sequential,
    Synchronize,
    Workflow,
    merge_changes,
)
from actors._merges import reverted_keys


def reserve(data: dict[str, Any]) -> None:
    data["status"] = "reserved"
    data["stock_left"] -= 1


def charge(data: dict[str, Any]) -> None:
    data["charged"] = data["total"]


def notify(data: dict[str, Any]) -> None:
    data["mailed"] = True


def order_flow(merge: Any = None, join: type = Synchronize) -> Workflow:
    return Workflow(
        "order",
        [
            ParallelSplit("split", branches=["reserve", "charge", "notify"]),
            Sequential("reserve", reserve, next="join"),
            Sequential("charge", charge, next="join"),
            Sequential("notify", notify, next="join"),
            join("join", merge=merge),
        ],
        start="split",
    )


ORDER = {"status": "new", "stock_left": 5, "total": 30}


def run(flow: Workflow, data: dict[str, Any], cases: int = 3) -> dict[str, Any]:
    """The data ``cases`` cases of ``flow`` end with: the same for each."""
    with Mediator([flow], runners=2) as mediator:
        handles = [mediator.schedule(flow.name, dict(data)) for _ in range(cases)]
        results = [handle.result(timeout=TIMEOUT).data for handle in handles]
    assert all(result == results[0] for result in results)
    return results[0]


def test_the_default_merge_keeps_the_contract_and_warns_once_per_join(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="actors"):
        data = run(order_flow(), ORDER)
    # Each whole branch in turn: notify's copy, last, puts status and stock back.
    assert data == {**ORDER, "charged": 30, "mailed": True}
    said = [r.getMessage() for r in caplog.records if "default merge put back" in r.getMessage()]
    assert 1 <= len(said) <= 2, said  # once per join by each runner (two runners)
    assert "join 'join' of workflow 'order' v1" in said[0]
    assert "of 'status', 'stock_left', which an earlier branch changed" in said[0]
    assert "merge=actors.merge_changes" in said[0]


def test_merge_changes_keeps_every_branchs_changes_and_says_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="actors"):
        data = run(order_flow(merge_changes), ORDER)
    assert data == {
        "status": "reserved",
        "stock_left": 4,
        "total": 30,
        "charged": 30,
        "mailed": True,
    }
    assert not [r for r in caplog.records if "default merge" in r.getMessage()]


def test_a_first_of_n_join_keeps_its_winners_changes_with_merge_changes() -> None:
    data = run(order_flow(merge_changes, Discriminator), ORDER, cases=1)  # any may win
    winner = {k: v for k, v in data.items() if ORDER.get(k, object()) != v}
    assert winner in ({"status": "reserved", "stock_left": 4}, {"charged": 30}, {"mailed": True})


def test_branches_that_change_no_key_of_the_split_raise_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = Workflow(
        "notes",
        [
            ParallelSplit("split", branches=["charge", "notify"]),
            Sequential("charge", charge, next="join"),
            Sequential("notify", notify, next="join"),
            Synchronize("join"),
        ],
        start="split",
    )
    with caplog.at_level(logging.WARNING, logger="actors"):
        data = run(flow, ORDER)
    assert data == {**ORDER, "charged": 30, "mailed": True}
    assert not [r for r in caplog.records if "default merge" in r.getMessage()]


@pytest.mark.parametrize(
    ("branches", "expected"),
    [
        ([{"a": 2}, {"a": 1}], ["a"]),  # changed, then put back
        ([{"a": 1}, {"a": 2}], []),  # the last writer changed it
        ([{"a": 2}, {"a": 1}, {"a": 3}], []),  # put back, then changed again
        ([{"a": 2}, {"a": 3}], []),  # both changed: the later one's value, as asked
        ([{"a": 1, "b": 9}, {"a": 1}], []),  # a key new at the split is nobody's to put back
        ([{"a": 2}, {}], []),  # a branch that deleted the key puts nothing back
    ],
)
def test_reverted_keys_names_what_the_default_merge_puts_back(
    branches: list[dict[str, Any]], expected: list[str]
) -> None:
    assert reverted_keys({"a": 1}, branches) == expected


def test_merge_changes_refuses_data_that_is_not_a_dict_naming_itself() -> None:
    with pytest.raises(TypeError, match="merge_changes needs dict data"):
        merge_changes([1], [[2]])  # type: ignore[arg-type]


def test_a_runner_checks_only_the_first_firings_of_a_join(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long run does not pay for the check: a write put back later goes unsaid."""
    import actors._interpreter as interpreter

    def mark_if_asked(data: dict[str, Any]) -> None:
        if data["mark"]:
            data["status"] = "marked"

    flow = Workflow(
        "marks",
        [
            ParallelSplit("split", branches=["mark", "notify"]),
            Sequential("mark", mark_if_asked, next="join"),
            Sequential("notify", notify, next="join"),
            Synchronize("join"),
        ],
        start="split",
    )
    monkeypatch.setattr(interpreter, "MERGE_CHECKS", 2)
    with caplog.at_level(logging.WARNING, logger="actors"), Mediator([flow], runners=1) as mediator:
        for mark in (False, False, True):  # only the third puts a write back
            data = {"status": "new", "mark": mark}
            assert mediator.schedule("marks", data).result(timeout=TIMEOUT).data["status"] == "new"
    assert not [r for r in caplog.records if "default merge" in r.getMessage()]
