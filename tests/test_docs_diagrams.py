"""The Mermaid diagrams committed in docs/ match what ``to_mermaid`` draws today.

Every ```mermaid block in docs/ that carries a ``%% workflow NAME vN`` line is compared
with the current ``to_mermaid`` output of that workflow. To regenerate the blocks after a
change to a workflow or to the diagram code, run ``python tests/test_docs_diagrams.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```mermaid\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NAME = re.compile(r"^    %% workflow (\S+) v\d+$", re.MULTILINE)
# The diagrams page shows these, in this order (by workflow name).
ON_THE_DIAGRAMS_PAGE = ["order_fulfilment", "expense", "demo_order"]


def workflows() -> dict[str, object]:
    """The workflows drawn in the docs, by name."""
    from actors._demo import DEMO_WORKFLOW
    from approval_with_timeout import approval_workflow
    from order_fulfilment import ORDER_FULFILMENT

    # The approver actor is only called when the workflow runs; drawing needs none.
    found = [ORDER_FULFILMENT, approval_workflow(None), DEMO_WORKFLOW]  # type: ignore[arg-type]
    return {wf.name: wf for wf in found}


def drawn_blocks() -> list[tuple[Path, str, str]]:
    """(page, workflow name, committed text) for every workflow diagram in docs/."""
    out = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in BLOCK.findall(page.read_text(encoding="utf-8")):
            name = NAME.search(block)
            if name:
                out.append((page, name.group(1), block))
    return out


def test_committed_diagrams_match_to_mermaid() -> None:
    known = workflows()
    blocks = drawn_blocks()
    assert blocks, "no workflow diagrams found in docs/"
    for page, name, text in blocks:
        assert name in known, f"{page.name} draws {name!r}, which this test does not know"
        assert text == known[name].to_mermaid(), (  # type: ignore[attr-defined]
            f"{page.relative_to(ROOT)}: the diagram of {name!r} is out of date; "
            "run python tests/test_docs_diagrams.py"
        )


def test_diagrams_page_shows_each_example() -> None:
    page = DOCS / "diagrams.md"
    names = [name for p, name, _ in drawn_blocks() if p == page]
    assert names == ON_THE_DIAGRAMS_PAGE


def regenerate() -> None:
    """Rewrite the diagrams in docs/: named blocks, and the empty blocks of diagrams.md."""
    known = workflows()
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        empty = iter(ON_THE_DIAGRAMS_PAGE if page.name == "diagrams.md" else [])

        def redraw(match: re.Match[str], empty=empty) -> str:
            name = NAME.search(match.group(1))
            if name:
                key = name.group(1)
            elif not match.group(1).strip():
                key = next(empty)
            else:
                return match.group(0)
            return f"```mermaid\n{known[key].to_mermaid()}```"  # type: ignore[attr-defined]

        new = BLOCK.sub(redraw, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {page.relative_to(ROOT)}")  # noqa: T201


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "examples"), str(ROOT)]
    regenerate()
