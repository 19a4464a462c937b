"""Private copies of job data (each branch, and each admitted case, owns its data).

Copies follow the one data rule every store keeps (see ``actors.stores._codec``): JSON
values and registered dataclasses. A copy never runs a hook of the value
(``copy.deepcopy`` would call ``__deepcopy__`` or ``__reduce__``, running user code at
admission and storing whatever it returns), and a value that no store could keep is
refused with a ``CodecError`` naming where it sits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.stores._codec import DEFAULT_CODEC

if TYPE_CHECKING:
    from actors.stores._codec import Codec

__all__ = ["copy_data"]


def copy_data(value: Any, codec: Codec | None = None, what: str = "data") -> Any:
    """A deep copy of storable ``value`` (``CodecError`` if no store could keep it)."""
    return (codec or DEFAULT_CODEC).copy(value, what)
