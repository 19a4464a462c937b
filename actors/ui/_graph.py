"""A workflow's Mermaid diagram with the steps where jobs sit coloured by their state."""

from __future__ import annotations

from collections.abc import Mapping

from actors._diagram import _escape, _node, _node_ids, to_mermaid
from actors._job import JobState
from actors._workflow import Workflow

__all__ = ["STATE_STYLES", "marked_mermaid", "step_mark"]

# Colours with dark text that stays readable on each fill; the stroke tells states apart
# for readers who do not see the fill colour well.
STATE_STYLES: dict[str, str] = {
    JobState.READY.value: "fill:#e8f0fe,stroke:#1a56db,stroke-width:2px,color:#111",
    JobState.RUNNING.value: "fill:#fff4cc,stroke:#b7791f,stroke-width:3px,color:#111",
    JobState.WAITING.value: "fill:#e6f4ff,stroke:#0b7285,stroke-width:2px,"
    "stroke-dasharray:5 3,color:#111",
    JobState.DONE.value: "fill:#e6f7ea,stroke:#2f855a,stroke-width:2px,color:#111",
    JobState.FAULTED.value: "fill:#fde8e8,stroke:#c81e1e,stroke-width:3px,color:#111",
    JobState.CANCELLED.value: "fill:#eeeeee,stroke:#666,stroke-width:2px,color:#111",
    JobState.SHED.value: "fill:#eeeeee,stroke:#666,stroke-width:2px,color:#111",
}

# When jobs in several states sit on one step, the state that most needs a look wins.
_PRIORITY = [
    JobState.FAULTED.value,
    JobState.RUNNING.value,
    JobState.READY.value,
    JobState.WAITING.value,
    JobState.CANCELLED.value,
    JobState.SHED.value,
    JobState.DONE.value,
]


def step_mark(states: Mapping[str, int]) -> str | None:
    """The state a step is drawn in, given how many of its jobs are in each state."""
    for state in _PRIORITY:
        if states.get(state):
            return state
    return None


def marked_mermaid(
    workflow: Workflow, marks: Mapping[str, str], notes: Mapping[str, str] | None = None
) -> str:
    """``workflow``'s diagram with each step in ``marks`` drawn in the style of its state.

    ``marks`` maps step names to ``JobState`` values; ``notes`` adds a line of text to
    the label of the steps it names (such as "2 waiting"). Unknown step names (a job
    saved by another version of the workflow) are left out rather than drawn wrongly.
    """
    text = to_mermaid(workflow)
    ids = _node_ids(workflow)
    for step, note in (notes or {}).items():
        if step in ids:
            node = _node(workflow.steps[step])
            # A node is shape-open, "label", shape-close: the note goes inside the quotes.
            end = node.rindex('"')
            noted = f"{node[:end]}<br/>{_escape(note)}{node[end:]}"
            text = text.replace(f"    {ids[step]}{node}\n", f"    {ids[step]}{noted}\n", 1)
    lines = [text.rstrip("\n")]
    used = sorted({state for step, state in marks.items() if step in ids})
    for state in used:
        lines.append(f"    classDef st_{state} {STATE_STYLES.get(state, '')}")
    for step, state in sorted(marks.items()):
        if step in ids:
            lines.append(f"    class {ids[step]} st_{state}")
    return "\n".join(lines) + "\n"
