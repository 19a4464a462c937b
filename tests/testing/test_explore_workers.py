"""``explore(workers=N)``: the seeds shared out to forked processes, the failure replayed here.

Written as user code: a lost update between two steps of parallel branches, found by a
parallel search exactly as a search in one process finds it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from actors import ParallelSplit, Sequential, Synchronize, Workflow
from actors.testing import HarnessError, InvariantViolation, exhaust, explore, replay

STOCK = {"count": 0}


def read_stock(data: dict[str, Any]) -> None:
    data["seen"] = STOCK["count"]


def write_stock(data: dict[str, Any]) -> None:
    STOCK["count"] = data["seen"] + 1  # a lost update if the other branch wrote in between


counting = Workflow("count", start="split", steps=[
    ParallelSplit("split", branches=["b0", "b1"]),
    Sequential("b0", read_stock, next="b0_write"),
    Sequential("b1", read_stock, next="b1_write"),
    Sequential("b0_write", write_stock, next="join"),
    Sequential("b1_write", write_stock, next="join"),
    Synchronize("join", merge=lambda parent, _: parent),
])  # fmt: skip


def count_twice(h: Any) -> None:
    STOCK["count"] = 0
    h.schedule("count", {})
    h.finish()
    if STOCK["count"] != 2:
        h.fail(f"lost update: 2 branches counted {STOCK['count']}")


def test_a_parallel_search_reports_the_same_failure_as_a_search_in_one_process():
    with pytest.raises(InvariantViolation) as alone:
        explore(count_twice, runs=200, workflows=[counting], runners=2)
    with pytest.raises(InvariantViolation) as shared:
        explore(count_twice, runs=200, workers=2, workflows=[counting], runners=2)
    # The lowest failing seed, replayed here with its whole report (trace and seed line).
    assert str(shared.value) == str(alone.value)
    assert "lost update: 2 branches counted 1" in str(shared.value)
    assert "seed: " in str(shared.value)


def test_every_seed_runs_once_across_the_workers(tmp_path):
    ran = tmp_path / "seeds"

    def note_seed(h: Any) -> None:
        h.schedule("count", {})
        h.finish()
        with ran.open("a") as out:  # one short append per run: whole lines
            out.write(f"{h.seed} {os.getpid()}\n")

    assert explore(note_seed, runs=150, seed=40, workers=3, workflows=[counting]) == 150
    lines = [line.split() for line in ran.read_text().splitlines()]
    assert sorted(int(seed) for seed, _ in lines) == list(range(40, 190))
    assert str(os.getpid()) not in {pid for _, pid in lines}  # all ran in the workers


def test_a_seed_that_fails_only_in_a_worker_is_reported_as_depending_on_more_than_its_seed():
    here = os.getpid()

    def flaky(h: Any) -> None:
        h.schedule("count", {})
        h.finish()
        assert h.seed != 7 or os.getpid() == here, "differs in a worker"

    expected = (
        r"explore\(workers=2\): seed 7 failed in a worker process \(AssertionError: "
        r"differs in a worker\) but passed when replayed in this one"
    )
    with pytest.raises(HarnessError, match=expected):
        explore(flaky, runs=40, workers=2, workflows=[counting])


def test_a_worker_whose_scenario_exits_does_not_hang_the_search():
    def exits(h: Any) -> None:
        if h.seed == 5:
            raise SystemExit(3)

    with pytest.raises(SystemExit):
        explore(exits, runs=20, workers=2, workflows=[counting])


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2"])
def test_workers_must_be_a_positive_count(workers):
    with pytest.raises((ValueError, TypeError), match=r"explore\(workers=\.\.\.\)"):
        explore(count_twice, runs=10, workers=workers, workflows=[counting])


def test_a_failure_found_stops_the_seeds_not_yet_started(tmp_path):
    ran = tmp_path / "seeds"

    def fails_at_3(h: Any) -> None:
        with ran.open("a") as out:
            out.write(f"{h.seed}\n")
        if h.seed >= 32:  # past the first chunk: each worker stops at the first it starts
            threading.Event().wait(120)  # ended by the search, which stops its workers
        assert h.seed != 3, "seed 3"

    with pytest.raises(AssertionError, match="seed 3"):
        explore(fails_at_3, runs=2000, workers=2, workflows=[counting])
    # Chunks of 32 seeds (2000 seeds, 2 workers): the first chunk up to seed 3 (and seed
    # 3 again, replayed here), and at most the first seed of one more chunk per worker.
    # However slow the machine, no worker could go on: no other chunk started.
    seeds = [int(line) for line in ran.read_text().splitlines()]
    assert sorted(s for s in seeds if s <= 3) == [0, 1, 2, 3, 3]
    assert all(s <= 3 or s % 32 == 0 for s in seeds) and len(seeds) <= 7


class _StrRaisesError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this error raises")


def test_a_failure_whose_str_raises_is_the_scenarios_failure_not_the_str_error():
    def odd(h: Any) -> None:
        h.schedule("count", {})
        h.finish()
        if h.seed == 5:
            raise _StrRaisesError

    with pytest.raises(_StrRaisesError):  # as a search in one process raises it
        explore(odd, runs=20, workflows=[counting])
    with pytest.raises(_StrRaisesError):
        explore(odd, runs=20, workers=2, workflows=[counting])


def test_a_later_seed_that_hangs_does_not_hold_up_the_lowest_failure():
    def hangs_late(h: Any) -> None:
        assert h.seed != 1, "seed 1"
        if h.seed >= 40:  # one process never gets here: seed 1 fails first
            threading.Event().wait(120)

    done = threading.Event()
    raised: list[BaseException] = []

    def search() -> None:
        try:
            explore(hangs_late, runs=200, workers=2, workflows=[counting])
        except BaseException as exc:  # handed to the test
            raised.append(exc)
        done.set()

    threading.Thread(target=search, daemon=True).start()
    assert done.wait(60), "explore waited for a worker stuck in a later seed"
    assert isinstance(raised[0], AssertionError)
    assert "seed 1" in str(raised[0])


def count_twice_with_assert(h: Any) -> None:
    STOCK["count"] = 0
    h.schedule("count", {})
    h.finish()
    assert STOCK["count"] == 2, f"lost update: 2 branches counted {STOCK['count']}"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_scenarios_own_assert_names_the_seed_that_replays_it(workers: int) -> None:
    with pytest.raises(AssertionError) as found:
        explore(count_twice_with_assert, runs=200, workers=workers, workflows=[counting], runners=2)
    (note,) = found.value.__notes__
    seed = int(note.split("seed: ", 1)[1].split(" ", 1)[0])
    assert "last " in note  # the trace tail, as in the harness's own failures
    with pytest.raises(AssertionError) as again:
        replay(count_twice_with_assert, seed=seed, workflows=[counting], runners=2)
    assert again.value.__notes__ == [note]


def test_an_exhaustive_search_names_the_choices_of_a_scenarios_own_assert() -> None:
    with pytest.raises(AssertionError) as found:
        exhaust(count_twice_with_assert, workflows=[counting], runners=2)
    (note,) = found.value.__notes__
    choices = [int(c) for c in note.split("choices: [", 1)[1].split("]", 1)[0].split(", ")]
    with pytest.raises(AssertionError):
        replay(count_twice_with_assert, choices=choices, workflows=[counting], runners=2)


def test_a_worker_process_that_dies_is_named_with_the_seeds_it_ran() -> None:
    def dies(h: Any) -> None:
        if h.seed == 9:
            os._exit(3)  # a scenario that ends its own process
        count_twice_safely(h)

    with pytest.raises(HarnessError, match=r"died while it ran seeds from \d+ on") as caught:
        explore(dies, runs=40, workers=2, workflows=[counting])
    first = int(str(caught.value).split("seeds from ")[1].split(" ")[0])
    assert first <= 9  # the seed that ended the process is at or after the one named


def count_twice_safely(h: Any) -> None:
    h.schedule("count", {})
    h.finish()
