"""Which runs of the crash tests repeat a step that a stored save had shown done.

The crash tests record every run of a step outside the engine (job, step, time, and the
process that ran it) and read every job's step history afterwards. A history row is a
save that was stored (a save lost with its worker left no row). A row at step S shows
every step before S done (and S itself, once the job is DONE). A run of a step that such
a row, saved before the run, shows done resumed from somewhere before the last stored
save: the engine's most serious defect.

With one exception, which the guarantees name ("One worker per case"): the step a worker
was inside when another worker took its case over (it stalled past its lease, as a
loaded machine can make it) runs there to its end, and a task may reach its effect only
after the new holder has run that step and stored its save. Such a run is recognised by
the store's data, not by timing: a claim took the case from the run's worker before the
run, the run is that worker's last of the job (it starts no further step of a case it
lost), and no save of the job by that worker was stored after the claim (its saves are
fenced). Anything else, a run by the new holder, a second run by the old one, a run by
a worker that went on saving, is still a rerun.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from actors import JobState
from actors.stores._admin_types import TAKEOVER, HistoryRow

__all__ = ["Run", "in_flight_at_claim", "stored_step_reruns"]

# One run of a step: (job id, step, attempt, time it began, pid of the worker that ran it).
Run = tuple[str, str, int, float, int]


def in_flight_at_claim(
    runs: Sequence[Run],
    histories: Mapping[str, list[HistoryRow]],
    case_of: Mapping[str, str],
    order: Mapping[str, float],
) -> set[Run]:
    """The runs that may be the step a worker was inside when a claim took its case.

    Each is its worker's last run of the job, after a claim took the case from that
    worker, of a step that worker's own stored saves do not show done, and no save of
    the job by that worker was stored after the claim.
    """
    # (time, worker) of every claim that took a case from that worker, by case.
    taken: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for case in set(case_of.values()):
        for row in histories.get(case, []):
            if row.action is not None and row.action.startswith(TAKEOVER):
                taken[case].append((row.at, row.action[len(TAKEOVER) :].split(" (")[0]))
    last: dict[tuple[str, int], Run] = {}
    for run in runs:
        last[run[0], run[4]] = run
    out: set[Run] = set()
    for (job_id, pid), run in last.items():
        mine = f":{pid}:"  # a worker's name is host:pid:random (see _engine._default_owner)
        claims = [when for when, old in taken[case_of[job_id]] if mine in old and when < run[3]]
        if not claims:
            continue
        first = min(claims)
        saves = histories.get(job_id, [])
        own = [r for r in saves if r.action is None and mine in (r.worker or "")]
        if any(r.at > first for r in own):
            continue  # it saved the job after the claim: not fenced, so not a stale copy
        if not any(_shows_done(r, run[1], order) for r in own):
            out.add(run)
    return out


def _shows_done(row: HistoryRow, step: str, order: Mapping[str, float]) -> bool:
    """Whether save ``row`` shows ``step`` done.

    A save at step S shows every step before S done, and S itself once the job is DONE.
    """
    rank = order[row.step] if row.step is not None else max(order.values())
    return order[step] <= rank if row.state == JobState.DONE.value else order[step] < rank


def stored_step_reruns(
    runs: Sequence[Run],
    histories: Mapping[str, list[HistoryRow]],
    case_of: Mapping[str, str],
    order: Mapping[str, float],
) -> list[tuple[Run, HistoryRow]]:
    """Each run of a step a stored save showed done before it, with that save.

    ``runs`` in time order; ``histories``: each job's and each case root's rows, oldest
    first; ``case_of``: each job's case; ``order``: each step's rank along the path (a
    row whose step is ``None`` is at the last step). The steps in flight at a claim
    (``in_flight_at_claim``) are left out.
    """
    excused = in_flight_at_claim(runs, histories, case_of, order)
    out: list[tuple[Run, HistoryRow]] = []
    for run in runs:
        job_id, step, _, at, _ = run
        for row in histories.get(job_id, []):
            if row.at >= at:
                break
            if row.action is None and _shows_done(row, step, order) and run not in excused:
                out.append((run, row))
                break
    return out
