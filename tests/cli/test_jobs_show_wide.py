"""``jobs show --tree`` of a wide split draws a bounded tree, its faulted branch in it.

Drawing every branch of a split of 100,000 took 50 s and 450 MiB, and its join's line
listed every index that had arrived. The tree draws 100 branches of a job (those not
DONE first), says how many more there are by state, and names runs of indexes as ranges.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from records import saved_split

from actors import JobState
from actors._cli import main
from actors._cli_job_show import SHOWN_BRANCHES
from actors.stores import open_store

WIDTH = 250
FAULTED = 180


def test_a_wide_split_draws_its_first_branches_and_every_one_not_done(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'wide.db'}"
    store = open_store(url)
    parent, branches = saved_split(store, WIDTH)
    for branch in branches:
        branch.state = JobState.FAULTED if branch.branch_index == FAULTED else JobState.DONE
        store.save(branch)
    store.close()

    shown = CliRunner().invoke(
        main, ["jobs", "show", parent.id, "--store", url, "--tree"], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    drawn = [line for line in lines if ", branch " in line]
    assert len(drawn) == SHOWN_BRANCHES
    assert any(f"{parent.id}.{FAULTED}, branch {FAULTED}, faulted" in line for line in drawn)
    assert any(f"{parent.id}.98, branch 98, done" in line for line in drawn)
    assert not any(f"{parent.id}.99, branch 99," in line for line in drawn)
    left = WIDTH - SHOWN_BRANCHES
    assert f"... {left} more branches not drawn ({left} done); --json gives every job" in (
        shown.output
    )
    assert f"waiting for [0-{WIDTH - 1}]" in shown.output

    every = CliRunner().invoke(
        main, ["jobs", "show", parent.id, "--store", url, "--tree", "--json"]
    )
    tree = json.loads(every.output)["tree"]
    assert len(tree["root"]["children"]) == WIDTH  # --json gives every job
