"""The workflows a command-line reference names (``package.module[:attribute]``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors._cli_errors import BadArgumentError, _describe
from actors._errors import WorkflowDefinitionError
from actors._workflow import Workflow

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

__all__ = ["load_all", "load_workflows"]


def _import_module(ref: str, module_name: str) -> ModuleType:
    """Import ``module_name`` as ``python -m`` would: the working directory comes first."""
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            if module_name.endswith(".py"):  # a file's name, not a module's
                raise BadArgumentError(_a_file_path(ref)) from exc
            msg = (
                f"no module named {missing!r} (in {ref!r}); check the spelling and that it "
                "is importable from the current directory or PYTHONPATH"
            )
            raise BadArgumentError(msg) from exc
        msg = f"importing {module_name!r} failed: {_describe(exc)}"
        raise BadArgumentError(msg) from exc
    except WorkflowDefinitionError as exc:
        msg = f"module {module_name!r} defines an invalid workflow: {exc}"
        raise BadArgumentError(msg) from exc
    except (Exception, SystemExit) as exc:
        msg = f"importing {module_name!r} failed: {_describe(exc)}"
        raise BadArgumentError(msg) from exc


def _a_file_path(ref: str) -> str:
    """The error for a file path given where a module reference goes, naming the module."""
    path, colon, attr = ref.partition(":")
    pieces = path.replace("\\", "/").removesuffix(".py").split("/")
    parts = [piece for piece in pieces if piece not in ("", ".")]
    if not parts or parts[-1] == "..":  # a directory: no module to name
        return f"{ref!r} is not a reference; write package.module or package.module:attribute"
    if path.startswith(("/", "\\")) or ".." in parts:  # outside the current directory
        where = ("/" if path.startswith("/") else "") + "/".join(parts[:-1])
        where = f"with {where or '.'} the current directory or on PYTHONPATH"
        hint = f"{parts[-1]}{colon}{attr}, {where}"
    else:
        hint = f"{'.'.join(parts)}{colon}{attr}, from the current directory"
    return f"{ref!r} is a file path; name the module as python -m does: {hint}"


def _as_workflows(value: Any) -> list[Workflow] | None:
    """``value`` as a list of workflows, or ``None`` when it is not one or a list of them."""
    if isinstance(value, Workflow):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, Workflow) for v in value):
        return list(value)
    return None


def load_workflows(ref: str) -> list[Workflow]:
    """The workflows ``ref`` names: ``package.module:attribute`` or ``package.module``.

    The attribute may be a ``Workflow`` or a list of them. A bare module gives its
    ``WORKFLOWS`` list if it has one, else every ``Workflow`` it defines at top level.
    """
    module_name, colon, attr = ref.partition(":")
    if "/" in module_name or "\\" in module_name:  # no module name holds a slash
        raise BadArgumentError(_a_file_path(ref))
    if not module_name or (colon and not attr) or any(not part for part in module_name.split(".")):
        msg = f"{ref!r} is not a reference; write package.module or package.module:attribute"
        raise BadArgumentError(msg)
    module = _import_module(ref, module_name)
    if attr:
        value: Any = module
        for part in attr.split("."):
            try:
                value = getattr(value, part)
            except AttributeError:
                msg = f"module {module_name!r} has no attribute {attr!r}"
                raise BadArgumentError(msg) from None
        found = _as_workflows(value)
        if not found:
            name = type(value).__name__
            kind = (
                "an empty list"
                if value in ([], ())
                else f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
            )
            msg = f"{ref!r} is {kind}, not a Workflow or a list of Workflows"
            raise BadArgumentError(msg)
        return found
    if hasattr(module, "WORKFLOWS"):
        found = _as_workflows(module.WORKFLOWS)
        if not found:
            msg = f"{module_name}.WORKFLOWS must be a non-empty list of Workflows"
            raise BadArgumentError(msg)
        return found
    seen: dict[int, Workflow] = {}
    for value in vars(module).values():
        if isinstance(value, Workflow):
            seen.setdefault(id(value), value)
    if not seen:
        msg = (
            f"module {module_name!r} defines no Workflow; name one as {module_name}:attribute "
            "or list them in WORKFLOWS"
        )
        raise BadArgumentError(msg)
    return list(seen.values())


def load_all(refs: Sequence[str]) -> list[Workflow]:
    """The workflows of every reference, each once, refusing two of one name and version.

    A module may reach the same ``Workflow`` through another (a list that imports one),
    which counts once. Two different ones under one ``(name, version)`` (a changed
    workflow whose ``version=`` was not raised) would leave the choice between them to
    the order of the references: a worker refuses them, and so does every command.
    """
    found: dict[tuple[str, int], tuple[Workflow, str]] = {}
    for ref in refs:
        for wf in load_workflows(ref):
            seen = found.setdefault(wf.key, (wf, ref))
            if seen[0] is not wf:
                where = f"{seen[1]!r}" + (f" and {ref!r}" if ref != seen[1] else "")
                msg = (
                    f"workflow {wf.name!r} version {wf.version} is defined twice, differently "
                    f"(in {where}); give a changed workflow a new version=, so that each "
                    "case runs the definition it started with"
                )
                raise BadArgumentError(msg)
    return [wf for wf, _ in found.values()]
