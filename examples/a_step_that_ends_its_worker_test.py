from a_step_that_ends_its_worker import main
from actors import JobState


def test_the_crashing_record_faults_after_five_worker_deaths_and_the_rest_import(tmp_path):
    out = main(path=str(tmp_path / "jobs.db"))
    # The first death is not counted (that worker had no warning), nor the next (the
    # record ran beside the good ones); three tries alone end with their workers, and
    # the sixth worker faults the job instead of running it.
    assert out["exits"] == [70, 70, 70, 70, 70]
    assert out["last_exit"] == 0  # it lived on, and stopped cleanly on SIGTERM
    jobs = out["jobs"]
    assert jobs["bad"].state is JobState.FAULTED
    assert "the last 4 workers to run it from step 'import'" in jobs["bad"].error
    assert jobs["good-1"].state is JobState.DONE
    assert jobs["good-2"].state is JobState.DONE
