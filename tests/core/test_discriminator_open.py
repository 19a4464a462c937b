"""A job that ended past a Discriminator while its other branches still run stays open.

Its row is saved WAITING (``saved_open``) until the last of those branches ends, and
then as it ended, so that a claim, which looks for cases by their unfinished root, still
finds the case after a crash. Here on the case tree alone, no runtime.
"""

from __future__ import annotations

from records import record

from actors._case_book import CaseBook
from actors._case_effects import Cancel, Finished, Ready, Save
from actors._job import JobRecord, JobState, is_saved_open, reopen_ended, saved_open


def _parent() -> JobRecord:
    return record(
        "p", step="split", data={}, state=JobState.WAITING, split_total=2, gen=1
    )  # fmt: skip


def _branch(index: int) -> JobRecord:
    return record(
        f"p.{index}", case_id="p", step="b", data={"i": index}, parent_id="p",
        branch_index=index, parent_gen=1,
    )  # fmt: skip


def test_the_row_of_a_job_held_for_its_branches_is_saved_as_it_ended_with_the_last() -> None:
    tree = CaseBook(lambda parent, join: True)  # every join a Discriminator
    parent, winner, loser = _parent(), _branch(0), _branch(1)
    tree.spawn(parent, winner)
    tree.spawn(None, loser)
    winner.state = JobState.DONE
    effects = tree.arrived(winner, "first") or []
    assert [type(e) for e in effects if e.job is parent] == [Ready]
    assert [e.job for e in effects if isinstance(e, Cancel)] == [loser]
    # The root runs on to its end while the loser's step still runs: its runner saved
    # it open (split_live counts the loser) and says so.
    parent.state, parent.step, parent.event = JobState.DONE, "after", None
    assert parent.split_live == 1
    assert tree.ended(parent, True) == []
    assert parent.id in tree.held

    loser.state = JobState.CANCELLED
    effects = tree.ended(loser)
    ends = [(type(e).__name__, e.job.id) for e in effects]
    assert ends == [("Finished", "p.1"), ("Save", "p"), ("Finished", "p")]
    saved = next(e.job for e in effects if isinstance(e, Save))
    assert saved is parent and saved.state is JobState.DONE and saved.event is None


def test_a_job_saved_open_whose_branches_ended_meanwhile_is_saved_as_it_ended() -> None:
    tree = CaseBook(lambda parent, join: True)
    parent = _parent()
    parent.state, parent.joined = JobState.DONE, True  # split_live 0: nothing holds it
    assert tree.ended(parent, True) == [Save(parent), Finished(parent)]
    final = _parent()
    final.state = JobState.DONE
    assert tree.ended(final, False) == [Finished(final)]  # saved final by its runner


def test_the_scheduler_ending_a_job_with_live_branches_saves_it_open() -> None:
    tree = CaseBook(lambda parent, join: False)
    parent, kid = _parent(), _branch(0)
    tree.spawn(parent, kid)
    effects = tree.end(parent, JobState.FAULTED, "gone")
    [save] = effects
    assert isinstance(save, Save) and is_saved_open(save.job)
    assert save.job.event == ("ended", "faulted", None) and save.job.error == "gone"
    assert parent.state is JobState.FAULTED  # the record itself is as it ended


def test_a_row_saved_open_is_held_again_after_a_restart_until_its_branches_end() -> None:
    ended = _parent()
    ended.state, ended.joined, ended.step = JobState.DONE, True, "after"
    row = saved_open(ended)
    assert row.state is JobState.WAITING and row.event == ("ended", "done", None)
    loser = _branch(1)
    loser.state = JobState.READY
    tree = CaseBook(lambda parent, join: True)
    tree.adopt([row, loser])
    assert tree.resume(row, ()) == []  # held for its branch
    assert row.state is JobState.DONE and row.event is None and row.id in tree.held

    alone = saved_open(ended)
    tree = CaseBook(lambda parent, join: True)
    tree.adopt([alone])
    assert tree.resume(alone, ()) == [Save(alone), Finished(alone)]
    assert alone.state is JobState.DONE


def test_only_a_final_state_in_the_event_reopens_a_row() -> None:
    for event in [("ended", "ready", None), ("ended", "nope", None), ("event", "done", None)]:
        job = record("j", state=JobState.WAITING, event=event)
        assert not is_saved_open(job)
        assert not reopen_ended(job) and job.state is JobState.WAITING


def _fired(arrivals: dict[int, object]) -> JobRecord:
    """A parent whose Discriminator fired before a restart (its join step run or not)."""
    parent = _parent()
    parent.state, parent.step, parent.joined = JobState.READY, "first", True
    parent.join_step, parent.arrivals = "first", arrivals
    return parent


def test_a_branch_that_lost_a_discriminator_before_a_restart_is_cancelled_not_run() -> None:
    parent, winner, loser = _fired({0: {"i": 0}}), _branch(0), _branch(1)
    loser.taken_over = loser.solo = True  # taken from a worker that died
    tree = CaseBook(lambda parent, join: join == "first")
    tree.adopt([parent, winner, loser])
    assert tree.resume(parent, ()) == [Ready(parent)]
    # The winner's end was not stored: it runs again (its arrival counts once).
    assert tree.resume(winner, ()) == [Ready(winner)]
    # Marked cancelled: its runner ends it before any step (and saves it with its slice).
    assert tree.resume(loser, ()) == [Ready(loser)]
    assert loser.cancel_requested and loser.error == "a sibling won the Discriminator"
    assert not (loser.taken_over or loser.solo)  # no step runs: no try counted, one by one
    parked = _branch(2)
    parked.state, parked.due = JobState.WAITING, 1e12  # a loser parked on a far timer
    tree.adopt([parked])
    assert tree.resume(parked, ()) == [Ready(parked)]  # not Park: it would wait for nothing
    assert parked.cancel_requested


def test_a_branch_of_a_fired_synchronize_or_of_an_earlier_split_is_resumed() -> None:
    for first_wins, gen in [(False, 1), (True, 0)]:
        parent, kid = _fired({0: {"i": 0}}), _branch(1)
        kid.parent_gen = gen
        tree = CaseBook(lambda parent, join, first_wins=first_wins: first_wins)
        tree.adopt([parent, kid])
        tree.resume(parent, ())
        assert tree.resume(kid, ()) == [Ready(kid)]


def test_a_losing_branch_that_split_in_turn_is_cancelled_with_its_branches_after_a_restart():
    # Its branches would run on, and a loop in them (polling) keep the case open for ever.
    parent, winner, loser = _fired({0: {"i": 0}}), _branch(0), _branch(1)
    loser.state, loser.step, loser.split_total, loser.gen = JobState.WAITING, "slow", 2, 1
    polling, parked = record(
        "p.1.0", case_id="p", step="poll", data={}, parent_id="p.1", branch_index=0,
        parent_gen=1,
    ), record(
        "p.1.1", case_id="p", step="pause", data={}, parent_id="p.1", branch_index=1,
        parent_gen=1, state=JobState.WAITING, due=1e12,
    )  # fmt: skip
    tree = CaseBook(lambda parent, join: join == "first")
    tree.adopt([parent, winner, loser, polling, parked])
    assert tree.resume(parent, ()) == [Ready(parent)]
    tree.resume(winner, ())
    effects = tree.resume(loser, ())
    # The parked one ends now; the ready one is its runner's to end before any step.
    assert [(type(e).__name__, e.job.id) for e in effects] == [
        ("Save", "p.1.1"),
        ("Finished", "p.1.1"),
    ]
    assert parked.state is JobState.CANCELLED
    assert polling.cancel_requested and polling.error == "a sibling won the Discriminator"
    assert tree.resume(polling, ()) == [Ready(polling)]
    assert loser.cancel_requested and loser.state is JobState.WAITING  # ends with its last
    polling.state = JobState.CANCELLED
    ends = [(type(e).__name__, e.job.id) for e in tree.ended(polling)]
    assert ("Finished", "p.1") in ends and loser.state is JobState.CANCELLED
