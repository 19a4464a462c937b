"""The ``actors`` command-line program (also ``python -m actors``).

Commands: ``graph`` (Mermaid of a workflow); ``db upgrade`` (apply the schema's
migrations) lives in ``_cli_db``, ``demo`` (order fulfilment on a store) in
``_cli_demo``, ``status`` and ``jobs show`` in ``_cli_status`` (the status summary's rows
in ``_cli_status_rows``), ``enqueue`` in ``_cli_enqueue``, ``worker`` in ``_cli_worker``,
and the operator's commands: ``jobs list`` in ``_cli_jobs``, ``jobs retry|cancel|prune``
and ``events send`` in ``_cli_case_actions``.
Workflow references are resolved in ``_cli_load``; the failures below are ``_cli_errors``.
Expected failures (a bad store URL, a module or attribute that is not there, an unknown
job id) are one line on stderr and a non-zero exit status: 2 for a bad argument (store
URL, module reference), 3 for an action that does not apply, 4 for a case a live worker
holds and did not hand over in time, 1 for anything else. ``--traceback`` (``-v``)
prints the traceback behind the line.

Output goes through click (plain text such as Mermaid) and rich (tables, progress);
logs go to stderr.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console

from actors._cli_console import console
from actors._cli_errors import (
    _SHOW,
    BadArgumentError,
    ErrorsInOneLine,
)
from actors._cli_load import load_workflows
from actors._due_text import until
from actors._errors import StoreError
from actors._json_text import deep_json
from actors._redact import RedactingFilter, mask_url, redacted_logger, remember_secrets
from actors._version import __version__
from actors.stores import Store, open_store

__all__ = ["main"]

logger = redacted_logger("actors.cli")

_STORE_HELP = "Store URL: memory://, sqlite:///path.db or postgresql://... [env: ACTORS_STORE]"


# Options several commands share.
def _secret_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Remember a store URL's password first, so no message of this command can print it."""
    if value is not None:
        remember_secrets(value)
    return value


class _StoreUrl(click.types.StringParamType):
    """A store URL; when it is missing, the error names ``ACTORS_STORE`` as well."""

    def get_missing_message(self, param: click.Parameter, ctx: click.Context | None) -> str:
        # click's own message names only --store: the variable is a way to give it too.
        return "Give a store URL with it, or set the ACTORS_STORE environment variable."


store_option = click.option(
    "--store",
    "store_url",
    required=True,
    type=_StoreUrl(),
    envvar="ACTORS_STORE",
    help=_STORE_HELP,
    callback=_secret_url,
)
workflows_option = click.option(
    "--workflows",
    "refs",
    required=True,
    multiple=True,
    metavar="MODULE[:ATTRIBUTE]",
    help="Where the workflows are: every Workflow in a module, its WORKFLOWS list, or "
    "one attribute. Repeat for several modules.",
)


@click.group(cls=ErrorsInOneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="actors")
@click.option(
    "--traceback",
    "-v",
    "show_traceback",
    is_flag=True,
    envvar="ACTORS_TRACEBACK",
    help="On an error, also print the traceback behind its one-line message.",
)
def main(show_traceback: bool) -> None:
    """Run, inspect and operate workflows of the actors engine.

    Each command has its own --help. Store URLs are memory:// (this process only),
    sqlite:///path.db and postgresql://...; a scheme this installation does not support
    is reported with the forms it accepts.
    """
    _SHOW["traceback"] = show_traceback
    # The driver's own warnings (a connection it drops) reached stderr bare through
    # Python's last-resort handler, beside a command's one-line error; a worker and the
    # dashboard log them in their format (see _cli_worker._log_to_stderr).
    driver = logging.getLogger("psycopg")
    if not any(isinstance(h, logging.NullHandler) for h in driver.handlers):
        driver.addHandler(logging.NullHandler())


# -- shared helpers ----------------------------------------------------------------------------


def _console(width: int | None = None) -> Console:
    # Text from the store is shown as it is: no markup, emoji or control characters.
    return console(width)


def _open_store(url: str, *, say: bool = True, **options: Any) -> Store:
    """``open_store``, its errors a bad argument naming the URL.

    With ``say``, what opening logs about the schema (the migrations it applied, a schema
    a newer release upgraded) is written to stderr: a command has no log of its own to
    show it. A worker, whose log already goes to stderr, passes False.
    """
    handler: logging.Handler | None = None
    stores = logging.getLogger("actors.stores")
    level = stores.level
    if say:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RedactingFilter())
        handler.setFormatter(_SaidFormatter())
        stores.addHandler(handler)
        stores.setLevel(logging.INFO)
    try:
        return open_store(url, **options)
    except (StoreError, OSError) as exc:
        raise BadArgumentError(_cannot_open(url, str(exc))) from exc
    finally:
        if handler is not None:
            stores.removeHandler(handler)
            stores.setLevel(level)


def _cannot_open(url: str, why: str) -> str:
    """Why the store at ``url`` cannot be opened, naming its URL (masked) once.

    The stores' own errors name it (``cannot open the PostgreSQL store at URL: ...``):
    those are said as they are, the others after ``cannot open store 'URL':``.
    """
    shown = mask_url(url)
    return why if shown in why else f"cannot open store {shown!r}: {why}"


class _SaidFormatter(logging.Formatter):
    """``actors: MESSAGE``, or ``actors: warning: MESSAGE`` for a warning."""

    def format(self, record: logging.LogRecord) -> str:
        said = "warning: " if record.levelno >= logging.WARNING else ""
        return f"actors: {said}{record.getMessage()}"


def _open_existing(url: str) -> Store:
    """Open ``url`` to change cases in it: a SQLite file must exist already.

    A mistyped path would otherwise create an empty database, and the command would
    report that it found nothing to change there.
    """
    if url.partition("://")[0].lower() == "sqlite":
        try:
            # refuses, naming the path, when there is no database (what opening says, the
            # store opened next says)
            _open_reader(url, say=False).close()
        except BadArgumentError as exc:
            msg = str(exc.message).replace("(a read-only open creates none)", "(none is created)")
            raise BadArgumentError(msg) from exc.__cause__
    return _open_store(url)


def _open_reader(url: str, *, say: bool = True) -> Store:
    """Open ``url`` to read only: a SQL database must exist; nothing is created or written."""
    if url.partition("://")[0].lower() == "memory":
        return _open_store(url, say=say)
    return _open_store(url, say=say, read_only=True)


def _json_default(value: Any) -> Any:
    """JSON for values json does not know: dataclasses, enums, sets; else their repr."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


def _to_json(value: Any, *, strict: bool = True) -> str:
    """``value`` as indented JSON text.

    ``strict`` (what ``--json`` prints): a float JSON has no number for, which a task may
    leave in a job's data (NaN, an infinity), is written as the string ``"NaN"``,
    ``"Infinity"`` or ``"-Infinity"``; json.dumps writes bare words no JSON reader takes.
    """
    try:
        return json.dumps(
            value, indent=2, default=_json_default, ensure_ascii=False, allow_nan=not strict
        )
    except RecursionError:  # a case tree split hundreds of levels deep
        return deep_json(value, default=_json_default, strict=strict)
    except ValueError as exc:
        if not str(exc).startswith("Out of range float"):
            raise
        return deep_json(value, default=_json_default, strict=True)


def _when(due: float | None) -> str:
    if due is None:
        return "-"
    try:
        return datetime.fromtimestamp(due, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):  # a row edited by hand: year 10000, -1e300
        return f"? ({due!r:.40})"


def _when_due(due: float | None, now: float) -> str:
    """A due time as stored, and how far it is from ``now`` by the store's clock (``_due_text``)."""
    return "-" if due is None else f"{_when(due)} ({until(due, now)})"


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


# -- graph -------------------------------------------------------------------------------------


@main.command()
@click.argument("reference", metavar="MODULE[:ATTRIBUTE]")
@click.option("--markdown", is_flag=True, help="Wrap each diagram in a ```mermaid fence, for docs.")
def graph(reference: str, markdown: bool) -> None:
    """Print the Mermaid flowchart of a workflow.

    MODULE[:ATTRIBUTE] names a Workflow or a list of them, e.g.
    myapp.flows:ORDER; a bare module prints every workflow it defines. The current
    directory is importable, as with python -m. Paste the output into any Mermaid
    renderer (GitHub, mkdocs-material, mermaid.live).
    """
    for index, workflow in enumerate(load_workflows(reference)):
        if index:
            click.echo()
        text = workflow.to_mermaid()
        click.echo(f"```mermaid\n{text}```" if markdown else text.rstrip("\n"))


# The commands of the other modules register themselves on ``main`` when imported.
from actors import (  # noqa: E402, F401
    _cli_case_actions,
    _cli_db,
    _cli_demo,
    _cli_enqueue,
    _cli_jobs,
    _cli_status,
    _cli_ui,
    _cli_worker,
)
