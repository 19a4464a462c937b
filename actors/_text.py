"""Text in one place: whether a str is text every store can keep, and how text is shown."""

from __future__ import annotations

import re

__all__ = ["UNSHOWN", "NotUtf8", "is_unicode", "printable", "read_sqlite_text"]

# What would not show as itself: the C0 controls but newline and tab, DEL and the C1
# controls (0x9b is a terminal's CSI, as ESC [ is), the line and paragraph separators,
# and the bidirectional controls, which reorder how the rest of a line is drawn (a
# stored id could be shown as another one). A character class's body, for ids too.
UNSHOWN = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSHOWN = re.compile(f"[{UNSHOWN}]")


def printable(text: str) -> str:
    r"""``text`` with each character that would not show as itself written as its escape.

    Those are the control characters but newline and tab (``\x1b``), the line and
    paragraph separators and the bidirectional controls (``\u202e``): in a terminal or a
    page they move the cursor, break lines or reorder what follows.
    """
    if _UNSHOWN.search(text) is None:
        return text
    return _UNSHOWN.sub(lambda found: repr(found.group())[1:-1], text)


def is_unicode(text: str) -> bool:
    """Whether UTF-8 can encode ``text``: no lone surrogate, which no database stores.

    Python strs may hold them (``os.listdir`` of a name that is not UTF-8, bytes decoded
    with ``surrogateescape``). ASCII text, most text, is answered without encoding.
    """
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class NotUtf8(str):
    r"""Text a SQLite column held as bytes that are not UTF-8, each bad byte written ``\xff``.

    SQLite keeps whatever bytes another program writes into a text column. Read as its
    escaped form (text every store and terminal takes), the row can be named and faulted
    by whoever reads it; its type says the value is not what was stored, so readers refuse
    it where a value must be exact (a job's columns, JSON to decode).
    """

    __slots__ = ()


def read_sqlite_text(raw: bytes) -> str:
    """A SQLite text column's value: its UTF-8 text, or a ``NotUtf8`` if it is not UTF-8.

    The ``text_factory`` of every SQLite connection: with the default, one such value
    failed every statement that read its row (a worker's claims of every case included).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return NotUtf8(raw.decode("utf-8", "backslashreplace"))
