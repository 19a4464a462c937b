"""commit="group": a cancel's mark is stored after the slices the writer holds.

A runner that leaves a job (saved to resume as a non-draining shutdown began, say)
hands its slice to the writer before it sees a stop. A cancel marks the job in the
store at once; stored before that slice, the mark was cleared by the slice's save of
the record as the runner left it, and the next start ran the cancelled case on.
"""

import threading

from bounds import TIMEOUT
from group_support import ON_GROUP_STORES, Callbacks, plugged, rec, saving, submit

pytestmark = ON_GROUP_STORES


def test_a_cancel_mark_outlasts_a_slice_handed_over_before_it(group):
    job = rec("j1")
    group.create(job)
    calls = Callbacks()
    went = threading.Event()  # the mark waits on the writer, or is written
    writer = group._writer
    store_slice = writer.store

    def store(part):
        went.set()
        store_slice(part)

    writer.store = store

    def mark():
        group.mark_cancel("j1", "cancelled")
        went.set()

    marker = threading.Thread(target=mark)
    with plugged(group):
        submit(group, calls("runner"), saving(job, step="b"))  # made before the stop
        marker.start()
        assert went.wait(TIMEOUT), "the mark neither waited on the writer nor was written"
    marker.join(TIMEOUT)
    assert not marker.is_alive(), "the mark never returned"
    assert calls.wait(1)[0][1] is None
    stored = group.load("j1")
    assert stored is not None and stored.step == "b"
    assert stored.cancel_requested, "the slice's save cleared the cancel's mark"
