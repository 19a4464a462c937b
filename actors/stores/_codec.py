"""The JSON codec durable stores use for job data and event payloads.

What it encodes:

* ``dict``, ``list``, ``str``, ``int``, ``float`` (NaN and infinities included), ``bool``,
  ``None``, nested to any depth;
* ``tuple`` *becomes a list*: a tuple stored and read back is a list (JSON has no tuple);
* dicts whose keys are not all strings (``{1: "a"}``; keys may be str, int, float, bool or
  None), stored as ``{"__map__": [[key, value], ...]}`` so the key types survive;
* dataclass instances of classes *registered* with the codec, stored as
  ``{"__dataclass__": "module:Qualname", "fields": {...}}``.

Anything else (sets, bytes, enums, unregistered classes, subclasses of the basic types,
cycles) is refused with a ``CodecError`` naming the value's type and where it sits
(``data['items'][2].sku``).

Reading never trusts the text: a tagged object is decoded only into a class registered
under exactly that name; nothing named by stored data is imported or called, and no
pickle is involved anywhere. A decoded dataclass is rebuilt field by field without
running its ``__init__`` or ``__post_init__``, so it comes back exactly as it was saved.
A field the stored object lacks takes the field's default (a class may gain fields with
defaults between a save and a load); a stored field the class no longer has is an error.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, TypeVar

from actors._errors import CodecError

__all__ = ["DEFAULT_CODEC", "Codec", "register_dataclass"]

T = TypeVar("T")

_DATACLASS = "__dataclass__"
_FIELDS = "fields"
_MAP = "__map__"
_TAGS = frozenset({_DATACLASS, _MAP})
# Stored text holding no tag can be handed to json.loads as is: the fast path.
_TAG_MARK = '"__'
_SCALARS = (str, int, float, bool, type(None))
_KEY_TYPES = frozenset({str, int, float, bool, type(None)})
# Deep enough for any real job data; a container inside itself hits it and is refused.
_MAX_DEPTH = 200
# Built once: json.dumps with options builds an encoder per call. The trees it gets are
# already checked (no cycles), so it skips its own cycle check.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
# The C function behind _ENCODER, made once: JSONEncoder.encode builds it anew on every
# call, which costs more than encoding a small job's data. It writes exactly what
# _ENCODER writes (None where the C accelerator is missing: _ENCODER is used then).
_C_ENCODE = (
    c_make_encoder(None, None, encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None
    else None
)
_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})
_STR_KEYS = frozenset({str})


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


def is_plain(value: Any) -> bool:
    """Whether ``value`` is plain JSON data (str-keyed dicts, lists, tuples, scalars).

    Plain data is storable as it is; anything else needs ``Codec.check``. A flat dict of
    scalars (most job data, most of the time) costs two type scans, in C.
    """
    if type(value) is dict and _PLAIN_SCALARS.issuperset(map(type, value.values())):
        return _KEY_TYPES.issuperset(map(type, value))  # any key the codec can store
    return _plain(value, 0)


def _plain(value: Any, depth: int) -> bool:
    """Whether ``value`` is a JSON tree ``to_tree`` would copy unchanged (str keys, no tags).

    A tuple counts: the encoder writes it as the list ``to_tree`` makes of it. Most job
    data is such a tree; the type checks run in C over each container's members.
    """
    kind = type(value)
    if kind is dict:
        if not value:
            return True
        if depth > _MAX_DEPTH or set(map(type, value)) != _STR_KEYS or not _TAGS.isdisjoint(value):
            return False
        members: Any = value.values()
    elif kind is list or kind is tuple:
        if depth > _MAX_DEPTH:
            return False
        members = value
    else:
        return kind in _PLAIN_SCALARS
    if set(map(type, members)) <= _PLAIN_SCALARS:
        return True
    return all(_plain(member, depth + 1) for member in members)


_NOT_PLAIN: Any = object()  # what _copy_plain returns for a tree _plain would refuse


def _copy_plain(value: Any, depth: int) -> Any:
    """A copy of ``value`` if ``_plain`` accepts it, else ``_NOT_PLAIN``: one walk, not two.

    Checks exactly what ``_plain`` checks, and copies as it goes; a flat dict or list of
    scalars (most job data) is checked by type scans and copied by ``.copy()``, all in C
    (scalars are immutable: a shallow copy of them is a deep one).
    """
    kind = type(value)
    if kind is dict:
        return _copy_dict(value, depth)
    if kind is list or kind is tuple:
        return _copy_sequence(value, depth)
    return value if kind in _PLAIN_SCALARS else _NOT_PLAIN


def _copy_dict(value: dict[Any, Any], depth: int) -> Any:
    if not value:
        return {}
    if (
        depth > _MAX_DEPTH
        or not _STR_KEYS.issuperset(map(type, value))
        or not _TAGS.isdisjoint(value)
    ):
        return _NOT_PLAIN
    if _PLAIN_SCALARS.issuperset(map(type, value.values())):
        return value.copy()
    out: dict[str, Any] = {}
    for k, v in value.items():
        copied = v if type(v) in _PLAIN_SCALARS else _copy_plain(v, depth + 1)
        if copied is _NOT_PLAIN:
            return _NOT_PLAIN
        out[k] = copied
    return out


def _copy_sequence(value: list[Any] | tuple[Any, ...], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return _NOT_PLAIN
    if _PLAIN_SCALARS.issuperset(map(type, value)):
        return value.copy() if type(value) is list else value  # a tuple of scalars is immutable
    items = []
    for v in value:
        copied = v if type(v) in _PLAIN_SCALARS else _copy_plain(v, depth + 1)
        if copied is _NOT_PLAIN:
            return _NOT_PLAIN
        items.append(copied)
    return items if type(value) is list else tuple(items)


class Codec:
    """Encodes job data to JSON text and back, with a registry of allowed dataclasses.

    Each store holds one codec (``DEFAULT_CODEC`` unless given another). Register every
    dataclass your job data or event payloads contain::

        codec = Codec()
        codec.register(Order)  # or use it as a class decorator

    Registering is thread-safe; registrations are normally made at import time.
    """

    def __init__(self) -> None:
        self._names: dict[type, str] = {}
        self._classes: dict[str, type] = {}
        self._lock = threading.Lock()

    # -- the registry -------------------------------------------------------------------------

    def register(self, cls: type[T], name: str | None = None) -> type[T]:
        """Allow instances of dataclass ``cls`` in stored data; returns ``cls`` (a decorator).

        ``name`` is the stable name written with each instance (``"module:Qualname"`` by
        default). Give one when a class may move or be renamed: stored rows keep working.
        Registering the same class under the same name again is a no-op.
        """
        candidate: object = cls  # checked at run time: callers are not always typed
        if not (isinstance(candidate, type) and dataclasses.is_dataclass(candidate)):
            msg = f"only dataclass classes can be registered with the codec, got {cls!r}"
            raise CodecError(msg)
        tag: object = name if name is not None else f"{cls.__module__}:{cls.__qualname__}"
        if not isinstance(tag, str) or not tag:
            msg = f"a codec name must be a non-empty string, got {tag!r}"
            raise CodecError(msg)
        with self._lock:
            other = self._classes.get(tag)
            if other is not None and other is not cls:
                msg = f"codec name {tag!r} is already registered to {other!r}, not {cls!r}"
                raise CodecError(msg)
            old = self._names.get(cls)
            if old is not None and old != tag:
                msg = f"{cls!r} is already registered with the codec as {old!r}, not {tag!r}"
                raise CodecError(msg)
            self._names[cls] = tag
            self._classes[tag] = cls
        return cls

    def registered(self) -> dict[str, type]:
        """The registered classes by stored name (a copy)."""
        with self._lock:
            return dict(self._classes)

    # -- text -----------------------------------------------------------------------------------

    def encode(self, value: Any, what: str = "data") -> str:
        """JSON text for ``value``; ``what`` names it in errors (``data['items'][2]``)."""
        if _C_ENCODE is not None and _plain(value, 0):
            # Already a JSON tree: the C encoder writes it as is, with no copy made first.
            return "".join(_C_ENCODE(value, 0))
        return _ENCODER.encode(self.to_tree(value, what))

    def decode(self, text: object, what: str = "data") -> Any:
        """The value stored as ``text`` (made by ``encode``); ``CodecError`` if it cannot be."""
        if not isinstance(text, str):
            msg = f"cannot decode {what}: stored value is {type(text).__name__}, not JSON text"
            raise CodecError(msg)
        try:
            tree = json.loads(text)
        except (ValueError, RecursionError) as exc:
            msg = f"cannot decode {what}: stored text is not valid JSON ({exc})"
            raise CodecError(msg) from exc
        if _TAG_MARK not in text:
            return tree  # no tagged objects anywhere: plain JSON is the value
        return self.from_tree(tree, what)

    def index_map(self, text: str, what: str = "data") -> dict[int, Any]:
        """An int-keyed map stored by ``encode``, its values left as JSON trees (not decoded).

        For text that is only to be stored again with ``encode_index_map``: a value costs
        one C-level parse, and no class is built. ``CodecError`` if the text is not valid
        JSON or not such a map.
        """
        try:
            tree = json.loads(text)
        except (ValueError, RecursionError) as exc:
            msg = f"cannot decode {what}: stored text is not valid JSON ({exc})"
            raise CodecError(msg) from exc
        if tree == {}:
            return {}
        pairs = tree.get(_MAP) if type(tree) is dict and len(tree) == 1 else None
        if type(pairs) is not list or not all(
            type(pair) is list and len(pair) == 2 and type(pair[0]) is int for pair in pairs
        ):
            msg = f"{what} is not a map of int keys to data: {text!r:.80}"
            raise CodecError(msg)
        return {pair[0]: pair[1] for pair in pairs}

    def encode_index_map(self, trees: dict[int, Any]) -> str:
        """The text ``encode`` makes of an int-keyed map whose values are JSON trees."""
        if not trees:
            return "{}"
        return _ENCODER.encode({_MAP: [[k, v] for k, v in trees.items()]})

    @staticmethod
    def tree(text: str) -> Any:
        """The JSON tree of text ``encode`` made (tags left in place)."""
        return json.loads(text)

    # -- the data rule: what job data may hold, on every store ----------------------------------

    def check(self, value: Any, what: str = "data") -> None:
        """Raise ``CodecError`` (naming the bad value's path) unless ``value`` can be stored.

        Only types are looked at: no method of the value runs (no ``__reduce__``,
        ``__deepcopy__``, ``__getstate__``, ``__eq__`` or ``__hash__`` of user code).
        """
        if not _plain(value, 0):
            self.to_tree(value, what)

    def copy(self, value: Any, what: str = "data") -> Any:
        """A private deep copy of storable ``value``, made without running any of its hooks.

        Plain JSON data is copied by a direct recursion; anything else goes through this
        codec (to a tree and back), so registered dataclasses come back as new objects
        of their class, built field by field as a load would, and a value that cannot be
        stored raises ``CodecError`` naming its path.
        """
        copied = _copy_plain(value, 0)
        if copied is not _NOT_PLAIN:
            return copied
        return self.from_tree(self.to_tree(value, what), what)

    # -- trees (JSON-able Python values) ---------------------------------------------------------

    def to_tree(self, value: Any, what: str = "data") -> Any:
        """``value`` as plain JSON-able values (dicts with str keys, lists, scalars)."""
        try:
            return self._out(value, 0)
        except _Fail as fail:
            msg = f"cannot encode {_path(what, fail.where)}: {fail.why}"
            raise CodecError(msg) from None

    def from_tree(self, tree: Any, what: str = "data") -> Any:
        """The value a tree made by ``to_tree`` stands for."""
        try:
            return self._in(tree)
        except _Fail as fail:
            msg = f"cannot decode {_path(what, fail.where)}: {fail.why}"
            raise CodecError(msg) from None
        except RecursionError:
            msg = f"cannot decode {what}: nested too deeply"
            raise CodecError(msg) from None

    def _out(self, value: Any, depth: int) -> Any:
        # Exact type checks: a subclass of a basic type (IntEnum, a str subclass) would
        # come back as its base type, so it is refused rather than silently changed.
        kind = type(value)
        if kind is str or kind is int or kind is float or kind is bool or value is None:
            return value
        if depth > _MAX_DEPTH:
            raise _Fail(f"nested more than {_MAX_DEPTH} levels deep (or a container inside itself)")
        if kind is dict:
            out: dict[str, Any] = {}
            for k, v in value.items():
                if type(k) is not str or k in _TAGS:
                    return {_MAP: self._pairs(value, depth)}
                try:
                    out[k] = self._out(v, depth + 1)
                except _Fail as fail:
                    fail.where.append(f"[{k!r}]")
                    raise
            return out
        if kind is list or kind is tuple:
            items = []
            for i, v in enumerate(value):
                try:
                    items.append(self._out(v, depth + 1))
                except _Fail as fail:
                    fail.where.append(f"[{i}]")
                    raise
            return items
        name = self._names.get(kind)
        if name is not None:
            return self._dataclass_out(value, name, depth)
        raise _Fail(self._refusal(value))

    def _pairs(self, value: dict[Any, Any], depth: int) -> list[list[Any]]:
        pairs = []
        for k, v in value.items():
            if type(k) not in _KEY_TYPES:
                fail = _Fail(
                    f"dict key {k!r:.80} is a {type(k).__name__}; keys must be str, int, "
                    "float, bool or None"
                )
                raise fail
            try:
                pairs.append([k, self._out(v, depth + 1)])
            except _Fail as fail:
                fail.where.append(f"[{k!r}]")
                raise
        return pairs

    def _dataclass_out(self, value: Any, name: str, depth: int) -> Any:
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            try:
                fields[f.name] = self._out(getattr(value, f.name), depth + 1)
            except _Fail as fail:
                fail.where.append(f".{f.name}")
                raise
        return {_DATACLASS: name, _FIELDS: fields}

    @staticmethod
    def _refusal(value: Any) -> str:
        kind = type(value)
        label = f"{kind.__module__}.{kind.__qualname__}"
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

    def _in(self, tree: Any) -> Any:
        kind = type(tree)
        if kind is list:
            out = []
            for i, v in enumerate(tree):
                try:
                    out.append(self._in(v))
                except _Fail as fail:
                    fail.where.append(f"[{i}]")
                    raise
            return out
        if kind is not dict:
            return tree
        if _DATACLASS in tree:
            return self._dataclass_in(tree)
        if _MAP in tree:
            return self._map_in(tree)
        result: dict[str, Any] = {}
        for k, v in tree.items():
            try:
                result[k] = self._in(v)
            except _Fail as fail:
                fail.where.append(f"[{k!r}]")
                raise
        return result

    def _map_in(self, tree: dict[str, Any]) -> dict[Any, Any]:
        pairs = tree[_MAP]
        if len(tree) != 1 or type(pairs) is not list:
            raise _Fail(f"malformed {_MAP} object (expected a list of [key, value] pairs)")
        out: dict[Any, Any] = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in _KEY_TYPES:
                raise _Fail(f"malformed {_MAP} entry {pair!r:.80}")
            try:
                out[pair[0]] = self._in(pair[1])
            except _Fail as fail:
                fail.where.append(f"[{pair[0]!r}]")
                raise
        return out

    def _dataclass_in(self, tree: dict[str, Any]) -> Any:
        name = tree[_DATACLASS]
        fields = tree.get(_FIELDS)
        if set(tree) != {_DATACLASS, _FIELDS} or type(name) is not str or type(fields) is not dict:
            raise _Fail(f"malformed {_DATACLASS} object (expected a name and a fields object)")
        cls = self._classes.get(name)
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
                    value = self._in(fields[fname])
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


DEFAULT_CODEC = Codec()
"""The codec stores use unless given another; ``register_dataclass`` adds to it."""


def register_dataclass(cls: type[T], name: str | None = None) -> type[T]:
    """Allow dataclass ``cls`` in job data stored by any store using ``DEFAULT_CODEC``.

    Usable as a class decorator. See ``Codec.register``.
    """
    return DEFAULT_CODEC.register(cls, name)
