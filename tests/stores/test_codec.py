import enum
import json
import math
import sys
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import CodecError
from actors.stores import DEFAULT_CODEC, Codec, register_dataclass
from actors.stores._plain_data import plain


@dataclass
class Point:
    x: int
    y: int = 0


@dataclass(frozen=True, slots=True)
class Frozen:
    name: str
    tags: tuple = ()


@dataclass
class Derived:
    base: int
    doubled: int = field(init=False)

    def __post_init__(self):
        self.doubled = self.base * 2


@dataclass
class Unregistered:
    x: int


class Color(enum.IntEnum):
    RED = 1


POINT = f"{Point.__module__}:Point"  # the module's name depends on pytest's import mode


@pytest.fixture
def codec():
    c = Codec()
    c.register(Point)
    c.register(Frozen)
    c.register(Derived)
    return c


def test_round_trip_of_plain_and_registered_values(codec):
    value = {
        "point": Point(1, 2),
        "frozen": Frozen("f", ("a", "b")),
        "list": [Point(3), {"deep": [Point(4, 5)]}],
        "int keys": {1: Point(6)},
    }
    back = codec.decode(codec.encode(value))
    assert back == {
        "point": Point(1, 2),
        "frozen": Frozen("f", ["a", "b"]),  # tuples become lists
        "list": [Point(3), {"deep": [Point(4, 5)]}],
        "int keys": {1: Point(6)},
    }


def test_decoding_does_not_rerun_init(codec):
    obj = Derived(5)
    obj.doubled = 99  # changed after construction: must come back as saved
    assert codec.decode(codec.encode(obj)).doubled == 99


def test_new_fields_with_defaults_are_filled_in(codec):
    text = json.dumps({"__dataclass__": POINT, "fields": {"x": 1}})
    assert codec.decode(text) == Point(1, 0)


def test_tag_like_user_keys_survive(codec):
    value = {"__dataclass__": "os:system", "fields": {"command": "rm -rf /"}}
    text = codec.encode(value)
    assert codec.decode(text) == value  # stays a plain dict: user keys are never tags


def test_nan_and_infinities_round_trip(codec):
    back = codec.decode(codec.encode([math.nan, math.inf, -math.inf]))
    assert math.isnan(back[0])
    assert back[1:] == [math.inf, -math.inf]


def test_stable_names(codec):
    codec2 = Codec()
    codec2.register(Point, name="geometry.Point/v1")
    text = codec2.encode(Point(1, 2))
    assert '"geometry.Point/v1"' in text
    assert codec2.decode(text) == Point(1, 2)
    with pytest.raises(CodecError, match="not registered"):
        codec.decode(text)


def test_registration_errors():
    c = Codec()
    c.register(Point)
    c.register(Point)  # again: no-op
    with pytest.raises(CodecError, match="only dataclass"):
        c.register(int)
    with pytest.raises(CodecError, match="only dataclass"):
        c.register(Point(1))
    with pytest.raises(CodecError, match="already registered"):
        c.register(Unregistered, name=POINT)
    with pytest.raises(CodecError, match="already registered"):
        c.register(Point, name="other")
    assert c.registered() == {POINT: Point}


def test_register_dataclass_is_a_decorator_on_the_default_codec():
    @register_dataclass
    @dataclass
    class Local:
        v: int

    assert Local.__qualname__ in next(n for n in DEFAULT_CODEC.registered() if "Local" in n)
    assert DEFAULT_CODEC.decode(DEFAULT_CODEC.encode(Local(3))) == Local(3)


@pytest.mark.parametrize(
    ("value", "path", "what"),
    [
        ({"items": [1, 2, {3}]}, r"data\['items'\]\[2\]", "builtins.set"),
        ({"a": {"b": b"bytes"}}, r"data\['a'\]\['b'\]", "builtins.bytes"),
        ({"p": Point(1, object())}, r"data\['p'\]\.y", "builtins.object"),
        ([Unregistered(1)], r"data\[0\]", "not registered.*register_dataclass\\(Unregistered\\)"),
        ({"c": Color.RED}, r"data\['c'\]", "subclass of int"),
        ({(1, 2): "tuple key"}, r"data", "dict key \\(1, 2\\) is a tuple"),
        ({"k": [1, {2: {3, 4}}]}, r"data\['k'\]\[1\]\[2\]", "builtins.set"),
    ],
)
def test_encode_errors_name_the_type_and_path(codec, value, path, what):
    with pytest.raises(CodecError, match=f"cannot encode {path}: .*{what}"):
        codec.encode(value)


def test_a_cycle_is_refused_not_a_crash(codec):
    loop = []
    loop.append(loop)
    with pytest.raises(CodecError, match=r"nested more than .* \(or a container inside itself\)"):
        codec.encode({"x": loop})


def test_codec_error_is_a_type_error():
    assert issubclass(CodecError, TypeError)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "not valid JSON"),
        (
            '{"__dataclass__": "os:system", "fields": {"command": "id"}}',
            "'os:system'.*not registered",
        ),
        ('{"a": [{"__dataclass__": "x:Y", "fields": {}}]}', r"\['a'\]\[0\]: .*'x:Y'"),
        ('{"__dataclass__": "POINT", "fields": {"x": 1, "evil": 2}}', "no field"),
        ('{"__dataclass__": "POINT", "fields": {}}', "lacks field 'x'"),
        ('{"__dataclass__": "POINT"}', "malformed"),
        ('{"__dataclass__": "POINT", "fields": [], "x": 1}', "malformed"),
        ('{"__map__": {"a": 1}}', "malformed __map__"),
        ('{"__map__": [[[1], 2]]}', "malformed __map__ entry"),
    ],
)
def test_decode_errors(codec, text, why):
    with pytest.raises(CodecError, match=f"cannot decode data.*{why}"):
        codec.decode(text.replace("POINT", POINT))


def test_decode_never_imports_or_calls_what_stored_text_names(codec, monkeypatch, tmp_path):
    marker = tmp_path / "ran"
    assert "antigravity" not in sys.modules
    imported = []
    real_import = __import__

    def spy(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", spy)
    for name in ("antigravity:fly", "os:system", "subprocess:run", "builtins:eval"):
        text = json.dumps({"__dataclass__": name, "fields": {"args": f"touch {marker}"}})
        with pytest.raises(CodecError, match="not registered"):
            codec.decode(text)
    assert "antigravity" not in sys.modules
    assert imported == []
    assert not marker.exists()


def test_decode_of_non_text(codec):
    with pytest.raises(CodecError, match="stored value is bytes"):
        codec.decode(b"{}")


def test_long_paths_are_shortened(codec):
    value = current = {}
    for i in range(30):
        current[f"k{i}"] = {}
        current = current[f"k{i}"]
    current["bad"] = {1, 2}
    with pytest.raises(CodecError, match=r"\.\.\.\(\d+ more\)\.\.\.") as info:
        codec.encode(value)
    assert len(str(info.value)) < 400


# -- Hypothesis -----------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
keys = st.text() | st.sampled_from(["__map__", "__dataclass__", "fields", '"__'])
data = st.recursive(
    scalars | st.builds(Point, st.integers(), st.integers()),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(keys, children, max_size=5)
        | st.dictionaries(st.integers() | st.none() | st.booleans(), children, max_size=4)
    ),
    max_leaves=25,
)


def _same(a, b):
    """Equal, with int/float/bool told apart (0 == False == 0.0 in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            type(k) is type(j) and _same(a[k], b[j]) for k, j in zip(a, b, strict=True)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@given(data)
def test_hypothesis_round_trip(value):
    codec = Codec()
    codec.register(Point)
    text = codec.encode(value)
    json.loads(text)  # always valid JSON text
    assert _same(codec.decode(text), value)


@given(st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.tuples(c, c), max_leaves=10))
def test_hypothesis_tuples_become_lists(value):
    def listify(v):
        return [listify(x) for x in v] if isinstance(v, tuple | list) else v

    codec = Codec()
    assert _same(codec.decode(codec.encode(value)), listify(value))


@given(st.dictionaries(st.integers(0, 50), data, max_size=6), st.integers(51, 60), data)
def test_hypothesis_index_map_adds_an_entry_as_encode_would(stored, key, added):
    # A join counts arrivals on the tree form of the stored map: adding one there and
    # encoding it again must give what encoding the decoded map plus the new entry gives.
    codec = Codec()
    codec.register(Point)
    trees = codec.index_map(codec.encode(stored), "arrivals")
    trees[key] = codec.tree(codec.encode(added))
    text = codec.encode_index_map(trees)
    expected = {**stored, key: added}
    assert text == codec.encode(expected)
    assert _same(codec.decode(text), expected)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{oops", r"cannot decode arrivals: stored text is not valid JSON"),
        ('{"a": 1}', r"arrivals is not a map of int keys to data"),
        ('{"__map__": [["0", 1]]}', r"arrivals is not a map of int keys to data"),
        ("[1, 2]", r"arrivals is not a map of int keys to data"),
    ],
)
def test_index_map_refuses_what_is_not_an_int_keyed_map(text, match):
    with pytest.raises(CodecError, match=match):
        DEFAULT_CODEC.index_map(text, "arrivals")


def test_index_map_of_an_empty_map():
    assert DEFAULT_CODEC.index_map(DEFAULT_CODEC.encode({}), "arrivals") == {}
    assert DEFAULT_CODEC.encode_index_map({}) == DEFAULT_CODEC.encode({})


# Values with tuples, NaN and infinities, and the types the fast path must leave to the
# checked one (subclasses of str and int, sets), at any depth.
class Flag(enum.IntEnum):
    ON = 1


class Name(str):
    __slots__ = ()


every_scalar = scalars | st.floats() | st.sampled_from([Flag.ON, Name("x"), frozenset({1})])
mixed = st.recursive(
    every_scalar | st.builds(Point, st.integers(), st.integers()),
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=5)
        | st.dictionaries(st.integers() | st.none(), children, max_size=3)
    ),
    max_leaves=25,
)


@given(mixed)
def test_hypothesis_encode_writes_what_the_checked_path_writes(value):
    # encode() hands a plain JSON tree straight to the C encoder; anything else goes
    # through to_tree. Both must give the same text, or the same refusal.
    from actors.stores._codec import _ENCODER

    codec = Codec()
    codec.register(Point)

    def outcome(encode):
        try:
            return "text", encode(value)
        except CodecError as exc:
            return "refused", str(exc)

    assert outcome(codec.encode) == outcome(lambda v: _ENCODER.encode(codec.to_tree(v)))


@given(mixed | st.sampled_from(["\udc80", {"k": ["\ud800"]}, {"\udfff": 1}]))
def test_hypothesis_plain_text_is_what_encode_writes_or_none(value):
    # A save's fast path: the text encode() writes, or None where encode() must walk
    # the value (not plain JSON) or refuse it (a lone surrogate), naming where.
    codec = Codec()
    codec.register(Point)
    text = codec.plain_text(value)
    if text is not None:
        assert text == codec.encode(value)
    elif plain(value, 0):
        with pytest.raises(CodecError, match="lone surrogate"):
            codec.encode(value)


def test_a_deep_plain_value_is_refused_like_any_other():
    value: list = []
    current = value
    for _ in range(250):
        current.append([])
        current = current[0]
    with pytest.raises(CodecError, match="nested more than"):
        Codec().encode(value)


def _containers(value, out):
    """Ids of every mutable container (dict, list, dataclass) inside ``value``."""
    if isinstance(value, dict):
        out.add(id(value))
        for v in value.values():
            _containers(v, out)
    elif isinstance(value, list | tuple):
        if isinstance(value, list):
            out.add(id(value))
        for v in value:
            _containers(v, out)
    elif isinstance(value, Point):
        out.add(id(value))
    return out


@given(mixed)
def test_hypothesis_copy_checks_and_copies_as_the_tree_route_does(value):
    # copy() checks plain data and copies it in one walk; anything else goes to a tree
    # and back. Both must store the same, or refuse the same, and share no container.
    codec = Codec()
    codec.register(Point)

    def outcome(copy):
        try:
            copied = copy(value)
        except CodecError as exc:
            return "refused", str(exc), None
        return "stored", codec.encode(copied), copied

    got, via_tree = outcome(codec.copy), outcome(lambda v: codec.from_tree(codec.to_tree(v)))
    assert got[:2] == via_tree[:2]
    if got[2] is not None:
        assert not _containers(got[2], set()) & _containers(value, set())
