"""A worker that stopped cleanly is no longer shown as a live worker.

Its shutdown releases its cases; its row in ``workers`` kept the lease its last renewal
wrote, so ``actors status`` (``Admin.workers()``) listed it as ``live`` for up to its
lease (15 s by default, up to an hour) after it had stopped: in a rolling restart the
operator could not tell a stopped worker from a running one.
"""

from __future__ import annotations

from typing import Any

from bounds import TIMEOUT

from actors import JobState, Mediator, Sequential, Wait, Workflow
from actors.admin import Admin
from actors.stores import open_store


def _noop(data: dict[str, Any]) -> None:
    data["ran"] = True


FLOW = Workflow(
    "nap",
    start="a",
    steps=[Sequential("a", _noop, next="nap"), Wait("nap", 3600, next="b"), Sequential("b", _noop)],
)


def test_a_worker_stopped_cleanly_is_not_listed_live(make_sql_store: Any) -> None:
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    stays = Mediator([FLOW], store=open_store(url), owner="stays", lease_seconds=60.0)
    try:
        with Mediator([FLOW], store=open_store(url), owner="stops", lease_seconds=60.0) as m:
            handle = m.schedule("nap", {}, job_id="c1")
            with Admin(url) as admin:
                assert {w.owner for w in admin.workers().items} == {"stays", "stops"}
        with Admin(url) as admin:
            workers = admin.workers()
            assert [(w.owner, w.live) for w in workers.items] == [("stays", True)]
            assert (workers.total, workers.live) == (1, 1)
            # The case it released waits for the next poll of another worker, not for it.
            job = admin.job("c1")
            assert job.state is JobState.WAITING
        del handle
    finally:
        stays.shutdown(timeout=TIMEOUT)
