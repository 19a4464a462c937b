"""The workflow and the driver behind ``actors demo``: order fulfilment, run durably.

Every demo order is a case named ``demo-order-<n>``. Before scheduling an order the
driver asks the store whether that case exists: a finished one is reported as it is,
an unfinished one was already resumed by the Mediator when it started (from its last
saved step), and only a missing one is scheduled. So with a durable store a second run
finishes what an interrupted run left, and never starts an order twice.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actors._errors import EngineStoppedError, JobExistsError
from actors._job import Job, StepContext
from actors._steps import ParallelSplit, Sequential, Synchronize, Wait
from actors._workflow import Workflow

if TYPE_CHECKING:
    from actors._handle import JobHandle
    from actors._mediator import Mediator
    from actors._outcomes import Stats

__all__ = ["DEMO_WORKFLOW", "DemoReport", "case_id", "demo_order", "pickup_delay", "run_demo"]

_POLL_S = 0.05  # how often cases resumed from the store (they have no handle) are checked


def _reserve(order: dict[str, Any]) -> None:
    order["reserved"] = [item["sku"] for item in order["items"]]


def _take_payment(order: dict[str, Any], ctx: StepContext) -> None:
    # A real payment call would send ctx.idempotency_key, so a step run twice charges once.
    total = sum(item["price"] * item["qty"] for item in order["items"])
    order["payment"] = {"charged": total, "key": ctx.idempotency_key}


def _book_shipping(order: dict[str, Any]) -> None:
    order["shipping"] = {"carrier": "parcel-post", "parcels": len(order["items"])}


def _notify_customer(order: dict[str, Any]) -> None:
    order["notification"] = f"order {order['order_id']} is on its way"


def _combine(order: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    payment, shipping, notification = branches
    order["payment"] = payment["payment"]
    order["shipping"] = shipping["shipping"]
    order["notification"] = notification["notification"]


def _confirm(order: dict[str, Any]) -> None:
    order["status"] = "confirmed"


def pickup_delay(order: dict[str, Any]) -> float:
    """Seconds the demo order waits for the carrier to pick its parcel up."""
    return float(order["pickup_delay"])


DEMO_WORKFLOW = Workflow(
    "demo_order",
    start="reserve",
    steps=[
        Sequential("reserve", _reserve, next="fan_out"),
        ParallelSplit("fan_out", branches=["payment", "carrier_pickup", "notification"]),
        Sequential("payment", _take_payment, next="join"),
        Wait("carrier_pickup", duration=pickup_delay, next="shipping"),
        Sequential("shipping", _book_shipping, next="join"),
        Sequential("notification", _notify_customer, next="join"),
        Synchronize("join", merge=_combine, next="confirm"),
        Sequential("confirm", _confirm),
    ],
)
"""Reserve, then payment, shipping (after a short carrier-pickup wait) and notification
in parallel, then join and confirm."""


def case_id(n: int) -> str:
    """The case id of demo order ``n``: ``demo-order-<n>``."""
    return f"demo-order-{n}"


def demo_order(n: int) -> dict[str, Any]:
    """The data of demo order ``n``; its carrier-pickup wait lasts 0.1 to 0.5 seconds."""
    return {
        "order_id": n,
        "items": [{"sku": "tea", "price": 4, "qty": 2}, {"sku": "mug", "price": 9, "qty": 1}],
        "pickup_delay": round(0.1 * (1 + n % 5), 2),
    }


@dataclass(slots=True)
class DemoReport:
    """What one demo run did."""

    jobs: list[Job] = field(default_factory=list)
    """The final snapshot of every demo case, in order-number order."""
    scheduled: int = 0
    """Cases this run admitted."""
    resumed: int = 0
    """Cases a previous run left unfinished, resumed from their last saved step."""
    already_finished: int = 0
    """Cases a previous run finished; reported, not run again."""
    elapsed: float = 0.0
    """Seconds from the first admission to the last case's end."""
    latencies: list[float] = field(default_factory=list)
    """Seconds each case of this run took, from admission (or start) to its observed end."""
    stats: Stats | None = None
    """The Mediator's counters at the end of the run."""


def run_demo(
    mediator: Mediator,
    orders: int,
    *,
    on_admitted: Callable[[str], Any] | None = None,
    on_finished: Callable[[Job], Any] | None = None,
    timeout: float | None = None,
    poll: float = _POLL_S,
) -> DemoReport:
    """Run (or resume) demo orders ``1..orders`` on ``mediator`` until every case has ended.

    A producer thread admits the orders (blocking under backpressure as any producer
    would) while this thread watches them end. ``on_admitted(case_id)`` is called once per
    case, scheduled or found in the store, from the producer thread; ``on_finished(job)``
    once per case with its final snapshot, from the calling thread. Raises
    ``TimeoutError`` when ``timeout`` seconds pass first.
    """
    report = DemoReport()
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    admitted: queue.Queue[_Admitted | None] = queue.Queue()
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            _admit_orders(mediator, orders, report, admitted, on_admitted)
        except EngineStoppedError:
            pass  # the caller shut the mediator down (Ctrl-C): stop admitting
        except BaseException as exc:  # handed to the calling thread, which raises it
            failures.append(exc)
        finally:
            admitted.put(None)

    producer = threading.Thread(target=produce, name="actors-demo-producer", daemon=True)
    producer.start()
    pending: dict[str, _Admitted] = {}
    final: dict[str, Job] = {}
    producing = True
    while producing or pending:
        producing = _collect(admitted, pending, final, on_finished) and producing
        if failures:
            raise failures[0]
        _sweep(mediator, pending, final, report, on_finished)
        if not producing and not pending:
            break
        if deadline is not None and time.monotonic() > deadline:
            msg = f"{len(pending)} demo order(s) did not finish within {timeout}s"
            raise TimeoutError(msg)
        oldest = next(iter(pending.values()), None)
        if oldest is not None and oldest.handle is not None:
            with contextlib.suppress(TimeoutError):  # wakes early when it ends
                oldest.handle.result(timeout=poll)
        else:
            time.sleep(poll)  # waiting for the producer, or for cases with no handle
    producer.join()
    report.elapsed = time.monotonic() - started
    report.jobs = [final[case_id(n)] for n in range(1, orders + 1)]
    report.stats = mediator.stats()
    return report


@dataclass(frozen=True, slots=True)
class _Admitted:
    """A demo case the producer handed over: a handle, or the snapshot it already had."""

    case_id: str
    handle: JobHandle | None
    since: float
    final: Job | None = None


def _admit_orders(
    mediator: Mediator,
    orders: int,
    report: DemoReport,
    out: queue.Queue[_Admitted | None],
    on_admitted: Callable[[str], Any] | None,
) -> None:
    # --8<-- [start:resume]
    for n in range(1, orders + 1):
        cid = case_id(n)
        saved = mediator.store.get(cid)
        handle = None
        if saved is not None and saved.state.is_final:
            report.already_finished += 1  # finished by an earlier run: report it as it is
        elif saved is not None:
            report.resumed += 1  # the Mediator took it up from the store when it started
        else:
            try:
                handle = mediator.schedule(DEMO_WORKFLOW.name, demo_order(n), job_id=cid)
                report.scheduled += 1
            except JobExistsError:  # another process scheduled it a moment ago
                report.resumed += 1
        final = saved if saved is not None and saved.state.is_final else None
        out.put(_Admitted(cid, handle, time.monotonic(), final))
        _call(on_admitted, cid)
    # --8<-- [end:resume]


def _collect(
    admitted: queue.Queue[_Admitted | None],
    pending: dict[str, _Admitted],
    final: dict[str, Job],
    on_finished: Callable[[Job], Any] | None,
) -> bool:
    """Move what the producer handed over into ``pending``; ``False`` once it is done."""
    while True:
        try:
            item = admitted.get_nowait()
        except queue.Empty:
            return True
        if item is None:
            return False
        if item.final is not None:
            final[item.case_id] = item.final
            _call(on_finished, item.final)
        else:
            pending[item.case_id] = item


_SWEEP_PATIENCE = 64  # unfinished cases in a row after which a sweep stops looking


def _sweep(
    mediator: Mediator,
    pending: dict[str, _Admitted],
    final: dict[str, Job],
    report: DemoReport,
    on_finished: Callable[[Job], Any] | None,
) -> None:
    """Record the pending cases that have ended, oldest first.

    Cases end roughly in the order they were admitted, so the sweep stops after a run of
    unfinished ones: its cost follows what finished, not what is pending.
    """
    unfinished_in_a_row = 0
    for cid, item in list(pending.items()):
        job = _ended(mediator, cid, item.handle)
        if job is None:
            unfinished_in_a_row += 1
            if unfinished_in_a_row >= _SWEEP_PATIENCE:
                return
            continue
        unfinished_in_a_row = 0
        del pending[cid]
        final[cid] = job
        report.latencies.append(time.monotonic() - item.since)
        _call(on_finished, job)


def _ended(mediator: Mediator, cid: str, handle: JobHandle | None) -> Job | None:
    """The case's final snapshot if it has ended, else ``None``."""
    if handle is not None:
        try:
            return handle.result(timeout=0)
        except TimeoutError:
            return None
    saved = mediator.store.get(cid)
    return saved if saved is not None and saved.state.is_final else None


def _call(hook: Callable[..., Any] | None, *args: Any) -> None:
    if hook is not None:
        hook(*args)
