"""Plain job data: JSON trees a store can hold as they are, checked and copied in one walk.

Most job data is plain (str-keyed dicts, lists, tuples and scalars, no codec tags), and
every store checks or copies it on each save: these functions do so with type scans in C
where they can. Anything not plain goes through a ``Codec`` (``_codec``), which also uses
the tag names and limits defined here.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable
from typing import Any

# The tags ``Codec`` writes for what JSON cannot say directly; a dict holding one of
# these keys is not plain data.
DATACLASS_TAG = "__dataclass__"
MAP_TAG = "__map__"
TAGS = frozenset({DATACLASS_TAG, MAP_TAG})
KEY_TYPES = frozenset({str, int, float, bool, type(None)})
# Deep enough for any real job data; a container inside itself hits it and is refused.
MAX_DEPTH = 200
PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})
# The scalars Python always writes as text: all but int, which it refuses to write past
# sys.get_int_max_str_digits() digits (see long_int). A type scan by this set settles
# data holding no int; data holding one has its ints looked at too.
SHORT_SCALARS = frozenset({str, float, bool, type(None)})
_STR_KEYS = frozenset({str})
# An int of at most this many bits is short whatever the limit (640 digits at the least,
# and 2**1920 < 10**640): one bit_length() call settles nearly every int.
_SHORT_BITS = 3 * 640


def long_int(value: int) -> bool:
    """Whether Python refuses to write int ``value`` as text (``ValueError``).

    So when it has more than ``sys.get_int_max_str_digits()`` digits (4,300 by default):
    no store can keep it, as JSON text is what the durable stores write.
    """
    if value.bit_length() <= _SHORT_BITS:
        return False
    limit = sys.get_int_max_str_digits()
    return bool(limit) and abs(value) >= _power_of_ten(limit)


@functools.lru_cache(maxsize=4)
def _power_of_ten(digits: int) -> int:
    power: int = 10**digits
    return power


def short_ints(scalars: Iterable[Any]) -> bool:
    """Whether no int among ``scalars`` is too long to write as text (see ``long_int``)."""
    for value in scalars:
        if type(value) is int and value.bit_length() > _SHORT_BITS and long_int(value):
            return False
    return True


def is_plain(value: Any) -> bool:
    """Whether ``value`` is plain JSON data (str-keyed dicts, lists, tuples, scalars).

    Plain data is storable as it is; anything else needs ``Codec.check``. A flat dict of
    scalars (most job data, most of the time) costs two type scans, in C.
    """
    if type(value) is dict and PLAIN_SCALARS.issuperset(map(type, value.values())):
        return KEY_TYPES.issuperset(map(type, value))  # any key the codec can store
    return plain(value, 0)


def plain(value: Any, depth: int) -> bool:
    """Whether ``value`` is a JSON tree ``to_tree`` would copy unchanged (str keys, no tags).

    A tuple counts: the encoder writes it as the list ``to_tree`` makes of it. Most job
    data is such a tree; the type checks run in C over each container's members.
    """
    kind = type(value)
    if kind is dict:
        if not value:
            return True
        # Type scans in C with no set built: every key a str, no tag among them.
        if depth > MAX_DEPTH or not _STR_KEYS.issuperset(map(type, value)):
            return False
        if not TAGS.isdisjoint(value):
            return False
        members: Any = value.values()
    elif kind is list or kind is tuple:
        if depth > MAX_DEPTH:
            return False
        members = value
    else:
        return kind in PLAIN_SCALARS
    if PLAIN_SCALARS.issuperset(map(type, members)):
        return True
    return all(plain(member, depth + 1) for member in members)


NOT_PLAIN: Any = object()  # what copy_plain returns for a tree _plain would refuse


def copy_plain(value: Any, depth: int) -> Any:
    """A copy of ``value`` if ``_plain`` accepts it, else ``NOT_PLAIN``: one walk, not two.

    Checks what ``_plain`` checks, and that no int is too long to write as text (which
    ``plain`` leaves to the encoder, and a store that writes no text must check), and
    copies as it goes; a flat dict or list of scalars (most job data) is checked by type
    scans and copied by ``.copy()``, all in C (scalars are immutable: a shallow copy of
    them is a deep one), its ints, if any, by one more scan.
    """
    kind = type(value)
    if kind is dict:
        return _copy_dict(value, depth)
    if kind is list or kind is tuple:
        return _copy_sequence(value, depth)
    if kind is int:
        return NOT_PLAIN if long_int(value) else value
    return value if kind in SHORT_SCALARS else NOT_PLAIN


def _copy_dict(value: dict[Any, Any], depth: int) -> Any:
    if not value:
        return {}
    if (
        depth > MAX_DEPTH
        or not _STR_KEYS.issuperset(map(type, value))
        or not TAGS.isdisjoint(value)
    ):
        return NOT_PLAIN
    values = value.values()
    if SHORT_SCALARS.issuperset(map(type, values)) or (
        PLAIN_SCALARS.issuperset(map(type, values)) and short_ints(values)
    ):
        return value.copy()
    out: dict[str, Any] = {}
    for k, v in value.items():
        kind = type(v)
        if kind in SHORT_SCALARS or (kind is int and v.bit_length() <= _SHORT_BITS):
            out[k] = v
            continue
        copied = copy_plain(v, depth + 1)  # a container, or an int perhaps too long
        if copied is NOT_PLAIN:
            return NOT_PLAIN
        out[k] = copied
    return out


def _copy_sequence(value: list[Any] | tuple[Any, ...], depth: int) -> Any:
    if depth > MAX_DEPTH:
        return NOT_PLAIN
    if SHORT_SCALARS.issuperset(map(type, value)) or (
        PLAIN_SCALARS.issuperset(map(type, value)) and short_ints(value)
    ):
        return value.copy() if type(value) is list else value  # a tuple of scalars is immutable
    items = []
    for v in value:
        kind = type(v)
        if kind in SHORT_SCALARS or (kind is int and v.bit_length() <= _SHORT_BITS):
            items.append(v)
            continue
        copied = copy_plain(v, depth + 1)  # a container, or an int perhaps too long
        if copied is NOT_PLAIN:
            return NOT_PLAIN
        items.append(copied)
    return items if type(value) is list else tuple(items)
