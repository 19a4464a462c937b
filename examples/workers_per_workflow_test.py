from workers_per_workflow import main


def test_each_case_is_run_by_the_worker_that_serves_its_workflow(tmp_path) -> None:
    out = main(cases=3, path=str(tmp_path / "jobs.db"))
    assert out["waiting"] == {("invoice", 1): 3, ("refund", 1): 3}
    for case, workflow in out["workflows"].items():
        assert out["ran"][case] == {"invoice": "invoices", "refund": "refunds"}[workflow]
