import pytest

from actors.stores import open_store
from bulk_orders import main


@pytest.mark.parametrize(
    ("writer", "group_wait"), [("thread", 0.005), ("thread", 0.0), ("process", 0.005)]
)
def test_bulk_orders_share_transactions_and_every_order_is_stored(
    tmp_path, writer, group_wait
) -> None:
    path = tmp_path / "orders.db"
    out = main(orders=60, batch=25, writer=writer, group_wait=group_wait, path=str(path))
    assert len(out["jobs"]) == 60
    assert {job.data["status"] for job in out["jobs"]} == {"confirmed"}
    # Every order (its reservation, three branches, the join and the confirmation) and
    # every batch of admissions went through the writer; commits were shared.
    assert out["transactions"] < out["slices"]
    store = open_store(f"sqlite:///{path}")
    try:
        for job in out["jobs"]:
            saved = store.get(job.id)
            assert saved is not None
            assert saved.data == job.data
            assert len(store.history(job.id)) >= 4  # admitted, reserved, split, confirmed
    finally:
        store.close()
