"""One caller at a time per named id being admitted (``actors._id_claims``)."""

from __future__ import annotations

import threading

import pytest
from bounds import TIMEOUT

from actors import MailboxFull
from actors._id_claims import IdClaims


def test_a_held_id_refuses_a_caller_that_may_not_wait_and_times_out_one_that_may():
    claims = IdClaims()
    token = claims.take(["a", "b"], block=True, timeout=None)
    with pytest.raises(MailboxFull, match="'b' is being admitted by another caller; try again"):
        claims.take(["c", "b"], block=False, timeout=None)
    with pytest.raises(MailboxFull, match="'a' is being admitted by another caller, still after"):
        claims.take(["a"], block=True, timeout=0.0)
    claims.take(["c"], block=False, timeout=None)  # the refused call held nothing
    claims.give_back(["a", "b"], token)
    claims.take(["a", "b"], block=False, timeout=None)


def test_a_waiting_caller_gets_the_id_once_its_holder_gives_it_back():
    claims = IdClaims()
    token = claims.take(["x"], block=True, timeout=None)
    got = threading.Event()

    def waiter() -> None:
        claims.take(["x"], block=True, timeout=TIMEOUT)
        got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not got.is_set()
    claims.give_back(["x"], token)
    thread.join(TIMEOUT)
    assert got.is_set()


@pytest.mark.parametrize("batch", [False, True])
def test_waiting_for_a_named_id_spends_the_callers_timeout(monkeypatch, batch):
    """One timeout for the whole call: the wait for the slot gets what the id wait left."""
    from actors import Mediator, Sequential, Workflow
    from actors import _admit as admit_module

    now = [100.0]
    monkeypatch.setattr(admit_module.time, "monotonic", lambda: now[0])
    flow = Workflow("w", [Sequential("a", lambda d: d)], start="a")
    with Mediator([flow], runners=1) as m:
        admissions = m._admissions
        take = admissions._ids.take

        def slow_take(ids, *, block, timeout):
            now[0] += 0.75  # the id's other caller took this long to be decided
            return take(ids, block=block, timeout=timeout)

        given: list[float | None] = []
        gate = m._engine.gate
        reserve_many = gate.reserve_many

        def recording(count, *, timeout=None, block=True):
            given.append(timeout)
            return reserve_many(count, timeout=timeout, block=block)

        monkeypatch.setattr(admissions._ids, "take", slow_take)
        monkeypatch.setattr(gate, "reserve_many", recording)
        if batch:
            m.schedule_many("w", [{}], job_ids=["order-1"], timeout=2.0)
        else:
            m.schedule("w", {}, job_id="order-1", timeout=2.0)
        assert given == [pytest.approx(1.25)]
        now[0] += 5.0
        m.schedule("w", {}, job_id="order-2")  # no timeout: none made up
        assert given[-1] is None
