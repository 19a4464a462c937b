"""``actors enqueue``: write cases into a store from the shell, for workers to run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any

import click

from actors._cli import (
    _open_store,
    main,
    store_option,
    workflows_option,
)
from actors._cli_errors import BadArgumentError, CliError, _describe, strict_json
from actors._cli_load import load_workflows
from actors._client import enqueue_many
from actors._errors import ActorsError
from actors._workflow import Workflow

__all__ = ["enqueue"]


def _pick(refs: Sequence[str], name: str, version: int | None) -> Workflow:
    """The workflow ``name`` (its newest version unless ``version``) among ``refs``."""
    found = [wf for ref in refs for wf in load_workflows(ref)]
    matching = [wf for wf in found if wf.name == name]
    if version is not None:
        matching = [wf for wf in matching if wf.version == version]
    if not matching:
        known = ", ".join(sorted(f"{wf.name} v{wf.version}" for wf in found))
        what = repr(name) if version is None else f"{name!r} version {version}"
        msg = f"no workflow {what} in {', '.join(refs)} (found: {known})"
        raise BadArgumentError(msg)
    return max(matching, key=lambda wf: wf.version)


def _lines(source: IO[str]) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line of JSON in ``source``."""
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            yield number, strict_json(line)
        except ValueError as exc:
            msg = f"line {number} is not JSON: {exc}"
            raise CliError(msg) from None


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


def _case_id(value: Any, field: str, number: int) -> str:
    if not isinstance(value, dict) or field not in value:
        msg = f"line {number} has no field {field!r} to name its case by"
        raise CliError(msg)
    return str(value[field])


@main.command()
@click.argument("workflow_name", metavar="WORKFLOW")
@store_option
@workflows_option
@click.option("--version", "version", type=int, default=None, help="Workflow version [newest].")
@click.option("--data", default=None, metavar="JSON", help="One case, with this JSON as its data.")
@click.option(
    "--file",
    "source",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Cases to write, one JSON value per line ('-' reads stdin).",
)
@click.option("--id", "job_id", default=None, help="The case id for --data [a new one].")
@click.option(
    "--id-field",
    default=None,
    metavar="FIELD",
    help="With --file: name each case by this field of its data (a business key).",
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

    Workers sharing the store (actors worker, or a Mediator) claim them on their next poll.
    Give --data for one case or --file for many. Each batch of --file is written in one
    transaction, all of it or none: on an error, the batches before it stay written, and
    the error says how many cases were written and up to which line. With --id-field
    and --skip-existing, the fixed file can then be run again: the cases already written
    are skipped. memory:// is refused: its cases would be gone when this command exits.
    """
    _check_arguments(store_url, data, source, job_id, id_field, skip_existing=skip_existing)
    wf = _pick(refs, workflow_name, version)
    if data is not None:
        try:
            value = strict_json(data)
        except ValueError as exc:
            msg = f"--data is not JSON: {exc}"
            raise BadArgumentError(msg) from None
        batches: Iterator[list[tuple[int, Any]]] = iter([[(0, value)]])
    else:
        assert source is not None
        batches = _batched(_lines(source), batch)
    store = _open_store(store_url)
    progress = _Progress(from_file=source is not None, ids=id_field is not None)
    try:
        for chunk in _guarded(batches, progress):
            ids = None
            if job_id is not None:
                ids = [job_id]
            elif id_field is not None:
                try:
                    ids = [_case_id(value, id_field, number) for number, value in chunk]
                except CliError as exc:
                    raise CliError(f"{exc.message}; {progress}") from None
            values = [value for _, value in chunk]
            if skip_existing and ids is not None:
                there = store.existing(ids)
                progress.skipped += len(there)
                values = [v for v, i in zip(values, ids, strict=True) if i not in there]
                ids = [i for i in ids if i not in there]
            try:
                made = enqueue_many(store, wf, values, job_ids=ids) if values else []
            except (ActorsError, ValueError) as exc:
                where = f" (lines {chunk[0][0]} to {chunk[-1][0]})" if source is not None else ""
                raise CliError(f"{_describe(exc)}{where}; {progress}") from None
            for case in made:
                click.echo(case)
            progress.done(len(made), chunk[-1][0])
    finally:
        store.close()
    if progress.skipped:
        click.echo(f"skipped {progress.skipped} case(s) the store already holds", err=True)


class _Progress:
    """How far ``enqueue --file`` got: what an error must tell the user."""

    def __init__(self, *, from_file: bool, ids: bool) -> None:
        self.from_file = from_file
        self.ids = ids
        self.written = 0
        self.through = 0  # the last line of the last batch written
        self.skipped = 0

    def done(self, written: int, through: int) -> None:
        self.written += written
        self.through = through

    def __str__(self) -> str:
        if not self.from_file:
            return "nothing was written"
        if not self.through:
            return "nothing was written"
        told = f"{self.written} case(s) written, from lines 1 to {self.through}"
        if self.skipped:
            told += f" ({self.skipped} skipped as already there)"
        if self.ids:
            return f"{told}; fix the file and run it again with --skip-existing"
        return (
            f"{told}; they have new ids, so running the whole file again would write them "
            "twice: remove those lines first, or name cases with --id-field and use "
            "--skip-existing"
        )


def _guarded(
    batches: Iterator[list[tuple[int, Any]]], progress: _Progress
) -> Iterator[list[tuple[int, Any]]]:
    """``batches``, with how far the command got added to an error reading the file."""
    while True:
        try:
            chunk = next(batches)
        except StopIteration:
            return
        except CliError as exc:
            raise CliError(f"{exc.message}; {progress}") from None
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
