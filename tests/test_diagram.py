"""Mermaid diagrams: one shape per step kind, labelled edges, safe ids, loops as back edges."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flows import setter, workload_w

from actors import (
    DeferredChoice,
    Discriminator,
    ExclusiveChoice,
    ParallelSplit,
    RequestReaction,
    Retry,
    Sequential,
    SimpleMerge,
    Spec,
    Synchronize,
    Wait,
    Workflow,
)
from actors._diagram import to_mermaid

NODE = re.compile(
    r"^    (\w+)(\(\(|\[\[|\[/|\[\\|\(\[|\{\{|\{|\[|>)\"(.*)\"(\)\)|\]\]|\\\]|/\]|\]\)|\}\}|\}|\])$"
)
EDGE = re.compile(r"^    (\w+) (-->|-\.->)(?:\|\"(.*)\"\|)? (\w+)$")


def parse(text: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str, str]]]:
    """Nodes as {id: (shape, label)} and edges as (source, arrow, label, target).

    Every line of the diagram must be a header, a comment, a node or an edge.
    """
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str, str, str]] = []
    for line in lines[1:]:
        if line.startswith("    %%"):
            continue
        if node := NODE.match(line):
            ident, opening, label, closing = node.groups()
            assert ident not in nodes, f"node {ident} declared twice"
            nodes[ident] = (opening + closing, label)
        elif edge := EDGE.match(line):
            source, arrow, label, target = edge.groups()
            edges.append((source, arrow, label or "", target))
        else:
            pytest.fail(f"unexpected line in diagram: {line!r}")
    for source, _, _, target in edges:
        assert source in nodes, f"edge {source} -> {target}: no node {source}"
        assert target in nodes, f"edge {source} -> {target}: no node {target}"
    return nodes, edges


def by_label(nodes: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """{step name: (node id, shape)}; the step name is the first line of the label."""
    return {label.split("<br/>")[0]: (ident, shape) for ident, (shape, label) in nodes.items()}


def edge_set(text: str) -> set[tuple[str, str, str, str]]:
    """Edges as (source step, arrow, label, target step)."""
    nodes, edges = parse(text)
    names = {ident: label.split("<br/>")[0] for ident, (_, label) in nodes.items()}
    return {(names[s], arrow, label, names[t]) for s, arrow, label, t in edges}


def noop(data: Any) -> None:
    return None


def test_sequence_is_rectangles_from_a_start_marker() -> None:
    flow = Workflow("seq", [Sequential("a", noop, next="b"), Sequential("b", noop)], start="a")
    text = to_mermaid(flow)
    nodes, _ = parse(text)
    steps = by_label(nodes)
    assert steps["a"][1] == steps["b"][1] == "[]"
    assert steps["start"][1] == "(())"
    assert edge_set(text) == {("start", "-->", "", "a"), ("a", "-->", "", "b")}
    assert "%% workflow seq v1" in text
    assert text.endswith("\n")


def test_workflow_method_delegates() -> None:
    flow = workload_w()
    assert flow.to_mermaid() == to_mermaid(flow)


def test_fault_path_is_dashed_and_retry_is_noted() -> None:
    flow = Workflow(
        "f",
        [
            Sequential("charge", noop, fault_next="refund", retry=Retry(attempts=3, backoff=2)),
            Sequential("refund", noop),
        ],
        start="charge",
    )
    text = to_mermaid(flow)
    assert ("charge", "-.->", "fault", "refund") in edge_set(text)
    label = next(lab for _, lab in parse(text)[0].values() if lab.startswith("charge"))
    assert label == "charge<br/>retry: 3 attempts, backoff 2 s"


def test_exclusive_choice_is_a_rhombus_with_yes_and_no_edges() -> None:
    big = Spec(lambda d: d["total"] > 100, "total > 100")
    vip = Spec(lambda d: d["vip"], "vip")
    flow = Workflow(
        "choice",
        [
            ExclusiveChoice("review?", big & ~vip, if_true="manual", if_false="auto"),
            Sequential("manual", noop),
            Sequential("auto", noop),
        ],
        start="review?",
    )
    text = to_mermaid(flow)
    nodes, _ = parse(text)
    (shape, label) = next(v for v in nodes.values() if v[1].startswith("review?"))
    assert shape == "{}"
    # The spec's description, with '>' and '&' as HTML entities (Mermaid labels are HTML).
    assert label == "review?<br/>(total &gt; 100 &amp; ~vip)?"
    edges = edge_set(text)
    assert ("review?", "-->", "yes", "manual") in edges
    assert ("review?", "-->", "no", "auto") in edges


def test_choice_on_a_plain_function_is_labelled_with_its_name() -> None:
    def is_large(data: Any) -> bool:
        return True

    flow = Workflow(
        "c",
        [ExclusiveChoice("c", is_large, "a", "b"), Sequential("a", noop), Sequential("b", noop)],
        start="c",
    )
    assert "c<br/>is_large(data)?" in to_mermaid(flow)


def test_choice_on_an_anonymous_spec_says_so() -> None:
    flow = Workflow(
        "c",
        [
            ExclusiveChoice("c", Spec(lambda d: True), "a", "b"),
            Sequential("a", noop),
            Sequential("b", noop),
        ],
        start="c",
    )
    assert "c<br/>condition on the data?" in to_mermaid(flow)


def test_split_and_join_shapes_name_the_join_kind() -> None:
    text = to_mermaid(workload_w())
    steps = by_label(parse(text)[0])
    assert steps["split"][1] == "[/\\]"  # trapezoid: a fork
    assert steps["join"][1] == "[\\/]"  # inverted trapezoid: a join
    assert "join<br/>Synchronize: wait for all" in text
    edges = edge_set(text)
    assert {("split", "-->", "", f"b{b}s0") for b in range(4)} <= edges
    assert {(f"b{b}s2", "-->", "", "join") for b in range(4)} <= edges
    assert ("join", "-->", "", "B") in edges


def test_discriminator_is_labelled_first_of_n() -> None:
    flow = Workflow(
        "race",
        [
            ParallelSplit("race", branches=["fast", "slow"]),
            Sequential("fast", noop, next="first"),
            Sequential("slow", noop, next="first"),
            Discriminator("first", next="after"),
            Sequential("after", noop),
        ],
        start="race",
    )
    text = to_mermaid(flow)
    steps = by_label(parse(text)[0])
    assert steps["first"][1] == "[\\/]"
    assert "first<br/>Discriminator: first of N" in text


def test_dynamic_split_edge_says_each_item() -> None:
    def items(data: Any) -> list[Any]:
        return data["items"]

    flow = Workflow(
        "dyn",
        [
            ParallelSplit("per_item", branches=items, each="pack"),
            Sequential("pack", noop, next="join"),
            Synchronize("join"),
        ],
        start="per_item",
    )
    text = to_mermaid(flow)
    assert ("per_item", "-->", "each item", "pack") in edge_set(text)
    assert "per_item<br/>parallel split: one per item of items(data)" in text


def test_simple_merge_is_a_stadium_and_wait_a_hexagon_with_its_duration() -> None:
    flow = Workflow(
        "m",
        [
            ExclusiveChoice("pick", Spec(lambda d: True, "fast"), "x", "y"),
            Sequential("x", noop, next="merge"),
            Wait("y", duration=90, next="merge"),
            SimpleMerge("merge", next="done"),
            Wait("done", duration=lambda d: 1.0, next="end"),
            Sequential("end", noop),
        ],
        start="pick",
    )
    text = to_mermaid(flow)
    steps = by_label(parse(text)[0])
    assert steps["merge"][1] == "([])"
    assert steps["y"][1] == "{{}}"
    assert "y<br/>wait 1 min 30 s" in text
    assert "done<br/>wait (from the data)" in text
    # "end" is a Mermaid keyword; as a step name it must not break the diagram.
    assert steps["end"][0] not in {"end", "End", "END"}


def test_request_reaction_edges_reply_fault_and_dashed_timeout() -> None:
    flow = Workflow(
        "rr",
        [
            RequestReaction(
                "ask",
                send=lambda data, ctx: None,
                next="ok",
                fault_next="failed",
                on_fault=lambda d, e: None,
                timeout=30,
                on_timeout="late",
            ),
            Sequential("ok", noop),
            Sequential("failed", noop),
            Sequential("late", noop),
        ],
        start="ask",
    )
    text = to_mermaid(flow)
    assert by_label(parse(text)[0])["ask"][1] == "[[]]"
    assert edge_set(text) >= {
        ("ask", "-->", "reply", "ok"),
        ("ask", "-.->", "fault", "failed"),
        ("ask", "-.->", "timeout 30 s", "late"),
    }


def test_deferred_choice_names_each_event_and_dashes_the_timeout() -> None:
    flow = Workflow(
        "dc",
        [
            DeferredChoice(
                "decide",
                events={"approve": "ship", "reject": "refund"},
                timeout=0.5,
                on_timeout="remind",
                fault_next="undo",
            ),
            Sequential("ship", noop),
            Sequential("refund", noop),
            Sequential("remind", noop),
            Sequential("undo", noop),
        ],
        start="decide",
    )
    text = to_mermaid(flow)
    assert by_label(parse(text)[0])["decide"][1] == ">]"
    assert edge_set(text) >= {
        ("decide", "-->", "event approve", "ship"),
        ("decide", "-->", "event reject", "refund"),
        ("decide", "-.->", "timeout 0.5 s", "remind"),
        ("decide", "-.->", "fault", "undo"),
    }


def test_loop_is_a_back_edge_and_every_step_is_declared_once() -> None:
    flow = Workflow(
        "loop",
        [
            Sequential("fetch", noop, next="more?"),
            ExclusiveChoice("more?", Spec(lambda d: d["left"] > 0, "left > 0"), "fetch", "done"),
            Sequential("done", noop),
        ],
        start="fetch",
    )
    text = to_mermaid(flow)
    nodes, edges = parse(text)
    assert len(nodes) == 4  # three steps and the start marker
    ids = {name: ident for name, (ident, _) in by_label(nodes).items()}
    assert ("more?", "-->", "yes", "fetch") in edge_set(text)
    lines = text.splitlines()
    declared = [i for i, line in enumerate(lines) if NODE.match(line)]
    first_edge = min(i for i, line in enumerate(lines) if EDGE.match(line))
    assert max(declared) < first_edge, "all nodes are declared before the edges"
    # The fetch node comes before the choice that loops back to it: a back edge.
    order = [NODE.match(lines[i]).group(1) for i in declared]  # type: ignore[union-attr]
    assert order.index(ids["fetch"]) < order.index(ids["more?"])
    assert len(edges) == 4


@pytest.mark.parametrize(
    "name",
    [
        'say "hi"',
        "#35;",
        "&amp; #quot;",
        "a|b",
        "x[1]",
        "{odd}",
        "end",
        "<b>bold<b>",  # no "/": a step name never holds one (correlation ids)
        "100%",
        "a;b",
        "#tag",
        "`tick`",
        "naïve step",
        "--> arrow",
        "line\nbreak",
        "  ",
    ],
)
def test_any_step_name_gives_a_safe_id_and_an_escaped_label(name: str) -> None:
    flow = Workflow(
        "names",
        [Sequential("first", noop, next=name), Sequential(name, setter("x"))],
        start="first",
    )
    text = to_mermaid(flow)
    nodes, edges = parse(text)  # every line still parses: no syntax leaked from the name
    assert len(nodes) == 3
    assert len(edges) == 2
    for ident in nodes:
        assert re.fullmatch(r"[A-Za-z0-9_]+", ident)
        assert ident.lower() != "end"
    for _, label in nodes.values():
        assert not set(label.replace("<br/>", "")) & set('"<>`')
        assert not re.search(r"#\w+;", label), "Mermaid would read this as an entity code"


def test_steps_with_the_same_ascii_slug_get_different_ids() -> None:
    flow = Workflow(
        "same",
        [
            Sequential("a-b", noop, next="a b"),
            Sequential("a b", noop, next="a_b"),
            Sequential("a_b", noop),
        ],
        start="a-b",
    )
    nodes, edges = parse(to_mermaid(flow))
    assert len(nodes) == 4
    assert len({t for _, _, _, t in edges}) == 3


def test_output_is_stable() -> None:
    assert to_mermaid(workload_w()) == to_mermaid(workload_w())


def test_control_characters_of_names_are_written_as_escapes() -> None:
    # actors graph printed them: a step named with an escape sequence set the
    # terminal's title (OSC 0) or reversed the text after it (U+202E).
    evil = "\x1b]0;owned\x07\x9b2J\u202e"
    flow = Workflow(
        "w" + evil,
        [Sequential("a" + evil, setter("a"), next="b"), Sequential("b", setter("b"))],
        "a" + evil,
    )
    text = to_mermaid(flow)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", text), text
    assert '["a\\x1b]0;owned\\x07\\x9b2J\\u202e"]' in text
    assert "%% workflow w\\x1b]0;owned\\x07\\x9b2J\\u202e v1" in text
