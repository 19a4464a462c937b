r"""The rich console the ``actors`` commands print tables, trees and progress with.

What they print comes from a store: job ids, step and workflow names, errors, operators'
names, written by whoever could write the store (a task's exception quoting its input,
an ``enqueue`` file). The console shows such text as it is: it reads no rich markup in
it (``[/path]`` would be an unmatched closing tag, ``[red]`` would vanish from an id the
operator copies), no emoji codes (``:thumbs_up:``), and it writes control characters
(an escape that would clear the screen or retitle the terminal) as ``\x1b``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from actors._text import printable

__all__ = ["console", "printable"]


class _PlainConsole(Console):
    """A console whose strings are plain text: no markup, no emoji, no control characters."""

    def render_str(self, text: str, **options: Any) -> Text:
        """``text`` as rich ``Text``, its control characters written as escapes."""
        return super().render_str(printable(text), **options)


def console(width: int | None = None) -> Console:
    """A console for one command's output.

    Made per command so that output follows ``sys.stdout`` as it is at that moment (tests
    swap it); rich drops colours and animation when stdout is not a terminal. Without a
    ``width`` it is the terminal's, else ``COLUMNS``, else (a pipe, a file) 80.
    """
    return _PlainConsole(highlight=False, soft_wrap=False, width=width, markup=False, emoji=False)
