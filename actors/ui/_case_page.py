"""What a case's page shows, read in the same few queries however many jobs the case has.

The case's jobs (one query), the data of the first ``SHOWN_JOBS`` of them (one), the
admin API's view of those (one), and the step history of the first ``HISTORY_JOBS``
(one), of which the most recent ``HISTORY_ENTRIES`` entries are drawn: a split of
thousands of branches costs the page what a case of a few jobs does, bar the rows.
"""

from __future__ import annotations

from typing import Any

from actors._workflow import Workflow
from actors.admin import Admin
from actors.ui._graph import marked_mermaid, step_mark
from actors.ui._reads import JobRow, Reader

__all__ = ["HISTORY_ENTRIES", "HISTORY_JOBS", "SHOWN_JOBS", "case_facts"]

SHOWN_JOBS = 200  # jobs of one case listed on its page
HISTORY_JOBS = 50  # jobs of one case whose history its timeline shows
# Entries of the timeline drawn, the most recent: a job that loops keeps a row per save,
# and 20,000 of them made a 6.7 MB page that took 0.8 s at each refresh.
HISTORY_ENTRIES = 1_000


def case_facts(
    reader: Reader, admin: Admin, workflows: dict[tuple[str, int], Workflow], case_id: str
) -> dict[str, Any] | None:
    """What the page of case ``case_id`` shows (``None``: no such case in the store)."""
    jobs = reader.case(case_id, with_data=SHOWN_JOBS)
    if not jobs:
        return None
    root = jobs[0]
    marks: dict[str, dict[str, int]] = {}
    for job in jobs:
        if job.step is not None and not (job.split_total and job.state == "waiting"):
            marks.setdefault(job.step, {})
            marks[job.step][job.state] = marks[job.step].get(job.state, 0) + 1
    workflow = workflows.get((root.workflow, root.version))
    graph = None
    if workflow is not None:
        graph = marked_mermaid(
            workflow,
            {step: mark for step, states in marks.items() if (mark := step_mark(states))},
        )
    # The shown jobs only: a wide split's whole tree takes seconds to read. A wide split
    # has many branches: the page lists the first of them, and shows the history of fewer.
    shown = jobs[:SHOWN_JOBS]
    infos = admin.job_infos(job.id for job in shown)
    if len(infos) < len(shown):  # pruned between the two reads
        return None
    histories = admin.histories(job.id for job in jobs[:HISTORY_JOBS])
    timeline = sorted(
        ((job_id, entry) for job_id, entries in histories.items() for entry in entries),
        key=lambda item: (item[1].started or item[1].ended, item[1].ended),
    )
    entries_all = len(timeline)
    start = min((e.started or e.ended for _, e in timeline), default=0.0)  # of the case
    timeline = timeline[-HISTORY_ENTRIES:]
    return {
        "case_id": case_id,
        "root": root,
        "jobs": shown,
        "more_jobs": max(0, len(jobs) - SHOWN_JOBS),
        "history_jobs": min(len(jobs), HISTORY_JOBS),
        "all_jobs": len(jobs),
        "graph": graph,
        "timeline": timeline,
        "timeline_all": entries_all,
        "start": start,
        "infos": infos,
        "correlation_ids": [c for info in infos.values() for c in info.correlation_ids],
        "labels": _labels(jobs),
        "branches_live": _branches_live(jobs),
        "final": root.is_final and all(job.is_final for job in jobs),
        # Asked of a worker while a step runs: not a failure, and no retry is due.
        "cancel_requested": any(job.cancel_requested and not job.is_final for job in jobs),
    }


def _branches_live(jobs: list[JobRow]) -> dict[str, int]:
    """For each job that split, how many branches of its current split have not ended.

    Counted from the branches' own rows: the parent's stored ``split_live`` is the
    Scheduler's bookkeeping, saved before its branches were counted, and reads 0 while
    they run.
    """
    gens = {job.id: job.gen for job in jobs if job.split_total}
    live = dict.fromkeys(gens, 0)
    for job in jobs:
        parent = job.parent_id
        if (
            parent is not None
            and parent in gens
            and not job.is_final
            and job.parent_gen == gens[parent]
        ):
            live[parent] += 1
    return live


def _labels(jobs: list[JobRow]) -> dict[str, str]:
    """Each job's name on the page: ``case``, or its branch path (``branch 2.1.3``).

    A nested split's branches share their indexes ("branch 3" under each parent): the
    path of indexes from the case tells them apart. A job whose parent is not among
    ``jobs`` (pruned) is named by its own index.
    """
    by_id = {job.id: job for job in jobs}
    paths: dict[str, str] = {}
    for job in jobs:
        # Up to the first ancestor named already (or the root), with a list, not
        # recursion: a case nests as deep as its splits.
        chain: list[JobRow] = []
        at: JobRow | None = job
        while at is not None and at.id not in paths and at.parent_id is not None:
            chain.append(at)
            at = by_id.get(at.parent_id)
        above = paths.get(at.id, "") if at is not None else ""
        for link in reversed(chain):
            above = f"{above}.{link.branch_index}" if above else str(link.branch_index)
            paths[link.id] = above
    return {job.id: f"branch {paths[job.id]}" if job.id in paths else "case" for job in jobs}
