from actors import JobState
from actors.testing import Harness
from compensate_a_failed_branch import ORDER, main


def test_the_failed_branch_is_compensated_and_the_case_completes() -> None:
    shipped, refunded = main()
    assert shipped == {"amount": 30, "country": "DE", "charged": 30, "shipped": True,
                       "outcome": "shipped"}  # fmt: skip
    assert refunded == {"amount": 30, "country": "NZ", "charged": 30, "refunded": 30,
                        "ship_error": "no carrier serves NZ", "outcome": "refunded"}  # fmt: skip


def test_under_any_interleaving_the_failed_shipment_is_refunded() -> None:
    for seed in range(20):
        with Harness([ORDER], seed=seed, runners=2) as h:
            h.schedule("order", {"amount": 30, "country": "NZ"})
            [job] = h.finish()
        assert (job.state, job.step) == (JobState.DONE, "confirm")
        assert (job.data["outcome"], job.data["refunded"]) == ("refunded", 30)
        assert "shipped" not in job.data
