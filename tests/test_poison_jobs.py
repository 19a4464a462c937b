"""A job that kills every runner it is given ends FAULTED after a few deaths in a row.

A runner that dies is restarted and its job resumes from its last save. When the job is
what kills runners, that would go on for ever; the third death in a row at the same
step faults the job instead, naming what the runners died of, and the other cases run.
"""

import threading

from bounds import TIMEOUT

from actors import JobState, Mediator, Sequential, Workflow
from actors._job import JobRecord
from actors._runner_failures import LIMIT, RunnerFailures, died_of
from actors.stores import MemoryStore


class PoisonStore(MemoryStore):
    """Saving a job marked ``poison`` after its first step fails with an unexpected error.

    ``times``: how many such saves fail (then they work): a transient fault.
    """

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.failed = 0
        self._guard = threading.Lock()

    def save(self, job: JobRecord) -> None:
        if isinstance(job.data, dict) and job.data.get("poison") and job.step == "b":
            with self._guard:
                if self.failed < self.times:
                    self.failed += 1
                    raise RuntimeError("the store cannot take this")
        super().save(job)


def _flow() -> Workflow:
    def note(data: dict) -> None:
        data.setdefault("ran", 0)
        data["ran"] += 1

    return Workflow(
        "three",
        start="a",
        steps=[
            Sequential("a", note, next="b"),
            Sequential("b", note, next="c"),
            Sequential("c", note),
        ],
    )


def test_a_job_that_kills_every_runner_faults_and_the_others_run() -> None:
    store = PoisonStore(times=10**6)
    with Mediator([_flow()], runners=2, store=store) as mediator:
        poison = mediator.schedule("three", {"poison": True})
        others = [mediator.schedule("three", {"n": n}) for n in range(4)]
        job = poison.result(timeout=TIMEOUT)
        assert job.state is JobState.FAULTED
        assert f"{LIMIT} runners in a row died while running it (at step 'b')" in job.error
        assert "RuntimeError: the store cannot take this" in job.error
        assert store.failed == LIMIT  # resumed twice, faulted at the third death
        assert all(h.result(timeout=TIMEOUT).state is JobState.DONE for h in others)
        assert mediator.stats().runners == 2


def test_a_job_whose_runner_died_fewer_times_resumes_and_ends_done() -> None:
    store = PoisonStore(times=LIMIT - 1)
    with Mediator([_flow()], runners=1, store=store) as mediator:
        job = mediator.schedule("three", {"poison": True}).result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert store.failed == LIMIT - 1
    # Each death's run of step b left nothing in the data: it resumed as last saved.
    assert job.data["ran"] == 3


def _job(step: str, attempt: int = 1) -> JobRecord:
    return JobRecord("j", "j", "three", 1, step, {}, attempt=attempt)


def test_deaths_count_in_a_row_at_one_step_and_a_report_starts_them_again() -> None:
    failures = RunnerFailures(limit=3)
    assert failures.died(_job("a"), "E: x") is None
    assert failures.died(_job("b"), "E: x") is None  # the job got further: counted afresh
    assert failures.died(_job("b", attempt=2), "E: x") is None  # a retry is another point
    assert failures.died(_job("b", attempt=2), "E: x") is None
    failures.went_on("j")  # its runner reported on it
    assert not failures.counts
    assert failures.died(_job("b"), "E: x") is None
    assert failures.died(_job("b"), "E: x") is None
    reason = failures.died(_job("b"), "E: x")
    assert reason is not None and "3 runners in a row" in reason and reason.endswith("E: x")
    assert not failures.counts  # forgotten once faulted


def test_what_a_runner_died_of_is_cut_short() -> None:
    assert died_of(ValueError("bad")) == "ValueError: bad"
    long = died_of(RuntimeError("x" * 2000))
    assert len(long) == 500 and long.endswith("...")


def test_the_harness_s_injected_crashes_never_fault_a_job() -> None:
    # A crash the test injects is the test's doing, not the job's: four in a row at the
    # same step leave the job to resume and end DONE, as any number of them always did.
    from actors.testing import Harness

    with Harness([_flow()], seed=1, runners=1) as h:
        sub = h.schedule("three", {})
        for crashed in range(1, LIMIT + 2):
            h.crash_runner(0)
            while sum(e.action == "crash" for e in h.trace) < crashed:
                assert h.step(), "the harness went quiet before the runner crashed"
        job = sub.result()
    assert job.state is JobState.DONE
    assert [e.action for e in h.trace].count("crash") == LIMIT + 1
