"""``enqueue`` and ``enqueue_many`` name the argument that is not what they take.

A workflow's name (as ``Mediator.schedule`` and ``actors enqueue`` take it), a list of
workflows, a ``Path`` to a SQLite file and the two arguments swapped each ended in an
``AttributeError`` about ``name`` or ``max_version`` that named neither argument.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors import Sequential, Workflow, enqueue, enqueue_many

FLOW = Workflow("order", [Sequential("validate", lambda data: None)], start="validate")


@pytest.mark.parametrize("write", [enqueue, enqueue_many])
@pytest.mark.parametrize(
    ("store", "workflow", "said"),
    [
        ("URL", "order", "workflow must be a Workflow, got str 'order'; pass the Workflow object"),
        ("URL", [FLOW], "workflow must be a Workflow, got list [Workflow('order'"),
        ("PATH", FLOW, "store must be a Store or a store URL such as 'sqlite:///jobs.db', got "),
        (FLOW, "URL", "the store comes first, then the Workflow"),
    ],
)
def test_a_wrong_store_or_workflow_is_named_and_nothing_is_written(
    tmp_path: Path, write: Any, store: Any, workflow: Any, said: str
) -> None:
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    store = {"URL": url, "PATH": path}.get(store, store) if isinstance(store, str) else store
    workflow = url if workflow == "URL" else workflow
    data: Any = {"order_id": 7} if write is enqueue else [{"order_id": 7}]
    with pytest.raises(TypeError) as refused:
        write(store, workflow, data)
    assert str(refused.value).startswith(f"{write.__name__}(store, workflow, ...): ")
    assert said in str(refused.value)
    assert not path.exists()  # refused before any store was opened
