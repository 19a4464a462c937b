"""Whether a str is text every store can keep, checked in one place."""

from __future__ import annotations

__all__ = ["is_unicode"]


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
