"""The pykka internals the engine relies on exist, and only the seam module uses them.

``actors/_pykka_seam.py`` holds every use of pykka beyond its public API. Upgrading
pykka past the supported range, or a release that renames a hook, fails here first,
naming what changed, rather than somewhere deep in the harness.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import inspect
import re
import threading
from pathlib import Path

import pykka
from bounds import TIMEOUT

from actors import _pykka_seam as seam

ROOT = Path(__file__).resolve().parents[1]


def _version(text: str) -> tuple[int, ...]:
    major, minor = ([int(part) for part in re.findall(r"\d+", text)] + [0])[:2]
    return major, minor


def test_the_installed_pykka_is_in_the_supported_range() -> None:
    low, high = seam.SUPPORTED_PYKKA
    installed = _version(importlib.metadata.version("pykka"))
    assert low <= installed < high, f"pykka {installed} is outside {low} .. {high}"


def test_the_supported_range_is_the_one_the_package_requires() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requires = config["options"]["install_requires"]
    pin = re.search(r"pykka\s*>=\s*([\d.]+)\s*,\s*<\s*([\d.]+)", requires)
    assert pin, f"setup.cfg pins no pykka range: {requires!r}"
    assert (_version(pin.group(1)), _version(pin.group(2))) == seam.SUPPORTED_PYKKA


def test_the_hooks_exist_with_the_calls_the_runtimes_make() -> None:
    for name in (seam.INBOX_HOOK, seam.FUTURE_HOOK):
        hook = inspect.getattr_static(pykka.Actor, name)
        assert isinstance(hook, staticmethod | classmethod), f"pykka.Actor.{name} changed kind"
        assert not inspect.signature(getattr(pykka.Actor, name)).parameters, name
    loop = inspect.getattr_static(pykka.Actor, seam.LOOP_HOOK)
    assert list(inspect.signature(loop).parameters) == ["self"]
    receive = inspect.signature(pykka.Actor._handle_receive)
    assert list(receive.parameters) == ["self", "message"]
    envelope = inspect.signature(seam.Envelope)
    assert list(envelope.parameters)[:2] == ["message", "reply_to"]
    failure = inspect.signature(pykka.Actor._handle_failure)
    assert list(failure.parameters) == ["self", "exception_type", "exception_value", "traceback"]
    for method in ("put", "get", "empty"):
        assert hasattr(seam.ActorInbox, method), f"pykka's ActorInbox has no {method}()"


def test_a_threading_future_keeps_its_value_where_the_guard_reads_it() -> None:
    future: pykka.ThreadingFuture[int] = pykka.ThreadingFuture()
    assert future._result is None  # unresolved: the guard may refuse to wait on it
    future.set(1)
    assert future._result is not None
    assert "timeout" in inspect.signature(pykka.ThreadingFuture.get).parameters
    assert future.get(timeout=1) == 1


def test_the_hooks_plug_into_an_actor_class() -> None:
    made: list[str] = []

    class Echo(pykka.ThreadingActor):
        def on_receive(self, message: object) -> object:
            return message

    def inbox(cls: type) -> object:
        made.append(cls.__name__)
        import queue

        return queue.SimpleQueue()

    cls = type("Seamed", (Echo,), seam.hooks(inbox=inbox))
    ref = cls.start()
    try:
        assert ref.ask("hello", timeout=TIMEOUT) == "hello"
    finally:
        ref.stop()
    assert made == ["Seamed"]


def test_the_seam_knows_every_message_pykka_handles_itself() -> None:
    """The dispatch in ``hooks()`` sends these to pykka and all else to on_receive.

    pykka's ``_handle_receive`` tests each message against its own types; a pykka that
    handles another type itself fails here, not by that type reaching ``on_receive``.
    """
    source = inspect.getsource(pykka.Actor._handle_receive)
    tested = set(re.findall(r"isinstance\(message, messages\.(\w+)\)", source))
    assert tested == {kind.__name__ for kind in seam.PYKKA_MESSAGES}


def test_an_actor_with_the_hooks_serves_pykkas_messages_and_its_own() -> None:
    """A stop, and a proxy's call, get and set, served by pykka; all else by on_receive."""

    class Echo(pykka.ThreadingActor):
        def __init__(self) -> None:
            super().__init__()
            self.value = 1

        def on_receive(self, message: object) -> object:
            return ("on_receive", message)

        def double(self) -> int:
            return 2 * self.value

    cls = type("Dispatched", (Echo,), seam.hooks())
    ref = cls.start()
    try:
        proxy = ref.proxy()
        proxy.value = 4
        assert proxy.value.get(timeout=TIMEOUT) == 4
        assert proxy.double().get(timeout=TIMEOUT) == 8
        assert ref.ask("hello", timeout=TIMEOUT) == ("on_receive", "hello")
        assert ref.ask(("a", "tuple"), timeout=TIMEOUT) == ("on_receive", ("a", "tuple"))
    finally:
        ref.stop()
    assert not ref.is_alive()


def test_init_fields_sets_what_pykkas_init_sets() -> None:
    """The harness's actors skip pykka's __init__ for init_fields: the same fields, no more."""
    made = pykka.ThreadingActor()
    assert set(vars(made)) == seam.INIT_FIELDS  # a pykka that sets more fails here
    light = object.__new__(pykka.ThreadingActor)
    seam.init_fields(light, "urn:test:1", made.actor_stopped)
    assert set(vars(light)) == seam.INIT_FIELDS
    assert light.actor_ref.actor_urn == "urn:test:1" and light.actor_ref.is_alive()


def test_no_other_module_reaches_into_pykka() -> None:
    private = re.compile(
        r"pykka\._|_create_actor_inbox|_create_future|_start_actor_loop|_handle_receive|_handle_failure"
        r"|ThreadingFuture\.get\s*=|original\(self, timeout"  # the get() wrapper
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "actors").rglob("*.py"))
        if path.name != "_pykka_seam.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if private.search(line) and not line.lstrip().startswith("#")
    ]
    assert not offenders, f"pykka internals outside actors/_pykka_seam.py: {offenders}"


def test_told_reads_an_envelope_as_pykka_builds_it() -> None:
    future: pykka.ThreadingFuture[object] = pykka.ThreadingFuture()
    assert seam.told(seam.Envelope("hi")) == (True, "hi")
    assert seam.told(seam.Envelope("hi", reply_to=future)) == (False, "hi")


def test_a_laned_inbox_takes_urgent_tells_aside_on_a_real_actor() -> None:
    from actors._runtime import LanedInbox, ThreadingRuntime

    class Urgent:
        pass

    class Echo(pykka.Actor):
        urgent_messages = frozenset({Urgent})

        def on_receive(self, message: object) -> object:
            return message

    ref = ThreadingRuntime().actor_class(Echo).start()
    try:
        inbox = ref.actor_inbox
        assert isinstance(inbox, LanedInbox)
        lane = inbox.lane
        told = Urgent()
        ref.tell(told)  # through pykka's own ActorRef.tell -> inbox.put(Envelope)
        asked = Urgent()
        assert ref.ask(asked, timeout=TIMEOUT) is asked  # an ask is answered through the queue
        assert list(lane) == [told]
        assert ref.ask("plain", timeout=TIMEOUT) == "plain"
    finally:
        ref.stop()


def test_registry_after_fork_gives_a_free_lock_and_no_parent_refs() -> None:
    """In a forked child (explore(workers=N)): a lock another thread held is replaced."""
    lock, refs = pykka.ActorRegistry._actor_refs_lock, pykka.ActorRegistry._actor_refs
    ref = pykka.ThreadingActor.start()
    held, done = threading.Event(), threading.Event()

    def hold() -> None:  # as a thread of the parent holding it when the parent forked
        with lock:
            held.set()
            done.wait(TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(TIMEOUT)
        seam.registry_after_fork()
        fresh = pykka.ActorRegistry._actor_refs_lock
        assert fresh.acquire(timeout=TIMEOUT)  # the old one would time out here
        fresh.release()
        assert pykka.ActorRegistry.get_all() == []
    finally:
        done.set()
        holder.join(TIMEOUT)
        pykka.ActorRegistry._actor_refs_lock, pykka.ActorRegistry._actor_refs = lock, refs
        ref.stop()


def test_is_actor_stop_knows_the_message_pykkas_stop_puts() -> None:
    put: list[object] = []

    class Watch(pykka.ThreadingActor):
        pass

    def inbox(cls: type) -> object:
        import queue

        fifo: queue.SimpleQueue[object] = queue.SimpleQueue()

        class Spy:
            get, empty = fifo.get, fifo.empty

            def put(self, envelope: object) -> None:
                put.append(envelope.message)  # type: ignore[attr-defined]
                fifo.put(envelope)

        return Spy()

    ref = type("Watched", (Watch,), seam.hooks(inbox=inbox)).start()
    ref.ask("hello", timeout=TIMEOUT)
    ref.stop(timeout=TIMEOUT)
    assert [seam.is_actor_stop(message) for message in put] == [False, True]
