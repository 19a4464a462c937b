"""What a case's page shows, read in the same few queries however many jobs the case has.

The case's first ``SHOWN_JOBS`` jobs (one query), their data (one), sums over all its
jobs (two: see ``read_case``), the admin API's view of the jobs listed (one), and the
step history of the first ``HISTORY_JOBS`` (one), of which only the most recent
``HISTORY_ENTRIES`` entries are read and drawn: a split of 100,000 branches costs the
page the rows it lists and two sums, not a read of every row, and a job that loops the
entries drawn, not every save it made.
"""

from __future__ import annotations

import math
from typing import Any

from actors._workflow import Workflow
from actors.admin import Admin
from actors.stores._admin_types import unreadable_problem
from actors.ui._case_reads import read_case
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
    case = read_case(reader, case_id, SHOWN_JOBS, SHOWN_JOBS)
    if case is None:
        return None
    jobs = case.jobs
    root = jobs[0]
    marks = case.marks
    workflow = workflows.get((root.workflow, root.version))
    graph = None
    if workflow is not None:
        graph = marked_mermaid(
            workflow,
            {step: mark for step, states in marks.items() if (mark := step_mark(states))},
        )
    # A wide split has many branches: the page lists the first of them, and shows the
    # history of fewer.
    infos = admin.job_infos(job.id for job in jobs)
    if len(infos) < len(jobs):  # pruned between the two reads
        return None
    # Each job's most recent entries hold the case's most recent ones; one more than
    # drawn tells whether a job has more (a job that loops keeps an entry per save, and
    # 400,000 took 12 s to read at each refresh).
    histories = admin.histories((job.id for job in jobs[:HISTORY_JOBS]), last=HISTORY_ENTRIES + 1)
    cut = any(len(entries) > HISTORY_ENTRIES for entries in histories.values())
    timeline = sorted(
        ((job_id, entry) for job_id, entries in histories.items() for entry in entries),
        key=lambda item: (item[1].started or item[1].ended, item[1].ended),
    )
    entries_all = None if cut else len(timeline)  # how many there are, when all were read
    start = min((e.started or e.ended for _, e in timeline), default=0.0)  # of the case
    if isinstance(root.created_at, float) and math.isfinite(root.created_at):
        start = min(start, root.created_at) if timeline else root.created_at
    timeline = timeline[-HISTORY_ENTRIES:]
    return {
        "case_id": case_id,
        "root": root,
        "jobs": jobs,
        "more_jobs": case.total - len(jobs),
        "history_jobs": min(case.total, HISTORY_JOBS),
        "all_jobs": case.total,
        "graph": graph,
        "timeline": timeline,
        "timeline_all": entries_all,
        "start": start,
        "infos": infos,
        "correlation_ids": [c for info in infos.values() for c in info.correlation_ids],
        "labels": _labels(jobs),
        # Rows the admin API reads as FAULTED stand-ins (a column edited by hand into what
        # no save writes), by job id: the page shows their problem, not the raw state.
        "damaged": {
            job_id: problem
            for job_id, info in infos.items()
            if (problem := unreadable_problem(info.state, info.error)) is not None
        },
        "branches_live": case.branches_live,
        "final": case.unfinished == 0,
        # Asked of a worker while a step runs: not a failure, and no retry is due.
        "cancel_requested": case.cancel_requested,
    }


def _labels(jobs: list[JobRow]) -> dict[str, str]:
    """Each job's name on the page: ``case``, or its branch path (``branch 2.1.3``).

    A nested split's branches share their indexes ("branch 3" under each parent): the
    path of indexes from the case tells them apart. A job whose parent is not among
    ``jobs`` (pruned) is named by its own index, and so is the job where a cycle of
    parents closes (damaged rows: a job its own parent, say).
    """
    by_id = {job.id: job for job in jobs}
    paths: dict[str, str] = {}
    for job in jobs:
        # Up to the first ancestor named already (or the root), with a list, not
        # recursion: a case nests as deep as its splits. A job met twice ends the walk,
        # which a cycle of parents would make endless.
        chain: list[JobRow] = []
        met: set[str] = set()
        at: JobRow | None = job
        while at is not None and at.id not in paths and (parent := at.parent_id) is not None:
            if at.id in met:
                at = None
                break
            met.add(at.id)
            chain.append(at)
            at = by_id.get(parent)
        above = paths.get(at.id, "") if at is not None else ""
        for link in reversed(chain):
            above = f"{above}.{link.branch_index}" if above else str(link.branch_index)
            paths[link.id] = above
    return {job.id: f"branch {paths[job.id]}" if job.id in paths else "case" for job in jobs}
