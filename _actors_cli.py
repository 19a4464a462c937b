"""The ``actors`` program's entry point, outside the package so that it loads at once.

Loading the program (``actors``, click, rich, the stores) takes a good part of a second,
and a Ctrl-C in that time came out of an import as a Python traceback. A module inside
``actors`` could not catch it: importing it imports the package first. This one imports
nothing of it until ``main`` runs, and stops an interrupted load as the program stops on
any Ctrl-C before its command has begun: one line, exit status 130. Nothing was written
then: no command has read its arguments yet.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report it (as actors._cli_errors does)


def main() -> None:
    """Load the program and run it; a Ctrl-C while it loads ends it with status 130."""
    try:
        from actors._cli import main as program
        from actors._cli_exit import run_then_stop_actors
    except KeyboardInterrupt:
        sys.stderr.write("actors: interrupted\n")
        raise SystemExit(_INTERRUPTED_EXIT) from None
    run_then_stop_actors(program)
