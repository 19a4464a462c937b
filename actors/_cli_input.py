"""What the ``actors`` program reads from its user: JSON and ids, checked before any use.

A value given as ``--data`` or as a line of ``--file`` must be JSON that a store keeps as
it was given: text (no bytes that are not UTF-8, no lone surrogate), finite numbers, and
arrays and objects nested at most ``MAX_JSON_DEPTH`` levels below the top value (an
event's payload: ``MAX_EVENT_DEPTH``). What is wrong is an ``InputError`` whose message
names no place: the caller puts the place first (``--data``, ``line 3 of
'cases.jsonl'``), as in ``--data is not JSON: ...``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from typing import Any

import click

from actors._cases import shown_id
from actors.stores._plain_data import MAX_DEPTH

__all__ = [
    "MAX_EVENT_DEPTH",
    "MAX_JSON_DEPTH",
    "VERSION",
    "InputError",
    "strict_json",
    "text_problem",
]

# The stores refuse data nested deeper than this (their encoder walks it recursively),
# counted as they count it: the top value is level 0. Refused here, by where it is given.
MAX_JSON_DEPTH = MAX_DEPTH
MAX_EVENT_DEPTH = 100
"""Levels an event's payload may nest below its top value (``events send``, the
dashboard). Less than the stores' limit: they keep the payload inside the event's
record, then the job keeps it inside its data; at the stores' limit the event was
refused by the store after the command had taken it."""
# A workflow version an option may name: one a store's 64-bit column can hold (a larger
# one made SQLite raise OverflowError from inside the command).
VERSION = click.IntRange(1, 2**63 - 1)


def _too_deep(levels: int) -> str:
    return f"is nested more than {levels} levels deep (arrays and objects)"


class InputError(ValueError):
    """Why a text the user gave is not JSON a store keeps; the message starts with a verb.

    ``f"--data {exc}"`` reads ``--data is not JSON: Expecting ',' delimiter at column 9``.
    """


class _RefusedError(ValueError):
    """Raised from inside ``json.loads`` (by a hook); becomes an ``InputError``."""


class _Bad(Exception):  # noqa: N818 - internal signal, never escapes this module
    """A value of the parsed tree is refused; ``where`` collects its path while unwinding.

    ``why`` says where the path goes with the marker ``{at}``.
    """

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why
        self.where: list[str] = []


def _place(text: str, pos: int) -> str:
    """Where ``pos`` is in ``text``: a column, with the line when the text has several."""
    body = text.rstrip()
    if pos >= len(body):
        return "at the end"
    if "\n" not in body:
        return f"at column {pos + 1}"
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"at line {line}, column {column}"


def _lone(char: str) -> str:
    return f"the lone surrogate \\u{ord(char):04x} (half of a UTF-16 pair)"


def text_problem(text: str) -> str | None:
    """Why ``text`` (an argument, a line) is not text a store can keep; ``None`` if it is.

    An argument or file with bytes that are not UTF-8 reaches Python as surrogates (each
    byte it could not decode kept as one): they pass every check, then fail where the
    text is encoded to be stored.
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char, place = text[exc.start], _place(text, exc.start)
        if 0xDC80 <= ord(char) <= 0xDCFF:
            return f"is not UTF-8 text (byte 0x{ord(char) - 0xDC00:02x} {place})"
        return f"holds {_lone(char)} {place}, which is not text"
    return None


def _no_constant(name: str) -> Any:
    msg = f"holds {name}, which is not JSON (JSON has no NaN or Infinity)"
    raise _RefusedError(msg)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's dict; one that gives a key twice is refused (``json`` keeps its last value)."""
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            msg = (
                f"gives the key {shown_id(key)} twice in one object: which of its values is "
                "meant is not said (JSON readers differ in the one they keep)"
            )
            raise _RefusedError(msg)
        seen.add(key)
    return value  # not reached: a dict shorter than its pairs has a key twice


def strict_json(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    r"""The value of the JSON ``text``, or ``InputError`` saying what is wrong and where.

    Refused beyond ``json.loads``: ``NaN``, ``Infinity`` and ``-Infinity`` (Python reads
    them; no JSON reader reads them back), a number too large for a float (``1e999``
    would be stored as ``Infinity``), a string with a lone surrogate (``"\ud800"``),
    bytes that are not UTF-8, nesting deeper than ``max_depth`` levels below the top
    value (``MAX_JSON_DEPTH``, the stores' limit: what this takes, a store keeps), and an
    object that gives a key twice.
    """
    problem = text_problem(text)
    if problem is not None:
        raise InputError(problem)
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        msg = f"is not JSON: {exc.msg} {_place(text, exc.pos)}"
        raise InputError(msg) from None
    except RecursionError:
        raise InputError(_too_deep(max_depth)) from None
    except _RefusedError as exc:
        raise InputError(str(exc)) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        msg = f"is not JSON a store can keep: {exc}"
        if "integer string conversion" in msg:
            limit = sys.get_int_max_str_digits()
            msg = f"holds an integer of more than {limit} digits, more than Python reads"
        raise InputError(msg) from None
    try:
        _check(value, 0, max_depth)
    except _Bad as bad:
        path = "".join(reversed(bad.where))
        raise InputError(bad.why.replace("{at}", f" at {path}" if path else "")) from None
    return value


def _check(value: Any, depth: int, max_depth: int) -> None:
    """Refuse a non-finite float, a string that is not text, or nesting too deep."""
    kind = type(value)
    if kind is str:
        if not value.isascii():
            _check_text(value)
        return
    if kind is float:
        if not math.isfinite(value):
            msg = (
                "holds a number{at} too large for a float: it would be stored as "
                "Infinity, which is not JSON"
            )
            raise _Bad(msg)
        return
    if kind is not dict and kind is not list:
        return
    if depth > max_depth:
        raise _Bad(_too_deep(max_depth))
    pairs: Iterable[tuple[Any, Any]] = value.items() if kind is dict else enumerate(value)
    for key, item in pairs:
        try:
            if kind is dict and not key.isascii():
                _check_text(key, what="a key")
            _check(item, depth + 1, max_depth)
        except _Bad as bad:
            bad.where.append(f"[{key!r}]")
            raise


def _check_text(text: str, what: str = "a string") -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Bad(f"holds {what}{{at}} with {_lone(text[exc.start])}, which is not text") from None
