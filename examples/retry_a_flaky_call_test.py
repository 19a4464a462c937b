from actors import JobState
from actors.testing import Harness
from retry_a_flaky_call import COURIER, SHIPMENT, main


def test_each_failed_try_is_in_the_history_and_the_job_ends_done() -> None:
    COURIER.reset(busy=2)
    data, steps = main()
    assert data == {"parcel": 7, "booking": "booking-7", "label": "label for booking-7"}
    assert steps == [
        ("book", 1, "step 'book': ConnectionError: courier busy, call 1 (attempt 1)"),
        ("book", 2, "step 'book': ConnectionError: courier busy, call 2 (attempt 2)"),
        ("book", 3, None),
        ("label", 1, None),
    ]


def test_a_courier_busy_three_times_faults_the_shipment_with_its_last_failure() -> None:
    COURIER.reset(busy=3)
    with Harness([SHIPMENT], seed=1) as h:
        case = h.schedule("shipment", {"parcel": 8})
        h.finish()
    job = case.result()
    assert job.state is JobState.FAULTED
    assert job.error == "step 'book': ConnectionError: courier busy, call 3 (attempt 3)"
