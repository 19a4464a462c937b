"""JSON text of values nested past Python's stack, such as a case tree split 1,000 deep.

``json.dumps`` recurses once per level of nesting (twice per level of a case tree: a
node, then its list of branches), so a deep enough value raises ``RecursionError``; this
writer keeps a stack of its own and gives the same text, except that its indentation
stops growing past ``MOST_INDENTED`` levels: indented in full, a case tree 3,000 deep
was 722 MB of text, nearly all of it spaces (the text grew as the square of the depth).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["deep_json"]

_PAD = "  "
MOST_INDENTED = 64  # levels of nesting indented further than the one above; deeper ones align


def deep_json(value: Any, *, default: Callable[[Any], Any], strict: bool = False) -> str:
    """``json.dumps(value, indent=2, default=default, ensure_ascii=False)``, with no recursion.

    Levels past ``MOST_INDENTED`` are indented as that level is, so the text grows in
    proportion to the value, however deep.

    For acyclic values (``json.dumps`` itself reports a cycle before it gets deep).
    ``strict``: a float JSON has no number for (NaN, an infinity) is written as the string
    ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, so that every JSON reader reads the text.
    """
    parts: list[str] = []
    # Text to write as it is, or a (value, level) pair to write; popped from the end.
    stack: list[str | tuple[Any, int]] = [(value, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        value, level = item
        inner = "\n" + _PAD * min(level + 1, MOST_INDENTED)
        if isinstance(value, dict) and value:
            stack.append("\n" + _PAD * min(level, MOST_INDENTED) + "}")
            entries = list(value.items())
            for index in reversed(range(len(entries))):
                key, entry = entries[index]
                stack.append((entry, level + 1))
                stack.append(("," if index else "{") + inner + _text(_key(key)) + ": ")
        elif isinstance(value, list | tuple) and value:
            stack.append("\n" + _PAD * min(level, MOST_INDENTED) + "]")
            for index in reversed(range(len(value))):
                stack.append((value[index], level + 1))
                stack.append(("," if index else "[") + inner)
        elif isinstance(value, dict):
            parts.append("{}")
        elif isinstance(value, list | tuple):
            parts.append("[]")
        elif strict and isinstance(value, float) and not math.isfinite(value):
            parts.append(_text(_text(value)))  # '"NaN"': json.dumps writes the bare word
        elif value is None or isinstance(value, str | int | float):
            parts.append(_text(value))
        else:
            stack.append((default(value), level))
    return "".join(parts)


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _key(key: Any) -> str:
    """A dict key as ``json.dumps`` writes it (a number, ``true``, ``null`` become text)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | float):
        return _text(key)
    if isinstance(key, int):
        return int.__repr__(key)
    msg = f"keys must be str, int, float, bool or None, not {type(key).__name__}"
    raise TypeError(msg)
