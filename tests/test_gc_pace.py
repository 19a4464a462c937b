"""The collector's pace while Mediators run (``actors._gc_pace``, ``Mediator(tune_gc=)``).

The first threshold (and the third, the oldest generation's) is raised while at least
one Mediator runs and put back by the last to stop, unless the program changed it
meanwhile. The premise, that the engine's hot path makes no reference cycles (so the
collector's walks free nothing of it), is checked too: a change that makes one per step
would make a collector run later matter.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from flows import setter, workload_w

from actors import JobState, Mediator, Sequential, Workflow
from actors import _gc_pace as pace

DEFAULT = (700, 10, 10)


@pytest.fixture(autouse=True)
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Known thresholds, and no holder left by another test's Mediator."""
    before = gc.get_threshold()
    monkeypatch.setattr(pace, "_holders", 0)
    monkeypatch.setattr(pace, "_found", None)
    monkeypatch.setattr(pace, "_set", None)
    gc.set_threshold(*DEFAULT)
    yield
    gc.set_threshold(*before)


def one_step() -> Workflow:
    return Workflow("one", [Sequential("a", setter("a"))], start="a")


def test_a_running_mediator_raises_the_first_threshold_and_its_stop_puts_it_back():
    mediator = Mediator([one_step()])
    try:
        assert gc.get_threshold() == (pace.THRESHOLD, 10, 100)
        assert mediator.schedule("one", {}).result(timeout=10).state is JobState.DONE
    finally:
        mediator.shutdown()
    assert gc.get_threshold() == DEFAULT
    mediator.shutdown()  # again: nothing is released twice
    assert pace.holders() == 0


@pytest.mark.parametrize(("found", "raised"), [((700, 5, 20), 100), ((700, 5, 500), 500)])
def test_full_collections_are_rarer_and_a_rarer_setting_is_kept(found, raised):
    """A full collection walks every object alive: a wide split's branches, again and again."""
    gc.set_threshold(*found)
    with Mediator([one_step()]):
        assert gc.get_threshold() == (pace.THRESHOLD, 5, raised)
    assert gc.get_threshold() == found


def test_the_last_of_two_mediators_to_stop_puts_it_back():
    first, second = Mediator([one_step()]), Mediator([one_step()])
    first.shutdown()
    assert gc.get_threshold()[0] == pace.THRESHOLD  # the second still runs
    second.shutdown()
    assert gc.get_threshold() == DEFAULT


def test_a_change_the_program_made_meanwhile_is_kept():
    mediator = Mediator([one_step()])
    gc.set_threshold(50_000, 20, 20)
    mediator.shutdown()
    assert gc.get_threshold() == (50_000, 20, 20)


@pytest.mark.parametrize("found", [(0, 10, 10), (20_000, 10, 10)])
def test_collection_turned_off_or_already_rarer_is_left_alone(found):
    gc.set_threshold(*found)
    with Mediator([one_step()]):
        assert gc.get_threshold() == found
    assert gc.get_threshold() == found


def test_tune_gc_false_leaves_the_collector_alone():
    with Mediator([one_step()], tune_gc=False):
        assert gc.get_threshold() == DEFAULT
        assert pace.holders() == 0
    assert gc.get_threshold() == DEFAULT


def test_a_mediator_that_fails_to_start_holds_nothing():
    with pytest.raises(ValueError, match="runners"):
        Mediator([one_step()], runners=0)
    assert pace.holders() == 0
    assert gc.get_threshold() == DEFAULT


def test_workflows_with_splits_and_joins_leave_no_reference_cycles():
    """Every record a case makes is freed by reference counting, not by the collector."""
    flow = workload_w()
    enabled = gc.isenabled()
    with Mediator([flow], tune_gc=False) as mediator:
        for handle in [mediator.schedule(flow.name, {}) for _ in range(20)]:  # warm up
            assert handle.result(timeout=30).state is JobState.DONE
        gc.collect()
        gc.disable()
        try:
            handles = [mediator.schedule(flow.name, {}) for _ in range(300)]
            for handle in handles:
                assert handle.result(timeout=30).state is JobState.DONE
            del handles, handle
            cyclic = gc.collect()
        finally:
            if enabled:
                gc.enable()
    # A cycle made per case (or per step) would number in the hundreds here.
    assert cyclic < 30, f"{cyclic} objects in reference cycles after 300 cases"


def test_tune_gc_must_be_a_bool():
    with pytest.raises(TypeError, match="tune_gc must be True or False, got 'false'"):
        Mediator([one_step()], tune_gc="false")  # type: ignore[arg-type]
    assert gc.get_threshold() == DEFAULT


def test_a_mediator_stopped_only_by_pykka_keeps_it_raised_until_its_shutdown():
    import pykka

    mediator = Mediator([one_step()])
    pykka.ActorRegistry.stop_all()  # the engine's actors stop; the Mediator is not shut down
    assert gc.get_threshold()[0] == pace.THRESHOLD
    mediator.shutdown()
    assert gc.get_threshold() == DEFAULT
