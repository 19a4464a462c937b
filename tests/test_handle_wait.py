"""``JobHandle.wait()``: awaiting a case from asyncio without blocking the loop or a thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import (
    EngineStoppedError,
    EventOutcome,
    JobState,
    Mediator,
    RequestReaction,
    Sequential,
    StepContext,
    Workflow,
)


def _ask(data: dict[str, Any], ctx: StepContext) -> None:
    pass


def _record(data: dict[str, Any], reply: Any) -> None:
    data["reply"] = reply


APPROVAL = Workflow(
    "approval",
    start="ask",
    steps=[
        RequestReaction("ask", send=_ask, on_reply=_record, next="done", timeout=3600),
        Sequential("done", lambda data: None),
    ],
)
QUICK = Workflow("quick", start="go", steps=[Sequential("go", lambda data: None)])


def _parked(mediator: Mediator, job_id: str) -> bool:
    return mediator.get_job(job_id).state is JobState.WAITING


async def _until(check: Any) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not check():
            await asyncio.sleep(0.01)


def test_many_waits_hold_no_thread_and_let_the_loop_deliver_their_events() -> None:
    # More waiters than asyncio's default executor has threads (6 on two cores): waits
    # made with asyncio.to_thread(handle.result) held them all, and the events that end
    # the cases, delivered through that executor too, queued behind them until timeout.
    waiters = 40
    with Mediator([APPROVAL], store="memory://") as mediator:
        handles = [mediator.schedule("approval", {}, job_id=f"a{i}") for i in range(waiters)]

        async def main() -> list[Any]:
            await _until(lambda: all(_parked(mediator, h.job_id) for h in handles))
            threads = threading.active_count()
            waits = [asyncio.create_task(h.wait(timeout=TIMEOUT)) for h in handles]
            await asyncio.sleep(0)  # every wait has started
            assert threading.active_count() == threads  # no thread per waiter
            outcomes = [
                await asyncio.to_thread(mediator.receive_event, f"{h.job_id}/ask", i)
                for i, h in enumerate(handles)
            ]
            assert set(outcomes) == {EventOutcome.DELIVERED}
            return await asyncio.gather(*waits)

        jobs = asyncio.run(main())
    assert [(j.state, j.data["reply"]) for j in jobs] == [
        (JobState.DONE, i) for i in range(waiters)
    ]


def test_wait_times_out_with_the_job_named_and_a_cancelled_wait_leaves_the_case_alone() -> None:
    with Mediator([APPROVAL], store="memory://") as mediator:
        handle = mediator.schedule("approval", {}, job_id="slow")

        async def main() -> Any:
            with pytest.raises(
                TimeoutError, match=r"job slow \(approval\) did not finish within 0.05s"
            ):
                await handle.wait(timeout=0.05)
            waiting = asyncio.create_task(handle.wait())
            await asyncio.sleep(0)
            assert len(handle._wakers) == 1
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert handle._wakers == ()  # nothing left behind to wake
            await _until(lambda: _parked(mediator, "slow"))
            await asyncio.to_thread(mediator.receive_event, "slow/ask", "yes")
            return await handle.wait(timeout=TIMEOUT)

        job = asyncio.run(main())
    assert (job.state, job.data["reply"]) == (JobState.DONE, "yes")


def test_wait_on_an_ended_case_answers_at_once_and_quick_cases_never_miss_their_end() -> None:
    with Mediator([QUICK], store="memory://") as mediator:

        async def main() -> list[Any]:
            # Scheduled and awaited at once, the case often ends while wait() begins.
            handles = [mediator.schedule("quick") for _ in range(300)]
            jobs = [await h.wait(timeout=TIMEOUT) for h in handles]
            again = await handles[0].wait(timeout=0)
            assert again == jobs[0]  # a copy of its own: equal, not the same
            return jobs

        jobs = asyncio.run(main())
    assert {j.state for j in jobs} == {JobState.DONE}


def test_wait_raises_engine_stopped_when_the_mediator_stops_first() -> None:
    mediator = Mediator([APPROVAL], store="memory://")
    handle = mediator.schedule("approval", {}, job_id="parked")

    async def main() -> None:
        waiting = asyncio.create_task(handle.wait(timeout=TIMEOUT))
        await _until(lambda: _parked(mediator, "parked"))
        assert await asyncio.to_thread(mediator.shutdown, timeout=TIMEOUT)
        with pytest.raises(EngineStoppedError):
            await waiting

    asyncio.run(main())


def test_wait_from_a_task_of_its_own_case_is_refused() -> None:
    seen: list[BaseException] = []
    handles: dict[str, Any] = {}
    ready = threading.Event()

    def itself(data: dict[str, Any]) -> None:
        ready.wait(TIMEOUT)
        try:
            asyncio.run(handles["self"].wait(timeout=TIMEOUT))
        except RuntimeError as error:
            seen.append(error)

    flow = Workflow("self", start="go", steps=[Sequential("go", itself)])
    with Mediator([flow], store="memory://") as mediator:
        handles["self"] = mediator.schedule("self", job_id="me")
        ready.set()
        assert handles["self"].result(timeout=TIMEOUT).state is JobState.DONE
    assert len(seen) == 1
    assert "JobHandle.wait() of the unfinished case 'me' was called from a task" in str(seen[0])


def test_wait_under_the_harness_drives_the_run_as_result_does() -> None:
    # The harness runs only while a blocking call drives it: a wait() that only
    # awaited a wake-up waited for ever, nothing running the case.
    from actors.testing import Harness

    with Harness([QUICK], seed=1) as h:
        submission = h.schedule("quick", {})
        assert submission.handle is not None

        async def main() -> Any:
            return await asyncio.wait_for(submission.handle.wait(), TIMEOUT)

        assert asyncio.run(main()).state is JobState.DONE


def test_a_case_taken_over_by_another_worker_fails_its_wait_with_lease_lost() -> None:
    from actors import LeaseLostError
    from actors._handle import CaseHandles, JobHandle
    from actors._runtime import LatchFuture

    handles = CaseHandles()
    handle = JobHandle("c1", "quick", LatchFuture())
    assert handles.watch("c1", handle)
    lost = LeaseLostError("c1", "c1", "w2")

    async def main() -> None:
        waiting = asyncio.create_task(handle.wait(timeout=TIMEOUT))
        await asyncio.sleep(0)  # the wait has begun
        # As the Scheduler does, from its own thread, when the worker lost the case.
        failed = threading.Thread(target=handles.fail_case, args=("c1", lost))
        failed.start()
        with pytest.raises(LeaseLostError, match="leased to worker 'w2'"):
            await waiting
        failed.join(TIMEOUT)

    asyncio.run(main())


@pytest.mark.parametrize("timeout", [float("inf"), 1e10])
def test_result_with_an_unbounded_timeout_waits_for_the_end(timeout: float) -> None:
    """Infinity, or more than a lock can wait (292 years), raised OverflowError at once."""
    release = threading.Event()
    held = Workflow("held", start="go", steps=[Sequential("go", lambda data: release.wait())])
    answers: list[Any] = []
    with Mediator([held], store="memory://") as mediator:
        handle = mediator.schedule("held", {})

        def wait() -> None:
            try:
                answers.append(handle.result(timeout=timeout).state)
            except BaseException as exc:
                answers.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        waiter.join(0.2)  # it waits, or it has failed
        release.set()
        waiter.join(TIMEOUT)
    assert answers == [JobState.DONE]


@pytest.mark.parametrize(
    ("timeout", "error", "says"),
    [
        ("5", TypeError, "timeout must be a number of seconds or None, got str '5'"),
        (True, TypeError, "timeout must be a number of seconds or None, got bool True"),
        (float("nan"), ValueError, "timeout must be a number of seconds or None, got nan"),
    ],
)
def test_result_and_wait_refuse_a_timeout_that_is_no_number_of_seconds(
    timeout: Any, error: type[Exception], says: str
) -> None:
    """A timeout that bounds no wait is refused, naming the call.

    A str (read from the environment, say) raised pykka's "'>=' not supported between
    instances of 'str' and 'float'"; a NaN timed result() out at once, and made wait()
    wait for ever; True waited a second.
    """
    with Mediator([APPROVAL], store="memory://") as mediator:
        handle = mediator.schedule("approval", {})
        with pytest.raises(error, match=f"^JobHandle.result\\(\\) {says}"):
            handle.result(timeout=timeout)

        async def main() -> None:
            with pytest.raises(error, match=f"^JobHandle.wait\\(\\) {says}"):
                await asyncio.wait_for(handle.wait(timeout=timeout), TIMEOUT)

        asyncio.run(main())
        assert mediator.cancel(handle.job_id) is not None


def test_a_negative_timeout_is_no_wait_and_a_huge_one_no_bound() -> None:
    """``deadline - time.monotonic()`` may come out below zero: a timeout, not an error."""
    with Mediator([APPROVAL], store="memory://") as mediator:
        handle = mediator.schedule("approval", {})
        with pytest.raises(TimeoutError, match="did not finish within -1s"):
            handle.result(timeout=-1)

        async def main() -> None:
            with pytest.raises(TimeoutError, match=r"did not finish within -0\.5s"):
                await handle.wait(timeout=-0.5)

        asyncio.run(main())
        mediator.cancel(handle.job_id)
        assert handle.result(timeout=1e12).state is JobState.CANCELLED
