r"""The rich console the ``actors`` commands print tables, trees and progress with.

What they print comes from a store: job ids, step and workflow names, errors, operators'
names, written by whoever could write the store (a task's exception quoting its input,
an ``enqueue`` file). The console shows such text as it is: it reads no rich markup in
it (``[/path]`` would be an unmatched closing tag, ``[red]`` would vanish from an id the
operator copies), no emoji codes (``:thumbs_up:``), and it writes control characters
(an escape that would clear the screen or retitle the terminal) as ``\x1b``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.text import Text

from actors._text import printable

__all__ = ["console", "printable", "table_console"]


class _PlainConsole(Console):
    """A console whose strings are plain text: no markup, no emoji, no control characters."""

    def render_str(self, text: str, **options: Any) -> Text:
        """``text`` as rich ``Text``, its control characters written as escapes."""
        return super().render_str(printable(text), **options)

    def on_broken_pipe(self) -> None:
        """The output was closed (``| head``): stop as every command does, quietly.

        rich's own handler exited with status 1, as a failure (see ``_cli_exit``).
        """
        self.quiet = True  # nothing more is written, from this console's buffer either
        raise BrokenPipeError


def console(width: int | None = None) -> Console:
    """A console for one command's output.

    Made per command so that output follows ``sys.stdout`` as it is at that moment (tests
    swap it); rich drops colours and animation when stdout is not a terminal. Without a
    ``width`` it is the terminal's, else ``COLUMNS``, else (a pipe, a file) 80.
    """
    environ: Mapping[str, str] = os.environ
    if width is None and "COLUMNS" in environ and _columns() is None:
        # rich took COLUMNS=0 for a width of 0 and printed nothing (exit status 0): a
        # width no table fits in is read as none given.
        environ = {k: v for k, v in environ.items() if k != "COLUMNS"}
    return _PlainConsole(
        highlight=False,
        soft_wrap=False,
        width=width,
        markup=False,
        emoji=False,
        _environ=environ,
    )


def _columns() -> int | None:
    """``COLUMNS`` as a width to print in, or ``None`` (unset, not a number, or 0)."""
    raw = os.environ.get("COLUMNS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


UNBOUNDED = 100_000  # columns for output that is not to a terminal: a table never folds


def table_console() -> Console:
    """The console for a table: the terminal's width, or ``COLUMNS``; else unbounded.

    A pipe or a file has no width to fit: rich would fold at 80 columns, cutting a
    row's values (a workflow, a time, a cursor) in two. The table is as wide as its
    longest row instead, one line per row for ``grep`` and ``sort``.
    """
    made = console()
    if not made.is_terminal and _columns() is None:
        made = console(width=UNBOUNDED)
    return made
