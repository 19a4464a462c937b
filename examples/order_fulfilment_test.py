from actors import JobState
from order_fulfilment import main


def test_order_fulfilment_example_runs() -> None:
    jobs = main(orders=5)
    assert [j.state for j in jobs] == [JobState.DONE] * 5
    first = jobs[0].data
    assert first["status"] == "confirmed"
    assert first["payment"]["charged"] == 17
    assert first["shipping"] == {"carrier": "parcel-post", "parcels": 2}
    assert first["notification"] == "order 0 is on its way"
