"""Security stays tested: no unpickling, no SQL built from values, no import from stored text.

* The package never imports a deserialiser that can run code (pickle and its kin), never
  calls eval/exec/compile, and uses ``marshal`` only on its own writer-process pipe,
  where a received message holding anything but plain values is refused.
* With pickle and marshal made to fail, whole workflows run and are read back on every
  store: nothing stored or received is unpickled or unmarshalled.
* Every value (ids, names, data, errors, owners, events) reaches SQL as a parameter:
  with a sentinel in each, no SQL text the stores execute ever contains it.
* A stored class tag never imports a module, however it is spelled.
"""

from __future__ import annotations

import ast
import json
import marshal
import pickle
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from bounds import TIMEOUT
from click.testing import CliRunner
from records import record

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Workflow,
)
from actors._cli import main
from actors.stores import _sqlite_connect, _sqlite_process, open_store

PACKAGE = Path(__file__).resolve().parents[2] / "actors"
S = "Zq9'Sentinel\";--"  # a quote, a double quote and a comment: what an injection needs

asked_event = threading.Event()  # set when the workflow's request is sent

# Modules that may import code by name, and why.
_IMPORTERS = {
    "_cli_load.py": "imports the workflow modules the user names on the command line",
    "testing/__init__.py": "lazy imports of its own submodules",
}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_no_module_can_deserialise_code_or_evaluate_text():
    banned_imports = {"pickle", "_pickle", "cPickle", "shelve", "dill", "cloudpickle",
                      "jsonpickle", "yaml", "copyreg"}  # fmt: skip
    found = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            for name in names:
                if name in banned_imports:
                    found.append(f"{rel}: imports {name}")
                if name == "marshal" and rel != "stores/_sqlite_process.py":
                    found.append(f"{rel}: imports marshal")
                if name == "importlib" and rel not in _IMPORTERS:
                    found.append(f"{rel}: imports importlib")
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if called and node.func.id in {"eval", "exec", "compile", "__import__"}:
                found.append(f"{rel}: calls {node.func.id}")
    assert found == []


def test_the_writer_pipe_refuses_a_message_holding_anything_but_plain_values():
    import io

    code = compile("print('ran')", "<x>", "exec")
    for bad in (code, (1, [code]), {"k": frozenset({1})}, ("ok", Ellipsis)):
        stream = io.BytesIO()
        payload = marshal.dumps(bad, 4)
        stream.write(_sqlite_process._HEADER.pack(len(payload)) + payload)
        stream.seek(0)
        with pytest.raises(ValueError, match="not plain data"):
            _sqlite_process._receive(stream)
    stream = io.BytesIO()
    _sqlite_process._send(stream, ("group", [(1, 2.5, "x", None, b"y", True)]))
    stream.seek(0)
    assert _sqlite_process._receive(stream) == ("group", [(1, 2.5, "x", None, b"y", True)])


def _flow(asked):
    def ask(data, ctx):
        asked.append(ctx.correlation_id)
        asked_event.set()

    def fail(data):
        raise ValueError(f"boom {S}")

    return Workflow(
        f"flow {S}",
        start=f"start {S}",
        steps=[
            Sequential(f"start {S}", lambda d: d.update({f"k {S}": f"v {S}"}), next=f"split {S}"),
            ParallelSplit(f"split {S}", branches=[f"a {S}", f"b {S}"]),
            Sequential(f"a {S}", lambda d: d.update(a=S), next=f"join {S}"),
            Sequential(f"b {S}", lambda d: d.update(b=S), next=f"join {S}"),
            Synchronize(f"join {S}", next=f"ask {S}"),
            RequestReaction(f"ask {S}", send=ask, on_reply=lambda d, r: d.update(r=r),
                            next=f"end {S}"),
            Sequential(f"end {S}", fail),
        ],
    )  # fmt: skip


def _run_everything(store_url, asked):
    """Admit, split, join, park, deliver, fault, then read it all back, as operators do."""
    asked_event.clear()
    flow = _flow(asked)
    with Mediator([flow], runners=2, store=store_url, owner=f"owner {S}") as mediator:
        handle = mediator.schedule(flow.name, {f"in {S}": [S, {S: S}]}, job_id=f"case {S}")
        assert asked_event.wait(TIMEOUT), "the case never reached its request"
        mediator.receive_event(asked[0], {f"reply {S}": S})
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    assert S in job.error
    store = open_store(store_url)
    try:
        assert store.get(f"case {S}").data[f"k {S}"] == f"v {S}"
        store.history(f"case {S}")
        store.lease_owners([f"case {S}"])
        store.existing([f"case {S}", f"other {S}"])
    finally:
        store.close()
    for args in (["status"], ["jobs", "show", f"case {S}"]):
        result = CliRunner().invoke(main, [*args, "--store", store_url])
        assert result.exit_code == 0, result.output
    return job


@pytest.fixture
def store_url(make_sql_store):
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


def test_every_value_reaches_sql_as_a_parameter(store_url, monkeypatch):
    statements: list[str] = []
    params: list[str] = []

    def spy(cls, name):
        original = getattr(cls, name)

        def call(self, sql, *args, **kwargs):
            statements.append(str(sql))
            params.append(repr(args))
            return original(self, sql, *args, **kwargs)

        monkeypatch.setattr(cls, name, call)

    for name in ("execute", "executemany"):
        spy(_sqlite_connect.SqliteConnection, name)
        spy(psycopg.Cursor, name)
    spy(psycopg.Connection, "execute")
    _run_everything(store_url, [])
    assert statements, "no statement was seen: the spy is not in the path"
    assert any("Zq9" in p for p in params), "the sentinel never reached SQL at all"
    leaked = [sql for sql in statements if "Zq9" in sql]
    assert leaked == []


def test_nothing_stored_or_received_is_unpickled_or_unmarshalled(store_url, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("stored or received data was unpickled or unmarshalled")

    for module, names in ((pickle, ("loads", "load", "Unpickler")), (marshal, ("loads", "load"))):
        for name in names:
            monkeypatch.setattr(module, name, refuse)
    job = _run_everything(store_url, [])
    assert job.data["r"] == {f"reply {S}": S}


class _ImportSpy:
    """A meta-path finder that records every module import attempted while it is installed."""

    def __init__(self):
        self.names: list[str] = []

    def find_spec(self, name, path=None, target=None):
        self.names.append(name)


def test_a_stored_class_tag_never_imports_a_module(store_url, tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "evil_tag_module.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "evil_tag_module", raising=False)
    store = open_store(store_url)
    try:
        store.create(record("tagged", data={}))
    finally:
        store.close()
    spy = _ImportSpy()
    monkeypatch.setattr(sys, "meta_path", [spy, *sys.meta_path])
    for tag in ("evil_tag_module:Thing", "evil_tag_module.Thing", "os:system",
                "builtins:eval", "evil_tag_module"):  # fmt: skip
        text = json.dumps({"x": {"__dataclass__": tag, "fields": {}}})
        plain = open_store(store_url)
        try:
            plain._write(
                lambda execute, text=text: execute(
                    "UPDATE jobs SET data = ?, state = ? WHERE id = ?", (text, "ready", "tagged")
                ),
                "plant a tag",
            )
            job = plain.get("tagged")
        finally:
            plain.close()
        assert job.state is JobState.FAULTED
        assert "not registered" in job.error
    assert not marker.exists()
    assert "evil_tag_module" not in sys.modules
    assert "evil_tag_module" not in spy.names
