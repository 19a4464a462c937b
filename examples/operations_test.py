from operations import main


def test_a_faulted_order_is_found_retried_and_answered_by_hand() -> None:
    seen = main()
    assert seen["faulted"] == ["order-1"]
    assert (seen["retry"], seen["event"]) == ("retried", "delivered")
    assert seen["data"]["charged"].endswith(":charge:2")  # a new attempt, a new key
    assert seen["data"]["dispatched"] == {"carrier": "DHL"}
    assert seen["actions"][0] == "retry: waits for its retried branches"
