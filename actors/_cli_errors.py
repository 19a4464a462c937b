"""The ``actors`` program's expected failures: one line on stderr and an exit status."""

from __future__ import annotations

import errno
import math
import os
import sys
import traceback
from typing import IO, Any

import click

from actors._cases import ID_RULE, lookup_flaw, lookup_id, shown_id
from actors._cli_exit import OUTPUT_CLOSED_EXIT, drop_output
from actors._cli_input import text_problem
from actors._errors import ActorsError
from actors._redact import mask_secrets
from actors._text import printable

__all__ = [
    "OUTPUT_FULL",
    "BadArgumentError",
    "CliError",
    "ErrorsInOneLine",
    "Seconds",
    "id_argument",
    "text_argument",
]

_USAGE_EXIT = 2  # the argument is wrong (store URL, module reference): as click's usage errors
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report it
_FAILURE_EXIT = 1  # the arguments are fine but the thing asked for is not there

# A write the disk refused: no room (or quota) left, a file past its size limit, a
# device that failed. The engine's own files are the stores', whose errors are StoreError.
OUTPUT_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})

# Set by ``actors --traceback`` (or -v): an expected failure also shows what caused it.
_SHOW = {"traceback": False}


class CliError(click.ClickException):
    """An expected failure: printed as one ``actors: error: ...`` line on stderr (exit 1).

    With ``actors --traceback`` (``-v``) the traceback of the exception behind it (a
    workflow module that fails to import, a store error) is printed first.
    """

    exit_code = _FAILURE_EXIT

    def __init__(self, message: str) -> None:
        super().__init__(mask_secrets(" ".join(message.split())))

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the message on one line to stderr (after the cause's traceback, if asked)."""
        cause = self.__cause__
        if _SHOW["traceback"] and cause is not None:
            text = "".join(traceback.format_exception(cause))
            click.echo(text.rstrip("\n"), file=file, err=True)
        click.echo(f"actors: error: {self.format_message()}", file=file, err=True)


class BadArgumentError(CliError):
    """A bad store URL or module reference (exit 2, as for click's usage errors)."""

    exit_code = _USAGE_EXIT


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Seconds(click.FloatRange):
    """A number of seconds within a range; ``nan`` and ``inf`` are refused by name.

    (A plain ``FloatRange`` lets ``nan`` through: it compares false with either bound.)
    """

    name = "number of seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number


def text_argument(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback: an id given as bytes that are not UTF-8 is named, not a traceback.

    Text only: a correlation id's step and event names may hold what an id may not
    (``_admin_input.correlation_id_problem`` checks its JOB by ``ID_RULE``).
    """
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise BadArgumentError(f"{_param_name(param)} {problem}")
    return value


def _param_name(param: click.Parameter) -> str:
    """How the command line names ``param``: ``--operator`` for an option, else ``ID``."""
    if isinstance(param, click.Option) and param.opts:
        return max(param.opts, key=len)
    return param.metavar or param.name or "the argument"


def operator_argument(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback for ``--operator``: text a store can keep, as is ``$ACTORS_OPERATOR``.

    The name is written into each job's history: bytes that are not UTF-8 (in the
    option or the variable) failed there, with a traceback.
    """
    value = text_argument(ctx, param, value)
    if not value:
        from actors._admin_input import OPERATOR_ENV

        problem = text_problem(os.environ.get(OPERATOR_ENV, ""))
        if problem is not None:
            raise BadArgumentError(f"{OPERATOR_ENV} {problem}")
    return value


def id_argument(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback for a job's ID: an id a job could have (``ID_RULE``), else exit 2.

    The engine makes and takes only such ids (a case's, a branch's, an ``ids`` factory's),
    so one that fails the rule names no job: the argument is wrong, not the store.
    """
    value = text_argument(ctx, param, value)
    if isinstance(value, str) and not lookup_id(value):
        name = param.metavar or "ID"
        flaw = lookup_flaw(value)  # the control character, escaped, and where it is
        raise BadArgumentError(f"{name} {shown_id(value)}{flaw} is not a job id (one is {ID_RULE})")
    return value


# What click raises to show a group's help when it is given no arguments (click 8.2 on).
_HELP_INSTEAD: tuple[type[BaseException], ...] = tuple(
    filter(None, [getattr(click.exceptions, "NoArgsIsHelpError", None)])
)


class ErrorsInOneLine(click.Group):
    """Turns errors the engine raises on purpose into one-line messages, never tracebacks."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:  # before any command began: click said "Aborted!", status 1
            click.echo("actors: interrupted", err=True)
            raise click.exceptions.Exit(INTERRUPTED_EXIT) from None
        except click.UsageError as exc:  # an option of the program itself (actors --bogus)
            if isinstance(exc, _HELP_INSTEAD):
                raise  # no arguments at all: the help is shown, as asked
            raise BadArgumentError(f"{exc.format_message()} (see 'actors --help')") from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            done = super().invoke(ctx)
            sys.stdout.flush()  # what is still buffered: a closed output is told here
            return done
        except BrokenPipeError:  # the output was closed (| head): nothing more to say
            drop_output()
            ctx.exit(OUTPUT_CLOSED_EXIT)
        except KeyboardInterrupt as exc:  # Ctrl-C: click said only "Aborted!", status 1
            said = f": {printable(str(exc))}" if str(exc) else ""
            click.echo(f"actors: interrupted{said}", err=True)
            ctx.exit(INTERRUPTED_EXIT)
        except ActorsError as exc:  # a store that fails after opening is StoreError too
            raise CliError(str(exc)) from exc
        except OSError as exc:
            if exc.errno not in OUTPUT_FULL:
                raise
            # Output sent to a full disk (`actors jobs list > out.txt`) ended in a
            # traceback; what the flush at exit would fail to write again is dropped.
            drop_output()
            raise CliError(f"cannot write the output: {exc.strerror or exc}") from exc
        except click.UsageError as exc:  # a bad option or argument: one line too
            if isinstance(exc, _HELP_INSTEAD):
                raise  # a group given no command (actors jobs): its help is shown
            where = exc.ctx.command_path if exc.ctx is not None else "actors"
            message = mask_secrets(exc.format_message())
            raise BadArgumentError(f"{message} (see '{where} --help')") from None
        except click.ClickException as exc:  # click's own usage errors may quote a URL
            masked = mask_secrets(exc.message)
            if masked == exc.message:
                raise
            kind = BadArgumentError if exc.exit_code == _USAGE_EXIT else CliError
            raise kind(masked) from None
