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

What counts as plain data (stored as it is, no tags) and its one-walk check and copy are
in ``_plain_data``; the walk between other values and tagged JSON trees is in
``_codec_trees``.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, TypeVar

from actors._errors import CodecError
from actors._text import NotUtf8, is_unicode
from actors.stores import _codec_trees as trees
from actors.stores._plain_data import MAP_TAG, NOT_PLAIN, copy_plain, plain

__all__ = ["DEFAULT_CODEC", "Codec", "register_dataclass"]

T = TypeVar("T")

# Stored text holding no tag can be handed to json.loads as is: the fast path.
_TAG_MARK = '"__'
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
        try:
            if _C_ENCODE is not None and plain(value, 0):
                # Already a JSON tree: the C encoder writes it as is, with no copy made first.
                text = "".join(_C_ENCODE(value, 0))
            else:
                text = _ENCODER.encode(self.to_tree(value, what))
        except CodecError:
            raise
        except ValueError:  # the one ValueError these encoders raise: an int too long
            _refuse_long_int(value, what)
            raise
        if not text.isascii():  # most job data is ASCII: no call on a save's path
            _check_utf8(text, value, what)
        return text

    def plain_text(self, value: Any) -> str | None:
        """``encode(value)`` if ``value`` is plain JSON data, else ``None`` (then call ``encode``).

        A save's fast path: one check and the C encoder, and no name built for an error.
        ``None`` also for text no database takes (a lone surrogate), which ``encode``
        refuses naming where it is.
        """
        if _C_ENCODE is None or not plain(value, 0):
            return None
        try:
            text = "".join(_C_ENCODE(value, 0))
        except ValueError:  # an int too long to write as text: ``encode`` names it
            return None
        return text if text.isascii() or is_unicode(text) else None

    def decode(self, text: object, what: str = "data") -> Any:
        """The value stored as ``text`` (made by ``encode``); ``CodecError`` if it cannot be."""
        if not isinstance(text, str):
            msg = f"cannot decode {what}: stored value is {type(text).__name__}, not JSON text"
            raise CodecError(msg)
        if isinstance(text, NotUtf8):  # its escapes could read as other, valid JSON
            raise CodecError(_not_utf8(what, text))
        try:
            tree = json.loads(text)
        except (ValueError, RecursionError) as exc:
            msg = f"cannot decode {what}: stored text is not valid JSON ({exc})"
            raise CodecError(msg) from exc
        if "\\ud" in text or "\\uD" in text:  # a surrogate escaped: a pair's half, or lone
            where = trees.unencodable(tree, what)
            if where is not None:
                msg = f"cannot decode {where}: stored text escapes a lone surrogate, not text"
                raise CodecError(msg)
        if _TAG_MARK not in text:
            return tree  # no tagged objects anywhere: plain JSON is the value
        return self.from_tree(tree, what)

    def index_map(self, text: str, what: str = "data") -> dict[int, Any]:
        """An int-keyed map stored by ``encode``, its values left as JSON trees (not decoded).

        For text that is only to be stored again with ``encode_index_map``: a value costs
        one C-level parse, and no class is built. ``CodecError`` if the text is not valid
        JSON or not such a map.
        """
        if isinstance(text, NotUtf8):
            raise CodecError(_not_utf8(what, text))
        try:
            tree = json.loads(text)
        except (ValueError, RecursionError) as exc:
            msg = f"cannot decode {what}: stored text is not valid JSON ({exc})"
            raise CodecError(msg) from exc
        if tree == {}:
            return {}
        pairs = tree.get(MAP_TAG) if type(tree) is dict and len(tree) == 1 else None
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
        return _ENCODER.encode({MAP_TAG: [[k, v] for k, v in trees.items()]})

    @staticmethod
    def tree(text: str) -> Any:
        """The JSON tree of text ``encode`` made (tags left in place)."""
        return json.loads(text)

    # -- the data rule: what job data may hold, on every store ----------------------------------

    def check(self, value: Any, what: str = "data") -> None:
        """Raise ``CodecError`` (naming the bad value's path) unless ``value`` can be stored.

        Only types are looked at, and the size of ints (one too long to write as text is
        refused, as the encoders would): no method of the value runs (no ``__reduce__``,
        ``__deepcopy__``, ``__getstate__``, ``__eq__`` or ``__hash__`` of user code).
        """
        if copy_plain(value, 0) is NOT_PLAIN:
            self.to_tree(value, what)

    def copy(self, value: Any, what: str = "data") -> Any:
        """A private deep copy of storable ``value``, made without running any of its hooks.

        Plain JSON data is copied by a direct recursion; anything else goes through this
        codec (to a tree and back), so registered dataclasses come back as new objects
        of their class, built field by field as a load would, and a value that cannot be
        stored (an int too long to write as text among them) raises ``CodecError``
        naming its path.
        """
        copied = copy_plain(value, 0)
        if copied is not NOT_PLAIN:
            return copied
        return self.from_tree(self.to_tree(value, what), what)

    # -- trees (JSON-able Python values) ---------------------------------------------------------

    def to_tree(self, value: Any, what: str = "data") -> Any:
        """``value`` as plain JSON-able values (dicts with str keys, lists, scalars)."""
        return trees.to_tree(value, self._names, what)

    def from_tree(self, tree: Any, what: str = "data") -> Any:
        """The value a tree made by ``to_tree`` stands for."""
        return trees.from_tree(tree, self._classes, what)


def _check_utf8(text: str, value: Any, what: str) -> None:
    """``CodecError`` naming the str of ``value`` that is no Unicode text (a lone surrogate).

    Python strs may hold them (``os.listdir`` of a name that is not UTF-8, bytes decoded
    with ``surrogateescape``); no database takes them, and a save that carried one to
    the database would fail there, with every other save of its transaction.
    """
    if not is_unicode(text):
        where = trees.unencodable(value, what) or what
        msg = (
            f"cannot encode {where}: a str holding a lone surrogate is not Unicode text "
            "(decode bytes with errors='replace', or store them as base64)"
        )
        raise CodecError(msg)


def _refuse_long_int(value: Any, what: str) -> None:
    """``CodecError`` naming the int of ``value`` too long to write as text, if it has one.

    Python writes an int of at most ``sys.get_int_max_str_digits()`` digits as text;
    past that the save would raise ``ValueError`` wherever it ran (a runner, the writer)
    and crash it, again at every retry of the step.
    """
    where = trees.unwritable_int(value, what)
    if where is not None:
        msg = f"cannot encode {where}: {trees.long_int_why()}"
        raise CodecError(msg)


DEFAULT_CODEC = Codec()
"""The codec stores use unless given another; ``register_dataclass`` adds to it."""


def register_dataclass(cls: type[T], name: str | None = None) -> type[T]:
    """Allow dataclass ``cls`` in job data stored by any store using ``DEFAULT_CODEC``.

    Usable as a class decorator. See ``Codec.register``.
    """
    return DEFAULT_CODEC.register(cls, name)


def _not_utf8(what: str, text: str) -> str:
    return f"cannot decode {what}: stored text holds bytes that are not UTF-8: {text!r:.80}"
