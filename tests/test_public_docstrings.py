"""Public docstrings name public things only: a reader of ``help()`` cannot follow the rest.

A private module or name (``actors._admin_changes.retry_change``) may be renamed or
removed in any release; a public docstring that sends its reader there leads nowhere.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator

import pytest

# ``actors._x``, ``actors.stores._x``, or a bare ``_name`` quoted as code.
PRIVATE = re.compile(r"\bactors(?:\.\w+)*\._(?!_)\w+|``_(?!_)\w+")

MODULES = [
    "actors",
    "actors.admin",
    "actors.messages",
    "actors.metrics",
    "actors.stores",
    "actors.testing",
    "actors.tracing",
]


def _docstrings(module_name: str) -> Iterator[tuple[str, str]]:
    module = importlib.import_module(module_name)
    yield module_name, module.__doc__ or ""
    for name in module.__all__:
        value = getattr(module, name)
        yield f"{module_name}.{name}", inspect.getdoc(value) or ""
        if not inspect.isclass(value):
            continue
        for attribute, member in vars(value).items():
            if attribute.startswith("_") or not (
                inspect.isfunction(member) or isinstance(member, classmethod | property)
            ):
                continue
            yield f"{module_name}.{name}.{attribute}", inspect.getdoc(member) or ""


@pytest.mark.parametrize("module_name", MODULES)
def test_public_docstrings_name_no_private_module_or_name(module_name: str) -> None:
    found = [
        f"{where}: {match.group(0)}"
        for where, doc in _docstrings(module_name)
        for match in PRIVATE.finditer(doc)
    ]
    assert found == []
