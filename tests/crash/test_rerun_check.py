"""The crash tests' check for a step run again after a stored save showed it done.

On histories as a PostgreSQL store of the crash test left them: worker P held case c,
saved its job at step y, and stalled inside y past its lease; worker Q took the case
over, ran y to the job's end and stored it DONE; P's task reached its effect only then.
That is the step in flight of a worker that lost its case (allowed); the same run by any
other worker, a second run by P, or a run by a P that went on saving, is a rerun.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rerun_check import stored_step_reruns

from actors.stores._admin_types import TAKEOVER, HistoryRow

ORDER = {"x": 0, "y": 1}
P, Q = "vm:101:aaaa", "vm:202:bbbb"


def save(seq: int, step: str | None, state: str, at: float, worker: str) -> HistoryRow:
    return HistoryRow("c", seq, step, 1, state, at, worker, None, None)


def claim(seq: int, at: float, new: str, previous: str) -> HistoryRow:
    action = f"{TAKEOVER}{previous} (its lease expired)"
    return HistoryRow("c", seq, "y", 1, "running", at, new, None, action)


def history(*more: HistoryRow) -> dict[str, list[HistoryRow]]:
    return {"c": [save(1, "y", "running", 10.0, P), claim(2, 12.5, Q, P), *more]}


def reruns(runs: list[tuple], rows: dict[str, list[HistoryRow]]) -> list:
    return stored_step_reruns(runs, rows, {"c": "c"}, ORDER)


def test_the_step_in_flight_on_a_worker_that_lost_its_case_is_no_rerun() -> None:
    # P began y at 10.0 and stalled; Q ran y at 12.6 and stored it DONE at 12.7; P's
    # effect came at 12.74. (The check read this as a resume from before Q's save.)
    rows = history(save(3, "y", "done", 12.7, Q))
    runs = [("c", "x", 1, 9.9, 101), ("c", "y", 1, 12.6, 202), ("c", "y", 1, 12.74, 101)]
    assert reruns(runs, rows) == []


def test_a_run_by_the_new_holder_after_its_own_stored_save_is_a_rerun() -> None:
    rows = history(save(3, "y", "done", 12.7, Q))
    runs = [("c", "y", 1, 12.6, 202), ("c", "y", 1, 12.74, 202)]
    (found,) = reruns(runs, rows)
    assert found[0] == ("c", "y", 1, 12.74, 202)


def test_a_worker_whose_case_was_not_taken_is_never_excused() -> None:
    rows = {"c": [save(1, "y", "running", 10.0, P), save(2, "y", "done", 10.2, P)]}
    runs = [("c", "y", 1, 10.1, 101), ("c", "y", 1, 10.3, 101)]
    (found,) = reruns(runs, rows)
    assert found[0][3] == 10.3


def test_a_second_run_by_the_worker_that_lost_the_case_is_a_rerun() -> None:
    rows = history(save(3, None, "done", 12.7, Q))
    runs = [("c", "x", 1, 12.72, 101), ("c", "y", 1, 12.74, 101)]
    assert [run for run, _ in reruns(runs, rows)] == [("c", "x", 1, 12.72, 101)]


def test_a_run_by_a_worker_that_saved_the_job_after_losing_it_is_a_rerun() -> None:
    # Its save after the claim was stored: it was not fenced, so nothing excuses its run.
    rows = history(save(3, "y", "done", 12.7, Q), save(4, "y", "done", 12.8, P))
    runs = [("c", "y", 1, 12.74, 101)]
    assert len(reruns(runs, rows)) == 1


def test_a_run_before_the_claim_is_no_step_in_flight_at_it() -> None:
    # A run that a stored save showed done, by a worker whose case was taken only later.
    rows = {"c": [save(1, "y", "running", 10.0, P), claim(2, 12.5, Q, P)]}
    runs = [("c", "x", 1, 11.0, 101)]
    assert len(reruns(runs, rows)) == 1


def test_a_worker_that_lost_the_case_running_a_step_its_own_save_showed_done_is_a_rerun() -> None:
    # P's own stored save at y showed x done: its run of x is no step in flight there.
    rows = history(save(3, None, "done", 12.7, Q))
    runs = [("c", "x", 1, 12.74, 101)]
    assert len(reruns(runs, rows)) == 1
