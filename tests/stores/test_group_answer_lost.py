"""commit="group": a group stored whose answer was lost, as when a writer process dies.

The SQLite writer process may die after its commit and before its answer: the worker
hears "not stored" for slices that are in the file. A split parent's slice so reported
was taken back alone, as last saved: waiting on branches this worker never heard of,
it ended its split at once (``join 'join' got 0 of 3 branches: every branch ended
without reaching it``) while its branches waited in the store, held by this worker,
for nobody. It must take those branches too, and the case must end as it would have.
"""

import threading

from bounds import TIMEOUT
from group_support import ON_GROUP_STORES

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    StoreError,
    Synchronize,
    Workflow,
)
from actors.stores import open_store

pytestmark = ON_GROUP_STORES


def _where_groups_are_stored(store):
    """The object and method a group goes through: the writer thread's, or the process's."""
    if getattr(store, "writer", "thread") == "process":
        return store, "_receive_group"
    return store._writer, "_store_group"


def test_a_split_stored_though_reported_not_stored_runs_its_branches(make_sql_store):
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    store = open_store(url, **make_sql_store.group)
    target, name = _where_groups_are_stored(store)
    real = getattr(target, name)
    lost = threading.Event()

    def splits(slices):
        return [
            job
            for part in slices
            for *_, job in part.rows
            if job.state is JobState.WAITING and job.split_total
        ]

    def answer_lost(*args):
        result = real(*args)  # stored
        if not lost.is_set() and splits(args[0]):
            lost.set()
            raise StoreError(f"{store.url}: cannot store a group: the writer's answer was lost")
        return result

    setattr(target, name, answer_lost)
    flow = Workflow(
        "fan",
        start="start",
        steps=[
            Sequential("start", lambda d: {**d, "started": True}, next="split"),
            ParallelSplit("split", branches=["b", "b", "b"]),
            Sequential("b", lambda d: {**d, "b": 1}, next="join"),
            Synchronize(
                "join", merge=lambda p, bs: {**p, "sum": sum(b["b"] for b in bs)}, next="end"
            ),
            Sequential("end", lambda d: {**d, "ended": True}),
        ],
    )
    with Mediator([flow], runners=2, store=store) as mediator:
        job = mediator.schedule("fan", {}).result(timeout=TIMEOUT)
    assert lost.is_set()
    assert (job.state, job.error) == (JobState.DONE, None)
    assert job.data == {"started": True, "sum": 3, "ended": True}
    check = make_sql_store()
    kids = [j for j in check.unfinished() if j.parent_id == job.id]
    assert kids == []  # no branch left waiting for nobody
