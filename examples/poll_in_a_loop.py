"""Poll a service in a loop, and tell its late replies from the current round's.

Run it with ``python examples/poll_in_a_loop.py``. A report is built by an outside
service; the case asks it how far the report is, waits for its reply (or a timeout),
pauses, and asks again until the report is ready. Every round waits on the same
correlation id (``f"{job_id}/ask"``), so a reply meant for an earlier round (one that
came after its timeout, or that the service's webhook delivered twice) that comes while
the case waits again is delivered to the round it waits in. The request carries its
round, the service's reply names it, and the case keeps only a reply for the round it
waits in: a stale one sends it back to ask again. Asking again (not only waiting again)
matters: the round's own reply may come while the case is busy with the stale one, when
it waits on nothing, and is then answered ``DUPLICATE`` and dropped; the service answers
every request, so the one sent again brings that reply back. The service does the work
once per round (keyed on the job id and the round) however often it is asked.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from actors import (
    EventOutcome,
    ExclusiveChoice,
    JobState,
    Mediator,
    RequestReaction,
    Sequential,
    Spec,
    StepContext,
    Wait,
    Workflow,
)
from actors.testing import VirtualClock

TIMEOUT_S = 60.0  # how long a round waits for the service's reply
PAUSE_S = 600.0  # between two rounds


class ReportService:
    """Stands for the outside service: it keeps the requests the case sent it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._sent = threading.Condition()

    def ask(self, round_: int, reply_to: str) -> None:
        with self._sent:
            self.requests.append({"round": round_, "reply_to": reply_to})
            self._sent.notify_all()

    def wait_for_request(self, count: int, timeout: float = 10) -> None:
        """Block until ``count`` requests have come in all (``TimeoutError`` after ``timeout``)."""
        with self._sent:
            if not self._sent.wait_for(lambda: len(self.requests) >= count, timeout):
                msg = f"{count} requests expected, {len(self.requests)} came"
                raise TimeoutError(msg)


def next_round(data: dict[str, Any]) -> None:
    data["round"] = data.get("round", 0) + 1
    data.pop("answered", None)  # no reply yet for this round


def poller_workflow(service: ReportService) -> Workflow:
    """The polling case, sending its requests to ``service``."""

    def ask(data: dict[str, Any], ctx: StepContext) -> None:
        service.ask(data["round"], ctx.correlation_id)

    def take_reply(data: dict[str, Any], reply: dict[str, Any]) -> None:
        data["answered"] = reply["round"]
        if reply["round"] == data["round"]:
            data["status"] = reply["status"]

    def answered_this_round(data: dict[str, Any]) -> bool:
        return bool(data["answered"] == data["round"])

    return Workflow("poll", start="next_round", steps=[
        Sequential("next_round", next_round, next="ask"),
        RequestReaction("ask", send=ask, on_reply=take_reply, next="this round?",
                        timeout=TIMEOUT_S, on_timeout="pause"),
        ExclusiveChoice("this round?", Spec(answered_this_round, "reply for this round"),
                        if_true="ready?", if_false="ask"),  # stale: ask again
        ExclusiveChoice("ready?", Spec(lambda d: d["status"] == "ready", "ready"),
                        if_true="fetch", if_false="failed?"),
        ExclusiveChoice("failed?", Spec(lambda d: d["status"] == "failed", "failed"),
                        if_true="give_up", if_false="pause"),
        Wait("pause", duration=PAUSE_S, next="next_round"),
        Sequential("fetch", lambda d: d.update(outcome="fetched")),
        Sequential("give_up", lambda d: d.update(outcome="gave up")),
    ])  # fmt: skip


def main(
    store: str = "memory://",
) -> tuple[dict[str, Any], list[dict[str, Any]], list[EventOutcome]]:
    """Poll one report; its final data, the requests sent, and what each reply got."""
    service = ReportService()
    clock = VirtualClock()
    outcomes: list[EventOutcome] = []
    with Mediator([poller_workflow(service)], clock=clock, store=store) as mediator:

        def reply(round_: int, status: str) -> None:
            payload = {"round": round_, "status": status}
            outcomes.append(mediator.receive_event("report-1/ask", payload))

        def wait_at(step: str) -> None:
            for _ in range(1000):  # bounded: 10 s at most
                job = mediator.get_job("report-1")
                if job.state is JobState.WAITING and job.step == step:
                    return
                time.sleep(0.01)
            raise TimeoutError(f"report-1 never waited at {step!r}")

        handle = mediator.schedule("poll", {}, job_id="report-1")
        service.wait_for_request(1)  # sent once the job waits for its reply
        clock.advance(TIMEOUT_S)  # round 1 gets no reply in time
        wait_at("pause")
        clock.advance(PAUSE_S)
        service.wait_for_request(2)
        reply(1, "failed")  # round 1's reply comes at last, while round 2 waits
        service.wait_for_request(3)  # so round 2 asks again
        reply(1, "failed")  # the service's webhook delivers it twice
        service.wait_for_request(4)
        reply(2, "ready")  # round 2's own: the first build failed, the second is ready
        job = handle.result(timeout=30)
    return job.data, service.requests, outcomes


if __name__ == "__main__":
    data, requests, outcomes = main()
    print(data)
    print([r["round"] for r in requests], [o.name for o in outcomes])
