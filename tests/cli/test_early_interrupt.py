"""A Ctrl-C while the ``actors`` program loads or reads its own options, before any command.

Loading takes a good part of a second; a Ctrl-C in it came out of an import as a Python
traceback, and one while click read the program's options as "Aborted!" (status 1).
Either now stops as a Ctrl-C during a command does: "actors: interrupted", status 130.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from typing import Any

import click
import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

from actors._cli import main

# What the installed ``actors`` script does (pip writes it: import the entry point, call
# it), with a real SIGINT sent to itself as the first module of the stores is imported.
_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from importlib.abc import MetaPathFinder

    class CtrlC(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "actors.stores":
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signal.SIGINT)
            return None

    sys.meta_path.insert(0, CtrlC())
    exec(f"from {sys.argv[1]} import {sys.argv[2]} as main")
    sys.argv[1:] = ["status", "--store", "sqlite:///nowhere.db"]
    sys.exit(main())
    """
)


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_ctrl_c_while_the_program_loads_is_no_traceback(tmp_path: Any) -> None:
    [program] = [ep for ep in entry_points(group="console_scripts") if ep.name == "actors"]
    module, _, attr = program.value.partition(":")
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, module, attr],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        check=False,
        # As a terminal's foreground program: a shell's background job inherits SIGINT
        # ignored, and Python then installs no handler for it at all.
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    assert (done.returncode, done.stderr) == (130, "actors: interrupted\n")
    assert done.stdout == ""
    assert not list(tmp_path.iterdir())  # no store was made


def test_a_ctrl_c_while_the_program_reads_its_options_is_an_interrupt(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> click.Context:
        raise KeyboardInterrupt

    monkeypatch.setattr(click.Group, "make_context", interrupted)
    result = runner.invoke(main, ["status", "--store", "memory://"])
    assert result.exit_code == 130, result.output
    assert result.output == "actors: interrupted\n"
