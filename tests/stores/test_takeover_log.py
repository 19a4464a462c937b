"""The worker that takes cases over from a worker whose lease expired says so in its log.

A worker killed outright logs nothing, and one frozen past its lease logs only once it
wakes (``test_lost_cases_log.py``): the claimer's log was silent too, so an operator
reading the workers' logs could not tell that cases had moved, nor why their steps ran
twice. One WARNING per claim now names how many cases it took, a few of them and whose
they were; cases released by a clean stop, or never held, are claimed without a word.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from actors import Sequential, Workflow, enqueue
from actors._leases import taken_summary

LEASE = 10.0
FLOW = Workflow("tick", start="a", steps=[Sequential("a", lambda d: None)])


def _takeovers(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "took over" in r.getMessage()]


def test_a_claim_of_cases_whose_worker_stopped_renewing_logs_one_warning(
    make_sql_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_sql_store()
    ids = [enqueue(store, FLOW, {}, job_id=f"c{n}") for n in range(7)]
    now = time.time()
    with caplog.at_level(logging.DEBUG, logger="actors"):
        assert {job.case_id for job in store.claim("A", now, LEASE, 10)} == set(ids)
        assert _takeovers(caplog) == []  # new cases: nobody held them
        # A dies: nothing renews its lease, and B claims its cases once it has expired.
        taken = store.claim("B", now + 3 * LEASE, LEASE, 10)
    assert {job.case_id for job in taken} == set(ids)
    (line,) = _takeovers(caplog)
    assert line.levelno == logging.WARNING
    text = line.getMessage()
    assert text.startswith("took over 7 case(s) whose worker's lease expired"), text
    assert " and 2 more; from 'A' (7);" in text
    assert "steps whose saves were not stored run again" in text


def test_a_claim_of_released_cases_logs_no_takeover(
    make_sql_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_sql_store()
    enqueue(store, FLOW, {}, job_id="c1")
    now = time.time()
    assert len(store.claim("A", now, LEASE, 10)) == 1
    store.release("A")  # a clean stop
    with caplog.at_level(logging.DEBUG, logger="actors"):
        assert len(store.claim("B", now + 1, LEASE, 10)) == 1
    assert _takeovers(caplog) == []


def test_the_line_names_a_few_cases_and_the_busiest_workers() -> None:
    taken = [(f"case-{n}", f"w{n % 5}") for n in range(1000)]
    text = taken_summary(taken)
    assert text.startswith("took over 1000 case(s) whose worker's lease expired")
    assert "case-0, case-1, case-2, case-3, case-4 and 995 more;" in text
    assert "from 'w0' (200), 'w1' (200), 'w2' (200) and 2 other worker(s);" in text
