"""A runner counts its report on a job before it leaves the job, a request's park too.

``WorkChannel.quiet`` (a draining shutdown's test that all is done) reads ``running``
and then the reports not handled: a job leaving its runner must show in one or the
other. A ``RequestReaction`` step left the job (``channel.done``) before it counted the
report of its park, so in between nothing showed it: a drain could end then, with the
park's report still on its way.
"""

from __future__ import annotations

import threading
from typing import Any

from bounds import TIMEOUT, wait_until

from actors import EventOutcome, JobState, Mediator, RequestReaction, Sequential, Workflow


def test_every_report_is_counted_before_its_job_leaves_the_runner() -> None:
    asked = threading.Event()
    flow = Workflow(
        "ask",
        start="ask",
        steps=[
            RequestReaction(
                "ask", send=lambda data, ctx: asked.set(), on_reply=lambda d, r: None, next="end"
            ),
            Sequential("end", lambda data, ctx: None),
        ],
    )
    unread: list[tuple[str | None, int]] = []  # the job's step, the reports unhandled
    with Mediator([flow], runners=1) as mediator:
        channel = mediator._engine.channel
        real_done = channel.done

        def done(job: Any, runner: int) -> None:
            if job.id in channel.running:  # its first call for this slice
                unread.append((job.step, channel.backlog()))
            real_done(job, runner)

        channel.done = done
        handle = mediator.schedule("ask", {}, job_id="c1")
        assert asked.wait(TIMEOUT), "the request was never sent"
        wait_until(lambda: mediator.get_job("c1").state is JobState.WAITING, "c1 to park")
        assert mediator.receive_event("c1/ask", 1) is EventOutcome.DELIVERED
        assert handle.result(TIMEOUT).state is JobState.DONE
    assert [step for step, _ in unread] == ["ask", "end"]
    assert all(backlog >= 1 for _, backlog in unread), unread
