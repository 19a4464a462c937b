"""Filling the slots of a frozen slotted dataclass for less than its generated ``__init__``.

The messages sent for every slice of a job (``actors.messages``) are made often enough
for the cost of making them to show: they set their slots through these setters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["slot_setters"]


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The ``__set__`` of each named slot of frozen ``cls``, for its ``__init__``.

    The messages a runner sends for every slice (and the Scheduler for every ready job)
    fill their slots through these, for about half of what the ``object.__setattr__(self,
    name, value)`` of a generated frozen ``__init__`` costs. They stay frozen
    (``FrozenInstanceError`` on assignment), equal by value and hashable.
    """
    return tuple(getattr(cls, name).__set__ for name in names)
