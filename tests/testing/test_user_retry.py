"""A user's bug: a task that is not idempotent across its retries.

The task charges the card through a payment service that deduplicates on the key it is
given, then calls a receipt service that may be busy; its step is retried on that error.
Keyed on ``ctx.idempotency_key``, which names the attempt, the retry charges again. The
harness finds it with the user's own fake service failing once, and its trace says why
the step ran again: the failure the retry answers, its attempt and when it runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import Retry, Sequential, StepContext, Workflow
from actors.testing import Harness


class BusyError(Exception):
    """The receipt service is busy (the user's retryable error)."""


def _flow(charges: list[str], busy: list[int], *, backoff: float, keyed: bool) -> Workflow:
    def charge(data: dict[str, Any], ctx: StepContext) -> None:
        # The payment service charges once per key. ctx.idempotency_key is one attempt's
        # key; the job and the step name the charge across the step's attempts.
        key = f"{ctx.job_id}:{ctx.step}" if keyed else ctx.idempotency_key
        if key not in charges:
            charges.append(key)  # the card is charged before the receipt is asked for
        if busy[0] > 0:
            busy[0] -= 1
            raise BusyError("receipt service busy")

    return Workflow(
        "pay",
        [
            Sequential(
                "charge",
                charge,
                next="ship",
                retry=Retry(attempts=3, backoff=backoff, on=(BusyError,)),
            ),
            Sequential("ship", lambda d: {**d, "shipped": True}),
        ],
        "charge",
    )


def _charge_once(fails: int, seed: int, backoff: float, *, keyed: bool = False) -> None:
    charges: list[str] = []
    with Harness([_flow(charges, [fails], backoff=backoff, keyed=keyed)], seed=seed) as h:
        h.schedule("pay", {}, job_id="o1")
        h.finish()
        assert len(charges) == 1, charges  # inside the block: the report has the trace


@pytest.mark.parametrize(
    ("backoff", "said"),
    [
        (
            5,
            "JobParked     o1     at 'charge': retry, attempt 2 at t=5.0 "
            "(step 'charge': BusyError: receipt service busy (attempt 1))",
        ),
        (0, "ran 'charge', 'charge' (attempt 2), 'ship'"),
    ],
)
def test_a_charge_repeated_by_a_retry_is_found_and_the_trace_says_why(
    backoff: float, said: str
) -> None:
    found = []

    @settings(max_examples=50, deadline=None, database=None, derandomize=True)
    @given(fails=st.integers(0, 2), seed=st.integers(0, 2**16))
    def search(fails: int, seed: int) -> None:
        try:
            _charge_once(fails, seed, backoff)
        except AssertionError as exc:
            found.append("\n".join([str(exc), *getattr(exc, "__notes__", ())]))
            raise

    with pytest.raises(AssertionError):
        search()
    report = found[-1]  # the shrunk example's: one failure, so two charges
    assert said in report, report
    assert "(attempt 3)" not in report


@pytest.mark.parametrize("backoff", [0, 5])
def test_the_charge_keyed_on_the_job_and_step_passes_every_retry(backoff: float) -> None:
    for seed in range(20):
        for fails in range(3):
            _charge_once(fails, seed, backoff, keyed=True)
