"""A user's write told through one actor, read from another by the next step.

A task tells an audit actor to record that the order was paid; the audit actor passes
the record on to the store actor. The next step asks the store for it, assuming the
record is there because the tell came first. Each actor takes its messages in order,
but the store may take the next step's ask before the audit actor has passed the
record on: under threads when the audit actor is slow, under the harness whenever the
chooser delivers to the store first. Found by ``explore`` within its first few seeds,
with one runner; the task that waits for the audit actor's answer passes every seed.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors import Sequential, StepContext, Workflow
from actors.testing import Harness, InvariantViolation, explore

BUDGET = 40  # seeds: the bug shows within the first few

refs: dict[str, Any] = {}  # filled once the harness has started the actors


class Records(pykka.ThreadingActor):
    """The order records: ``("put", order, what)`` stores, ``("get", order)`` reads."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, str] = {}

    def on_receive(self, message: Any) -> Any:
        if message[0] == "put":
            self.rows[message[1]] = message[2]
            return None
        return self.rows.get(message[1])


class Audit(pykka.ThreadingActor):
    """Checks what it is told (redacts, signs), then passes it on to the records."""

    def __init__(self, records: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.records = records

    def on_receive(self, message: Any) -> Any:
        _, order, what = message
        self.records.tell(("put", order, what))  # the answer says only "audited"
        return "audited"


def _paid_told(data: dict[str, Any], ctx: StepContext) -> None:
    refs["audit"].tell(("put", ctx.job_id, "paid"))  # fire and forget


def _paid_asked(data: dict[str, Any], ctx: StepContext) -> None:
    refs["audit"].ask(("put", ctx.job_id, "paid"))


def _receipt(data: dict[str, Any], ctx: StepContext) -> None:
    data["status"] = refs["records"].ask(("get", ctx.job_id))


def _flow(record: Any) -> Workflow:
    return Workflow("pay", start="record", steps=[
        Sequential("record", record, next="receipt"),
        Sequential("receipt", _receipt),
    ])  # fmt: skip


def _pay(h: Harness) -> None:
    refs["records"] = h.actor(Records)
    refs["audit"] = h.actor(Audit, refs["records"])
    h.schedule("pay", {}, job_id="o1")
    (job,) = h.finish()
    if job.data["status"] != "paid":
        h.fail(f"the receipt of o1 read status {job.data['status']!r}")


def test_a_record_told_through_an_actor_read_before_it_arrives_is_found() -> None:
    with pytest.raises(InvariantViolation) as found:
        explore(_pay, runs=BUDGET, workflows=[_flow(_paid_told)])
    lines = str(found.value).splitlines()
    assert lines[0] == "the receipt of o1 read status None"
    # The trace shows each message the user's actors took: the get before the put.
    trace = [line.split(None, 1)[1] for line in lines if line[:7].strip().isdigit()]
    got = trace.index("records      tuple                ('get', 'o1')")
    audited = trace.index("audit        tuple                ('put', 'o1', 'paid')")
    put = trace.index("records      tuple                ('put', 'o1', 'paid')")
    assert got < put and audited < put, trace


def test_the_record_asked_of_the_audit_actor_passes() -> None:
    # Still passed on by a tell: the audit actor's own tell to the records comes before
    # its answer, so the records take the put before the receipt's get.
    explore(_pay, runs=BUDGET, workflows=[_flow(_paid_asked)])
