"""What a split starts: one branch per step name, or per item of its branches function.

A branches function (WCP14) may return a list, a tuple or any other iterable of items
(a generator, a ``range``, a dict's ``values()``): one branch per item, in the order the
items come, which is the order a join sees them in. A value whose items are not what
anyone means by "the items" is refused at the split that got it, naming the split: a
``str`` (one branch per character), ``bytes`` (one per byte), a dict or other mapping
(one per key), a set (no order, so no branch order either) and anything not iterable
(``None`` from a function that forgot to return). Left alone, each of these either
starts branches of the wrong shape, whose failure shows only at the join, or fails with
a bare ``TypeError``.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from actors._copy import copy_data

if TYPE_CHECKING:
    from actors._steps import ParallelSplit
    from actors.stores._codec import Codec

__all__ = ["RefusedItemsError", "branch_starts", "refused_items"]

_SHORT = reprlib.Repr()
_SHORT.maxstring = 40
_SHORT.maxother = 40

_WHY: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (str, "a str would start one branch per character"),
    ((bytes, bytearray, memoryview), "bytes would start one branch per byte"),
    (
        Mapping,
        "a dict would start one branch per key; return list(d.values()) or list(d.items())",
    ),
    (
        (set, frozenset),
        "a set has no order, and a join sees its branches in the order of their items; "
        "return a list (sorted(...))",
    ),
)


class RefusedItemsError(TypeError):
    """A branches function returned something other than a sequence of items."""


def refused_items(returned: Any) -> str | None:
    """Why ``returned`` (what a branches function returned) is not its items, or ``None``."""
    why = next((why for kinds, why in _WHY if isinstance(returned, kinds)), None)
    if why is None:
        if isinstance(returned, Iterable):
            return None
        why = "it is not iterable"
    shown = "None" if returned is None else f"{type(returned).__name__} {_SHORT.repr(returned)}"
    return (
        f"the branches function returned {shown} where a list of items (one branch "
        f"each) was expected: {why}"
    )


def branch_starts(step: ParallelSplit, data: Any, codec: Codec | None) -> list[tuple[str, Any]]:
    """``(start step, data)`` of each branch ``step`` starts from the job's ``data``.

    Each branch gets a copy: of the job's data for a list of step names, of its item
    for a branches function. Raises ``RefusedItemsError`` for a return value that is no
    sequence of items, ``CodecError`` for data the store could not keep, and whatever
    the branches function raises.
    """
    if not callable(step.branches):
        return [(name, copy_data(data, codec)) for name in step.branches]
    assert step.each is not None
    returned = step.branches(data)
    why = refused_items(returned)
    if why is not None:
        raise RefusedItemsError(why)
    each = step.each
    return [(each, copy_data(item, codec, f"branch item {i}")) for i, item in enumerate(returned)]
