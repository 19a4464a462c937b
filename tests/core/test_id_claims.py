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
