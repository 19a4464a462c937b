"""An actor that sends an event again until its job waits for it, under the harness.

Threads are fair to it: a runner soon moves the job to the choice. The harness's
simplest schedule (choice 0 every time, where Hypothesis starts and shrinks to) lets the
actor and the Scheduler act first for ever, and the run ends in ``Livelock``; the
testing guide says so, and that a ``RequestReaction`` whose ``send`` tells the actor
runs under that schedule too.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors import DeferredChoice, EventOutcome, RequestReaction, Sequential, Workflow
from actors.testing import Harness, Livelock, replay

FIRST_EVERY_TIME = [0] * 5_000


class Carrier(pykka.ThreadingActor):
    """Confirms a booking, then reports the pickup: again while the job is not at the choice."""

    def __init__(self, mediator: Any) -> None:
        super().__init__()
        self.mediator = mediator

    def on_receive(self, message: tuple[str, str]) -> None:
        kind, ident = message
        if kind == "booked":
            self.mediator.receive_event(ident, None)
            self.actor_ref.tell(("collected", ident.split("/")[0]))
        elif self.mediator.receive_event(f"{ident}/pickup/collected") is EventOutcome.UNKNOWN:
            self.actor_ref.tell(message)


class Answering(pykka.ThreadingActor):
    """Answers each request it is told of: the engine tells it once the job waits."""

    def __init__(self, mediator: Any) -> None:
        super().__init__()
        self.mediator = mediator

    def on_receive(self, correlation_id: str) -> None:
        self.mediator.receive_event(correlation_id, None)


def _flows(actor: dict[str, Any]) -> tuple[Workflow, Workflow]:
    def tell(message: Any) -> None:
        actor["ref"].tell(message)

    done = Sequential("done", lambda data: {**data, "shipped": True})
    resending = Workflow(
        "ship",
        start="book",
        steps=[
            RequestReaction(
                "book", send=lambda d, ctx: tell(("booked", ctx.correlation_id)), next="pickup"
            ),
            DeferredChoice("pickup", events={"collected": "done"}),
            done,
        ],
    )
    answered = Workflow(
        "ship",
        start="book",
        steps=[
            RequestReaction("book", send=lambda d, ctx: tell(ctx.correlation_id), next="pickup"),
            RequestReaction("pickup", send=lambda d, ctx: tell(ctx.correlation_id), next="done"),
            done,
        ],
    )
    return resending, answered


def _scenario(actor: dict[str, Any], cls: type[pykka.ThreadingActor]) -> Any:
    def run(h: Harness) -> None:
        actor["ref"] = h.actor(cls, h.mediator)
        h.schedule("ship", {})
        assert [job.data for job in h.finish()] == [{"shipped": True}]

    return run


def test_an_actor_resending_until_the_job_waits_starves_the_runner_first_every_time() -> None:
    actor: dict[str, Any] = {}
    resending, _ = _flows(actor)
    run = _scenario(actor, Carrier)
    for seed in range(3):  # a random schedule soon lets the runner act
        replay(run, seed=seed, workflows=[resending])
    with pytest.raises(Livelock, match=r"actions by actor: scheduler \(100\), carrier \(100\)"):
        replay(run, choices=FIRST_EVERY_TIME, workflows=[resending], max_steps=2_000)


def test_a_request_whose_send_tells_the_actor_runs_first_every_time() -> None:
    actor: dict[str, Any] = {}
    _, answered = _flows(actor)
    replay(_scenario(actor, Answering), choices=FIRST_EVERY_TIME, workflows=[answered])
