"""``actors enqueue``: write cases into a store from the shell, for workers to run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any

import click

from actors._cases import ID_RULE, id_flaw, shown_id, valid_id
from actors._cli import (
    _open_store,
    main,
    store_option,
    workflows_option,
)
from actors._cli_enqueue_progress import Progress
from actors._cli_enqueue_stream import Pipe, pipe_of, timed_batches
from actors._cli_errors import OUTPUT_FULL, BadArgumentError, CliError, _describe
from actors._cli_exit import drop_output
from actors._cli_input import VERSION, InputError, strict_json, text_problem
from actors._cli_interrupt import AgainInterrupt, interrupt_after, terminate_as_interrupt
from actors._cli_load import load_all
from actors._client import enqueue_many
from actors._errors import ActorsError, CodecError, JobExistsError
from actors._workflow import Workflow
from actors.stores import Store

__all__ = ["enqueue"]


def _pick(refs: Sequence[str], name: str, version: int | None) -> Workflow:
    """The workflow ``name`` (its newest version unless ``version``) among ``refs``."""
    found = load_all(refs)
    matching = [wf for wf in found if wf.name == name]
    if version is not None:
        matching = [wf for wf in matching if wf.version == version]
    if not matching:
        known = ", ".join(sorted(f"{wf.name} v{wf.version}" for wf in found))
        what = repr(name) if version is None else f"{name!r} version {version}"
        msg = f"no workflow {what} in {', '.join(refs)} (found: {known})"
        raise BadArgumentError(msg)
    return max(matching, key=lambda wf: wf.version)


MAX_LINE = 64 * 1024 * 1024  # characters in one line of --file (one case's JSON)


def _shown(source: IO[str]) -> str:
    """How errors name the ``--file``: its path as given, or stdin."""
    name = getattr(source, "name", None)
    if not isinstance(name, str) or name in {"-", "<stdin>"}:
        return "stdin"
    return repr(name)


def _lines(source: IO[str], shown: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line of JSON in ``source``.

    ``source`` keeps bytes that are not UTF-8 as surrogates, so that such a line is
    refused by its number (decoding strictly would fail inside the loop, unnamed).
    """
    number = 0
    while read := source.readline(MAX_LINE + 1):
        number += 1
        item = _parsed(number, read, shown)
        if item is not None:
            yield item


def _parsed(number: int, read: str, shown: str) -> tuple[int, Any] | None:
    """Line ``number`` of the file (as read, with its line end) and its value; None if blank."""
    if len(read) > MAX_LINE:  # read no further: a file with no line ends never would
        msg = (
            f"line {number} of {shown} is longer than {MAX_LINE:,} characters, the most "
            "one case's line may hold"
        )
        raise BadArgumentError(msg)
    # A byte order mark some editors write first is no part of the JSON.
    line = read.removeprefix("\ufeff") if number == 1 else read
    if not line.strip():
        return None
    try:
        return number, strict_json(line)
    except InputError as exc:
        msg = f"line {number} of {shown} {exc}"
        raise BadArgumentError(msg) from None


def _batches_of(source: IO[str], shown: str, size: int) -> Iterator[list[tuple[int, Any]]]:
    """The batches of ``--file``: from a pipe, also each once its first line waited a little."""
    fd = pipe_of(source)
    if fd is None:
        return _batched(_lines(source, shown), size)
    pipe = Pipe(fd, MAX_LINE)
    return timed_batches(pipe, lambda number, read: _parsed(number, read, shown), size)


def _check_arguments(
    store_url: str,
    data: str | None,
    source: IO[str] | None,
    job_id: str | None,
    id_field: str | None,
    *,
    skip_existing: bool,
) -> None:
    """Refuse options that do not go together, and a store that keeps nothing."""
    if store_url.partition("://")[0].lower() == "memory":
        msg = (
            "memory:// keeps cases only inside one process: they would be gone when "
            "enqueue exits, before any worker could run them; enqueue into the "
            "sqlite:/// or postgresql:// store your workers use"
        )
        raise BadArgumentError(msg)
    if skip_existing and job_id is None and id_field is None:
        msg = "--skip-existing skips cases by id: give --id (with --data) or --id-field"
        raise BadArgumentError(msg)
    if (data is None) == (source is None):
        msg = "give either --data (one case) or --file (one case per line)"
        raise BadArgumentError(msg)
    if job_id is not None and data is None:
        msg = "--id names the one case of --data; with --file use --id-field"
        raise BadArgumentError(msg)
    if id_field is not None and source is None:
        msg = "--id-field names each case of --file; with --data use --id"
        raise BadArgumentError(msg)
    for option, text in (("--id", job_id), ("--id-field", id_field)):
        problem = None if text is None else text_problem(text)
        if problem is not None:
            raise BadArgumentError(f"{option} {problem}")
    if job_id is not None and not valid_id(job_id):
        msg = f"--id {shown_id(job_id)}{id_flaw(job_id)} is not a case id ({ID_RULE})"
        raise BadArgumentError(msg)


def _json_kind(value: Any) -> str:
    """How an error names a JSON value that cannot be a case id."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return shown_id(value)


def _case_id(value: Any, field: str, where: str) -> str:
    """The case id line ``where`` names by ``field``: a string, or an int as its digits."""
    if not isinstance(value, dict):
        kind = _json_kind(value)
        msg = f"{where} is {kind}, not an object with a field {field!r} to name its case by"
        raise BadArgumentError(msg)
    if field not in value:
        msg = f"{where} has no field {field!r} to name its case by"
        raise BadArgumentError(msg)
    key = value[field]
    if type(key) is int:  # not a bool: True would name the case "True"
        key = str(key)
    if type(key) is not str or not valid_id(key):
        kind = _json_kind(key) + id_flaw(key)
        msg = f"{where}: field {field!r} is {kind}, not a case id ({ID_RULE}; or an integer)"
        raise BadArgumentError(msg)
    return key


class _Ids:
    """The case ids of ``--file`` by ``--id-field``, each checked, none twice in the file.

    Every id read is remembered with its line, so that a repeat in a later batch is
    refused by both line numbers, not written over or skipped as already there.
    """

    def __init__(self, field: str, shown: str) -> None:
        self.field = field
        self.shown = shown
        self.lines: dict[str, int] = {}

    def of(self, chunk: list[tuple[int, Any]]) -> list[str]:
        ids = []
        for number, value in chunk:
            where = f"line {number} of {self.shown}"
            case_id = _case_id(value, self.field, where)
            first = self.lines.setdefault(case_id, number)
            if first != number:
                msg = (
                    f"{where}: case id {shown_id(case_id)} (field {self.field!r}) is on line "
                    f"{first} too: each case needs an id of its own"
                )
                raise BadArgumentError(msg)
            ids.append(case_id)
        return ids


@main.command()
@click.argument("workflow_name", metavar="WORKFLOW")
@store_option
@workflows_option
@click.option("--version", "version", type=VERSION, default=None, help="Workflow version [newest].")
@click.option("--data", default=None, metavar="JSON", help="One case, with this JSON as its data.")
@click.option(
    "--file",
    "source",
    type=click.File("r", encoding="utf-8", errors="surrogateescape"),
    default=None,
    help="Cases to write, one JSON value per line ('-' reads stdin).",
)
@click.option("--id", "job_id", default=None, help="The case id for --data [a new one].")
@click.option(
    "--id-field",
    default=None,
    metavar="FIELD",
    help="With --file: name each case by this field of its data (a business key: a string, "
    "or an integer, which names the case by its digits).",
)
@click.option(
    "--batch",
    default=500,
    show_default=True,
    type=click.IntRange(1),
    help="Cases per transaction with --file.",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Skip cases whose id (--id or --id-field) the store holds already, so a file that "
    "failed part-way can be run again once fixed.",
)
def enqueue(  # noqa: PLR0913, PLR0917 - click passes every option as an argument
    workflow_name: str,
    store_url: str,
    refs: Sequence[str],
    version: int | None,
    data: str | None,
    source: IO[str] | None,
    job_id: str | None,
    id_field: str | None,
    batch: int,
    skip_existing: bool,
) -> None:
    """Write new cases of WORKFLOW into a store; print their ids, one per line.

    Workers sharing the store (actors worker, or a Mediator) are woken and claim them at
    once (at their next poll if a wake-up is missed).
    Give --data for one case or --file for many. Each batch of --file is written in one
    transaction, all of it or none: on an error, the batches before it stay written, and
    the error says how many cases were written and up to which line. With --id-field
    and --skip-existing, the fixed file can then be run again: the cases already written
    are skipped. memory:// is refused: its cases would be gone when this command exits.
    """
    _check_arguments(store_url, data, source, job_id, id_field, skip_existing=skip_existing)
    wf = _pick(refs, workflow_name, version)
    shown = "--data"
    if data is not None:
        try:
            value = strict_json(data)
        except InputError as exc:
            raise BadArgumentError(f"--data {exc}") from None
        batches: Iterator[list[tuple[int, Any]]] = iter([[(0, value)]])
    else:
        assert source is not None
        shown = _shown(source)
        batches = _batches_of(source, shown, batch)
    with terminate_as_interrupt():  # kill, timeout: the batch under way ends as on Ctrl-C
        _write_all(store_url, wf, batches, source, job_id, id_field, shown, skip_existing)


def _write_all(
    store_url: str,
    wf: Workflow,
    batches: Iterator[list[tuple[int, Any]]],
    source: IO[str] | None,
    job_id: str | None,
    id_field: str | None,
    shown: str,
    skip_existing: bool,
) -> None:
    """Write the batches, printing each one's ids; say what was written if stopped."""
    store = _open_store(store_url)
    progress = Progress(from_file=source is not None, ids=id_field is not None)
    named = None if id_field is None else _Ids(id_field, shown)
    try:
        for chunk in _guarded(batches, progress):
            ids = None
            if job_id is not None:
                ids = [job_id]
            elif named is not None:
                try:
                    ids = named.of(chunk)
                except CliError as exc:
                    raise _with(exc, progress) from None
            values = [value for _, value in chunk]
            if skip_existing and ids is not None:
                there = store.existing(ids)
                progress.skipped += len(there)
                values = [v for v, i in zip(values, ids, strict=True) if i not in there]
                ids = [i for i in ids if i not in there]
            _write(store, wf, chunk, values, ids, progress)
    except AgainInterrupt:  # a second Ctrl-C: the batch under way may be written or not
        raise KeyboardInterrupt(progress.cut_short(chunk)) from None
    except KeyboardInterrupt:  # Ctrl-C between batches: say what is written
        raise KeyboardInterrupt(progress.interrupted()) from None
    finally:
        store.close()
    if progress.skipped:
        click.echo(f"skipped {progress.skipped} case(s) the store already holds", err=True)
    if source is not None and not progress.through:  # a wrong file, an idle producer
        msg = f"{shown} holds no line of JSON (blank lines are skipped): nothing was written"
        click.echo(f"actors: warning: {msg}", err=True)


def _write(
    store: Store,
    wf: Workflow,
    chunk: list[tuple[int, Any]],
    values: list[Any],
    ids: list[str] | None,
    progress: Progress,
) -> None:
    """Write one batch and print its ids: both, or neither; Ctrl-C waits for both."""
    with interrupt_after():
        try:
            made = enqueue_many(store, wf, values, job_ids=ids) if values else []
        except (ActorsError, ValueError) as exc:
            where = f" (lines {chunk[0][0]} to {chunk[-1][0]})" if progress.from_file else ""
            raise _refused(exc, f"{where}; {progress}") from None
        progress.done(len(made), chunk[-1][0])
        _print_ids(made, progress)


def _print_ids(made: list[str], progress: Progress) -> None:
    """Print the ids of cases just written; a closed stdout (``| head``) is an error.

    click exited 1 at once, saying nothing, the rest of the file not written.
    """
    try:
        for case in made:
            click.echo(case)
    except OSError as exc:
        if not isinstance(exc, BrokenPipeError) and exc.errno not in OUTPUT_FULL:
            raise
        drop_output()  # unlike a listing cut short: the rest is not written
        said = progress.interrupted()
        why = (
            "was closed (a broken pipe)"
            if isinstance(exc, BrokenPipeError)
            else f"cannot be written ({exc.strerror or exc})"
        )
        msg = f"the output {why}, so the ids stopped; {said}"
        raise CliError(msg) from None


def _refused(exc: Exception, told: str) -> CliError:
    """The error for a batch ``enqueue_many`` refused; ``told``: its lines and the progress.

    Data no store can keep, or ids it cannot take, are the user's input (exit 2); an id
    the store holds already, or a store that fails, exit 1. The store's own errors keep
    their class name; the others say all in their message.
    """
    if isinstance(exc, JobExistsError):  # a ValueError too
        return CliError(f"{exc}{told}")
    if isinstance(exc, CodecError | ValueError):
        return BadArgumentError(f"{exc}{told}")
    return CliError(f"{_describe(exc)}{told}")


def _with(exc: CliError, progress: Progress) -> CliError:
    """``exc`` (of the same class, so the same exit status) telling how far enqueue got."""
    return type(exc)(f"{exc.message}; {progress}")


def _guarded(
    batches: Iterator[list[tuple[int, Any]]], progress: Progress
) -> Iterator[list[tuple[int, Any]]]:
    """``batches``, with how far the command got added to an error reading the file."""
    while True:
        try:
            chunk = next(batches)
        except StopIteration:
            return
        except CliError as exc:
            raise _with(exc, progress) from None
        yield chunk


def _batched(items: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
