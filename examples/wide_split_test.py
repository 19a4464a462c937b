from actors.stores import open_store
from wide_split import main


def test_a_wide_split_joins_every_branch_once(tmp_path) -> None:
    path = tmp_path / "pricing.db"
    out = main(branches=300, path=str(path))
    job = out["job"]
    assert job.data["priced"] == 300
    assert job.data["total"] == sum((n % 5 + 1) * 3 for n in range(300))
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.counts()[job.state] == 301  # the case and each of its branches
    finally:
        store.close()
