"""The ids the engine makes: unique, and not to be told before they are made.

Branch ids are shown to operators and sent to outside services in correlation ids. They
were a prefix and a counter, so whoever saw one could admit a case under the id of a
branch not yet made, and the split then saved its branch over that case (its data and
end gone, on every store; a case could even take its own root's id). The ids now end
with a random tag.
"""

from __future__ import annotations

import re
import threading

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors._engine import _unique_ids

fan = Workflow("fan", start="split", steps=[
    ParallelSplit("split", branches=["a", "b"]),
    Sequential("a", lambda d: None, next="join"),
    Sequential("b", lambda d: None, next="join"),
    Synchronize("join"),
])  # fmt: skip


def test_ids_from_many_threads_are_unique_across_blocks_of_tags():
    new_id = _unique_ids()
    made: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(new_id() for _ in range(10_000))  # past several blocks of tags

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job_id for out in made for job_id in out]
    assert len(set(every)) == 40_000
    assert all(re.fullmatch(r"[0-9a-f]{17,}", job_id) for job_id in every)


def test_a_case_admitted_under_the_ids_a_branch_would_take_is_left_alone():
    """What an operator sees of the ids tells nothing of the next ones."""
    with Mediator([fan]) as mediator:
        first = mediator.schedule("fan", {}, job_id="first").result(timeout=10)
        assert first.state is JobState.DONE
        seen = [j.record.id for j in mediator.store.case_jobs("first") if j.record.parent_id]
        # The next ids, as a counter at the end of the ids seen would make them.
        last = max(seen, key=lambda job_id: int(job_id, 16))
        guesses = [f"{int(last, 16) + n:x}" for n in range(1, 200)]
        for guess in guesses:
            mediator.schedule("fan", {"victim": guess}, job_id=guess).result(timeout=10)
        second = mediator.schedule("fan", {}, job_id="second").result(timeout=10)
        assert second.state is JobState.DONE
        for guess in guesses:
            victim = mediator.get_job(guess)
            assert victim.parent_id is None and victim.data == {"victim": guess}, victim
            assert victim.step == "join"
