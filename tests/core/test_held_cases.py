"""A poll's list of the cases this worker holds misses none in transit to a runner.

A new case's first job leaves the admission gate for a runner: ``AdmissionGate.pop``
enters it in the channel's ``running`` before it leaves the queue, so a reader that
looks at the gate first and then at ``running`` always finds it in one of them. Read the
other way round, a job taken between the two looks is in neither: its case was left out
of the renewal's check for cases another worker took over.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from records import record

from actors._admission import AdmissionGate, FullMode
from actors._channel import WorkChannel
from actors._poll_round import PollRound


class _TakenAsRead(AdmissionGate):
    """A gate whose queued job a runner takes just as its ids are read."""

    channel: WorkChannel

    def ids(self) -> list[str]:
        self.channel._take_admitted(0)  # the runner's take, between the poll's two looks
        return super().ids()


def _held(gate: AdmissionGate, channel: WorkChannel) -> set[str]:
    poll: Any = SimpleNamespace(_e=SimpleNamespace(channel=channel, gate=gate), _jobs={})
    return PollRound._held(poll)


def test_a_case_taken_from_the_gate_as_the_poll_looks_is_held() -> None:
    gate = _TakenAsRead(capacity=4, mode=FullMode.BACKPRESSURE)
    channel = gate.channel = WorkChannel(gate, runners=1)
    gate.reserve()
    gate.commit(record("c1"))
    assert _held(gate, channel) == {"c1"}
    assert list(channel.running) == ["c1"]  # the take happened, between the looks


def test_a_case_queued_or_running_is_held() -> None:
    gate = AdmissionGate(capacity=4, mode=FullMode.BACKPRESSURE)
    channel = WorkChannel(gate, runners=1)
    for case in ("c1", "c2"):
        gate.reserve()
        gate.commit(record(case))
    channel._take_admitted(0)
    assert _held(gate, channel) == {"c1", "c2"}
