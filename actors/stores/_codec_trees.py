"""Tagged JSON trees: the walk from job data to JSON-able values and back.

``Codec`` (``_codec``) holds the registry of allowed dataclasses and writes the text;
this module converts with that registry, in the tags ``_plain_data`` defines: a dict
whose keys are not all strings becomes ``{"__map__": [[key, value], ...]}``, a
registered dataclass ``{"__dataclass__": "name", "fields": {...}}``. Only types are
looked at (no method of a value runs), and only registered classes are built back.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from typing import Any

from actors._errors import CodecError
from actors._text import is_unicode
from actors.stores._plain_data import (
    DATACLASS_TAG,
    KEY_TYPES,
    MAP_TAG,
    MAX_DEPTH,
    TAGS,
    long_int,
)

__all__ = ["from_tree", "long_int_why", "to_tree", "unencodable", "unwritable_int"]

_FIELDS = "fields"
_SCALARS = (str, int, float, bool, type(None))


class _Fail(Exception):  # noqa: N818 - internal signal, never escapes this module
    """A value cannot be converted; ``where`` collects the path while unwinding."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why
        self.where: list[str] = []


def _path(root: str, where: list[str]) -> str:
    steps = where[::-1]  # collected innermost first, while unwinding
    if len(steps) > 12:
        steps = [*steps[:6], f"...({len(steps) - 9} more)...", *steps[-3:]]
    return root + "".join(steps)


def to_tree(value: Any, names: Mapping[type, str], what: str = "data") -> Any:
    """``value`` as plain JSON-able values; ``names``: the stored name of each allowed class.

    ``CodecError`` names the path of the first value that cannot be stored.
    """
    try:
        return _out(value, 0, names)
    except _Fail as fail:
        msg = f"cannot encode {_path(what, fail.where)}: {fail.why}"
        raise CodecError(msg) from None


def from_tree(tree: Any, classes: Mapping[str, type], what: str = "data") -> Any:
    """The value a tree made by ``to_tree`` stands for; ``classes``: allowed classes by name.

    ``CodecError`` names the path of the first part that cannot be decoded.
    """
    try:
        return _in(tree, classes)
    except _Fail as fail:
        msg = f"cannot decode {_path(what, fail.where)}: {fail.why}"
        raise CodecError(msg) from None
    except RecursionError:
        msg = f"cannot decode {what}: nested too deeply"
        raise CodecError(msg) from None


def long_int_why() -> str:
    """Why an int too long to write as text (``long_int``) is refused, on every store."""
    return (
        f"an int of more than {sys.get_int_max_str_digits()} digits, more than Python "
        "writes as text (store it as a str, or raise the limit with "
        "sys.set_int_max_str_digits in every process that reads the store)"
    )


def _out(value: Any, depth: int, names: Mapping[type, str]) -> Any:
    # Exact type checks: a subclass of a basic type (IntEnum, a str subclass) would
    # come back as its base type, so it is refused rather than silently changed.
    kind = type(value)
    if kind is str or kind is float or kind is bool or value is None:
        return value
    if kind is int:
        if long_int(value):  # the encoders would raise ValueError (no store keeps it)
            raise _Fail(long_int_why())
        return value
    if depth > MAX_DEPTH:
        raise _Fail(f"nested more than {MAX_DEPTH} levels deep (or a container inside itself)")
    if kind is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str or k in TAGS:
                return {MAP_TAG: _pairs(value, depth, names)}
            try:
                out[k] = _out(v, depth + 1, names)
            except _Fail as fail:
                fail.where.append(f"[{k!r}]")
                raise
        return out
    if kind is list or kind is tuple:
        items = []
        for i, v in enumerate(value):
            try:
                items.append(_out(v, depth + 1, names))
            except _Fail as fail:
                fail.where.append(f"[{i}]")
                raise
        return items
    name = names.get(kind)
    if name is not None:
        return _dataclass_out(value, name, depth, names)
    raise _Fail(_refusal(value))


def _pairs(value: dict[Any, Any], depth: int, names: Mapping[type, str]) -> list[list[Any]]:
    pairs = []
    for k, v in value.items():
        if type(k) not in KEY_TYPES:
            fail = _Fail(
                f"dict key {k!r:.80} is a {type(k).__name__}; keys must be str, int, "
                "float, bool or None"
            )
            raise fail
        if type(k) is int and long_int(k):
            fail = _Fail(long_int_why())
            fail.where.append(" (an int key)")  # as unwritable_int names it: no repr of it
            raise fail
        try:
            pairs.append([k, _out(v, depth + 1, names)])
        except _Fail as fail:
            fail.where.append(f"[{k!r}]")
            raise
    return pairs


def _dataclass_out(value: Any, name: str, depth: int, names: Mapping[type, str]) -> Any:
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        try:
            fields[f.name] = _out(getattr(value, f.name), depth + 1, names)
        except _Fail as fail:
            fail.where.append(f".{f.name}")
            raise
    return {DATACLASS_TAG: name, _FIELDS: fields}


def _refusal(value: Any) -> str:
    kind = type(value)
    label = f"{kind.__module__}.{kind.__qualname__}"
    if label == "actors._job.StepContext":  # registering it is not the answer
        return (
            "a StepContext is not job data: it is what the engine passes a task's second "
            "parameter, which a default meant for something else takes too "
            "(lambda data, v=v: ...); bind such a value with functools.partial or a closure"
        )
    if dataclasses.is_dataclass(value):
        return (
            f"dataclass {label} is not registered with the codec; register it with "
            f"register_dataclass({kind.__qualname__}) (or Codec.register)"
        )
    if isinstance(value, _SCALARS):
        base = next(b for b in _SCALARS if isinstance(value, b)).__name__
        return (
            f"value of type {label} (a subclass of {base}) would not come back as a "
            f"{kind.__qualname__}; store a plain {base}"
        )
    return (
        f"value of type {label} is not JSON data; use dicts, lists, str, int, float, "
        "bool, None or registered dataclasses"
    )


def _in(tree: Any, classes: Mapping[str, type]) -> Any:
    kind = type(tree)
    if kind is list:
        out = []
        for i, v in enumerate(tree):
            try:
                out.append(_in(v, classes))
            except _Fail as fail:
                fail.where.append(f"[{i}]")
                raise
        return out
    if kind is not dict:
        return tree
    if DATACLASS_TAG in tree:
        return _dataclass_in(tree, classes)
    if MAP_TAG in tree:
        return _map_in(tree, classes)
    result: dict[str, Any] = {}
    for k, v in tree.items():
        try:
            result[k] = _in(v, classes)
        except _Fail as fail:
            fail.where.append(f"[{k!r}]")
            raise
    return result


def _map_in(tree: dict[str, Any], classes: Mapping[str, type]) -> dict[Any, Any]:
    pairs = tree[MAP_TAG]
    if len(tree) != 1 or type(pairs) is not list:
        raise _Fail(f"malformed {MAP_TAG} object (expected a list of [key, value] pairs)")
    out: dict[Any, Any] = {}
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in KEY_TYPES:
            raise _Fail(f"malformed {MAP_TAG} entry {pair!r:.80}")
        try:
            out[pair[0]] = _in(pair[1], classes)
        except _Fail as fail:
            fail.where.append(f"[{pair[0]!r}]")
            raise
    return out


def _dataclass_in(tree: dict[str, Any], classes: Mapping[str, type]) -> Any:
    name = tree[DATACLASS_TAG]
    fields = tree.get(_FIELDS)
    if set(tree) != {DATACLASS_TAG, _FIELDS} or type(name) is not str or type(fields) is not dict:
        raise _Fail(f"malformed {DATACLASS_TAG} object (expected a name and a fields object)")
    cls = classes.get(name)
    if cls is None:
        # Never import or look up what stored text names: only registered classes.
        raise _Fail(
            f"stored data names class {name!r:.120}, which is not registered with the "
            "codec (only registered dataclasses are decoded)"
        )
    known = {f.name: f for f in dataclasses.fields(cls)}
    extra = fields.keys() - known.keys()
    if extra:
        raise _Fail(f"{name} has no field(s) {sorted(extra)} that the stored object has")
    # Rebuild without __init__/__post_init__: the object comes back as it was saved.
    obj: Any = object.__new__(cls)
    for fname, f in known.items():
        if fname in fields:
            try:
                value = _in(fields[fname], classes)
            except _Fail as fail:
                fail.where.append(f".{fname}")
                raise
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            raise _Fail(f"stored {name} lacks field {fname!r}, which has no default")
        object.__setattr__(obj, fname, value)
    return obj


def unencodable(value: Any, what: str = "data") -> str | None:
    """The path of the first str (or dict key) in ``value`` that UTF-8 cannot encode.

    ``None`` when there is none. Walks dicts, lists, tuples and dataclass fields; for
    error messages only (the encoders look at the whole text first, in C).
    """
    where: list[str] = []
    return _path(what, where) if _find(value, where, 0, _not_text) else None


def unwritable_int(value: Any, what: str = "data") -> str | None:
    """The path of the first int (or dict key) in ``value`` too long to write as text.

    Python writes an int of at most ``sys.get_int_max_str_digits()`` digits (4,300 by
    default) and raises ``ValueError`` past that; ``None`` when ``value`` holds no such
    int. For error messages only, like ``unencodable``.
    """
    limit = sys.get_int_max_str_digits()
    if not limit:
        return None
    bound = 10**limit

    def too_long(member: Any) -> bool:
        return type(member) is int and abs(member) >= bound

    where: list[str] = []
    return _path(what, where) if _find(value, where, 0, too_long) else None


def _not_text(value: Any) -> bool:
    return type(value) is str and not is_unicode(value)


def _find(value: Any, where: list[str], depth: int, bad: Callable[[Any], bool]) -> bool:
    """Whether ``value`` holds a member (or dict key) ``bad`` holds for; its path in ``where``."""
    if bad(value):
        return True
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        for name, member in items:
            if _find(member, where, depth + 1, bad):
                where.append(f".{name}")
                return True
        return False
    else:
        return False
    for key, member in items:
        if bad(key):
            # An int key too long to write has no repr either.
            where.append(f" (the key {key!r})" if type(key) is str else " (an int key)")
            return True
        if _find(member, where, depth + 1, bad):
            where.append(f"[{key!r}]")
            return True
    return False
