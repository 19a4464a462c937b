"""Texts the pages show, masked once and kept: a refresh does not mask them again.

A page shows the same stored errors and data at every refresh (every two seconds while
a case runs), and masking a hostile text (many ``x://`` and ``@``, chosen by whoever
chooses a task's input) costs about a microsecond a character. Each view of a text is
made once and kept by a digest of the text, until another password is remembered
(``actors._redact.remember_secrets``): a text masked before may hold the new one.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

from actors._redact import secrets_remembered

__all__ = ["Kept"]


class Kept:
    """The views of texts made last, at most ``size`` of them (the least used go first).

    Args:
        size: how many views are kept; each is what a page shows of a text (cut), so
            the memory they take is bounded.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._views: OrderedDict[tuple[bytes, int, object], str] = OrderedDict()
        self._lock = threading.Lock()

    def view(self, text: str, kind: object, make: Callable[[str], str]) -> str:
        """``make(text)``, made once per ``text`` and ``kind`` (and kept)."""
        key = (
            hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(),
            secrets_remembered(),
            kind,
        )
        with self._lock:
            found = self._views.get(key)
            if found is not None:
                self._views.move_to_end(key)
                return found
        made = make(text)  # outside the lock: other pages' texts need not wait
        with self._lock:
            self._views[key] = made
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return made
