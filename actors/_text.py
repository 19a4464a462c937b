"""Text in one place: whether a str is text every store can keep, and how text is shown."""

from __future__ import annotations

import re

__all__ = ["UNSHOWN", "is_unicode", "printable"]

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
