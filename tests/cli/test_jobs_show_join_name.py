"""``jobs show --tree`` names a split's join before any branch arrives, given the workflow.

The stored row learns its join step from the first branch to arrive; until then the
tree showed ``join -``, though the workflow given by ``--workflows`` names it.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from click.testing import CliRunner
from records import record, saved_split

from actors._cli import main
from actors.stores import open_store

MODULE = """
from actors import ParallelSplit, Sequential, Synchronize, Workflow

QUOTES = Workflow(
    "quotes",
    [
        ParallelSplit("fan", branches=["b0", "b1"]),
        Sequential("b0", lambda data: None, next="collect"),
        Sequential("b1", lambda data: None, next="collect"),
        Synchronize("collect", next="done"),
        Sequential("done", lambda data: None),
    ],
    start="fan",
)
"""


def _store(workdir: Path) -> tuple[str, str]:
    """A case of ``quotes`` waiting on its split, no branch arrived: (store URL, root id)."""
    (workdir / "wfmod_quotes.py").write_text(MODULE, encoding="utf-8")
    url = f"sqlite:///{workdir / 'jobs.db'}"
    store = open_store(url)
    try:
        parent, _ = saved_split(store, 2, build=partial(record, workflow="quotes", step="fan"))
    finally:
        store.close()
    return url, parent.id


def _split_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if "split 'fan' ->" in line]
    return line


def test_the_tree_names_the_join_from_the_workflow_before_a_branch_arrives(
    runner: CliRunner, workdir: Path
) -> None:
    url, root = _store(workdir)
    shown = ["jobs", "show", root, "--store", url, "--tree"]
    alone = runner.invoke(main, shown, env={"COLUMNS": "200"})
    assert alone.exit_code == 0, alone.output
    assert "-> join -:" in _split_line(alone.output)  # no definition: not known yet
    given = runner.invoke(main, [*shown, "--workflows", "wfmod_quotes"], env={"COLUMNS": "200"})
    assert given.exit_code == 0, given.output
    line = _split_line(given.output)
    assert "split 'fan' -> join collect: arrived [], waiting for [0, 1]" in line, line
    as_json = runner.invoke(main, [*shown, "--workflows", "wfmod_quotes", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["tree"]["root"]["split"]["join_step"] == "collect"
