"""The Timekeeper against a model, over any sequence of parks, cancels, polls, wakes and rings.

No runtime: the alarm is a variable the test sets when the Timekeeper says ``Arm``.
After every message the alarm must be due at the earliest pending timer (or unset when
none is pending), a ring fires exactly the timers due by then, earliest first (FIFO
among equal due times), and never one early.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from actors._timekeeper import POLL, Timekeeper

KEYS = ["j0", "j1", "j2", POLL]
times = st.integers(0, 6).map(float)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("park"), st.sampled_from(KEYS[:3]), times),
        st.tuples(st.just("cancel"), st.sampled_from(KEYS), times),
        st.tuples(st.just("poll_at"), st.just(POLL), times),
        st.tuples(st.just("wake"), st.booleans(), times),
        st.tuples(st.just("ring"), st.just(""), times),
    ),
    max_size=40,
)


@given(ops)
def test_the_alarm_is_always_set_for_the_earliest_timer(sequence: list[tuple]) -> None:
    keeper = Timekeeper()
    model: dict[str, tuple[float, int]] = {}  # key -> (due, order set)
    order = itertools.count()
    alarm: float | None = None  # what the alarm is set to; None: not set (or it rang)
    for op, arg, t in sequence:
        if op == "park":
            keeper.park(arg, t)
            model[arg] = (t, next(order))
        elif op == "cancel":
            assert keeper.cancel(arg) == (model.pop(arg, None) is not None)
        elif op == "poll_at":
            keeper.poll_at(t)
            model[POLL] = (t, next(order))
        elif op == "wake":
            stopping = arg
            due = model.get(POLL, (None, 0))[0]
            expected = not stopping and (due is None or due > t)
            assert keeper.wake(t, stopping=stopping) == expected
            if expected:
                model[POLL] = (t, next(order))
        else:
            fired = keeper.ring(t)
            alarm = None  # it rang: a one-shot alarm is unset until set again
            due = sorted((v, k) for k, v in model.items() if v[0] <= t)
            assert fired == [k for _, k in due]
            for key in fired:
                del model[key]
        arm = keeper.rearm()
        if arm is not None:
            alarm = arm.due
        earliest = min((due for due, _ in model.values()), default=None)
        assert alarm == earliest, f"alarm at {alarm}, earliest timer at {earliest}"
        assert keeper.pending() == {k: v[0] for k, v in sorted(model.items(), key=lambda kv: kv[1])}
        assert keeper.jobs() == len(set(model) - {POLL})
        keeper._check_invariants()


def test_rearm_says_nothing_when_the_earliest_timer_did_not_move() -> None:
    keeper = Timekeeper()
    keeper.park("a", 5.0)
    assert keeper.rearm() is not None
    keeper.park("b", 7.0)
    assert keeper.rearm() is None  # still due at 5: the alarm is left alone
    keeper.cancel("a")
    arm = keeper.rearm()
    assert arm is not None
    assert arm.due == 7.0
