"""pytest plugin for ``actors`` (loaded through the ``pytest11`` entry point).

It imports only pytest at load time; the engine, the harness and Hypothesis are
imported inside the fixtures, so a test session that never uses them pays nothing.

Fixtures:

- ``harness``: a factory, ``harness(workflows, **options) -> Harness``; each harness
  it made is closed after the test. Its default seed is derived from the test's id
  (stable from run to run); ``--actors-seed=N`` overrides it to replay a failure.
- ``virtual_clock``: a ``VirtualClock`` at t=0, to give a real ``Mediator``.
- ``mediator``: a factory, ``mediator(workflows, **options) -> Mediator``: a real,
  threaded Mediator on ``memory://`` by default, shut down after the test.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "harness",
    "mediator",
    "pytest_addoption",
    "pytest_runtest_makereport",
    "virtual_clock",
]

_SHUTDOWN_TIMEOUT = 10.0  # seconds a fixture waits for a real Mediator to stop
_HARNESSES = pytest.StashKey[list[Any]]()  # the harnesses the fixture made for a test
_FAILED = pytest.StashKey[bool]()  # whether the test itself failed (its call phase)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--actors-seed``."""
    group = parser.getgroup("actors", "actors workflow engine")
    group.addoption(
        "--actors-seed",
        type=int,
        default=None,
        help="seed for every harness made by the 'harness' fixture (replays a reported run)",
    )


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """A factory of ``actors.testing.Harness``; what it makes is closed after the test."""
    from actors.testing import Harness, HarnessError

    made: list[Harness] = []
    request.node.stash[_HARNESSES] = made
    forced = request.config.getoption("--actors-seed")
    default_seed = zlib.crc32(request.node.nodeid.encode())

    def make(workflows: Iterable[Any], **options: Any) -> Harness:
        if forced is not None:
            options["seed"] = forced
        elif "data" not in options:
            options.setdefault("seed", default_seed)
        made.append(Harness(workflows, **options))
        return made[-1]

    yield make
    idle = [h._never_ran() for h in made if not h._closed]
    for h in made:
        h.close()
    failed = request.node.stash.get(_FAILED, False)
    if not failed and (said := next((what for what in idle if what is not None), None)):
        # The test checked a run that never happened: it must not pass.
        msg = f"the test ended {said}; run them with h.finish()"
        raise HarnessError(msg)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """After a test's own check fails, how to replay each harness run it made.

    In a section of the report ("actors harness"): a plain ``assert`` after ``h.run()``
    said nothing of the seed, the config or the trace that led there. The harness's own
    failures say it already, and so do errors raised inside ``replay``, ``explore`` and
    ``exhaust``: nothing is added to them.
    """
    report = yield
    if call.when == "call":
        item.stash[_FAILED] = report.failed
    made = item.stash.get(_HARNESSES, None)
    if not made or call.when != "call" or call.excinfo is None or not report.failed:
        return report
    error = call.excinfo.value
    said = any("harness run" in str(note) for note in getattr(error, "__notes__", ()))
    if said or any(h.failure is error for h in made):
        return report
    for number, h in enumerate(made, 1):
        rerun = "" if h.seed is None else f" (rerun this test with --actors-seed={h.seed})"
        headline = f"harness {number} of {len(made)} that this test made{rerun}:"
        report.sections.append(("actors harness", h._describe_failure(headline, with_state=True)))
    return report


@pytest.fixture
def virtual_clock() -> Any:
    """A ``VirtualClock`` at t=0: time moves only when the test calls ``advance()``."""
    from actors.testing import VirtualClock

    return VirtualClock()


@pytest.fixture
def mediator() -> Iterator[Callable[..., Any]]:
    """A factory of real, threaded ``Mediator``s (``memory://`` store); each is shut down after."""
    from actors import Mediator

    made: list[Mediator] = []

    def make(workflows: Iterable[Any], **options: Any) -> Mediator:
        options.setdefault("store", "memory://")
        made.append(Mediator(workflows, **options))
        return made[-1]

    yield make
    for m in made:
        m.shutdown(drain=False, timeout=_SHUTDOWN_TIMEOUT)
