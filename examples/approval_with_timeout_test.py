from actors import EventOutcome
from approval_with_timeout import main


def test_slow_approval_escalates_and_its_late_answer_is_ignored() -> None:
    jobs, late = main()
    outcomes = {j.data["amount"]: j.data["outcome"] for j in jobs}
    assert outcomes == {120: "settled", 800: "settled", 2500: "escalated to finance"}
    assert "approved" not in jobs[2].data
    assert late == [EventOutcome.LATE]
