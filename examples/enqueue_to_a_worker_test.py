from enqueue_to_a_worker import main


def test_each_enqueued_case_starts_without_waiting_for_the_workers_poll(tmp_path) -> None:
    out = main(path=str(tmp_path / "jobs.db"))
    assert set(out["waits"]) == {"ada", "grace", "edsger"}
    # The worker polls once an hour, and main() waits at most 30 s for each case: a case
    # that ended at all was woken by the worker's watch of the file, not found by a poll.
    assert all(0 <= wait < 3600 for wait in out["waits"].values()), out["waits"]
    assert out["worker_exit"] == 0
