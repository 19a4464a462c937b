"""The checks of a Mediator's numeric options, made before it opens its store or starts a thread."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from actors._engine import job_log, logger
from actors._errors import EngineStoppedError
from actors._redact import mask_secrets
from actors._seconds import seconds_problem

__all__ = [
    "MAX_RUNNERS",
    "check_options",
    "check_unheld",
    "hold_store",
    "warn_short_lease",
]

MAX_RUNNERS = 1024
"""The most runners: each is a thread (about 20 KB resident and 8 MiB of address space for
its stack on Linux, 0.2 ms to start); steps share one interpreter lock, so beyond a few
dozen only tasks that wait on I/O gain. A typo (``--runners 100000000``) is refused rather
than started until the system runs out of threads."""


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_options(runners: Any, runner_batch: Any, lease_seconds: Any, poll_interval: Any) -> None:
    """Raise ``ValueError`` naming the first option out of its range."""
    if not _count(runners) or not 1 <= runners <= MAX_RUNNERS:
        msg = (
            f"runners must be an int from 1 to {MAX_RUNNERS}, got {runners!r:.40} (each "
            "runner is a thread; beyond a few dozen only tasks that wait on I/O gain)"
        )
        raise ValueError(msg)
    if not _count(runner_batch) or runner_batch < 1:
        msg = f"runner_batch must be an int >= 1, got {runner_batch!r}"
        raise ValueError(msg)
    for name, seconds in (("lease_seconds", lease_seconds), ("poll_interval", poll_interval)):
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or seconds_problem(seconds) is not None
            or seconds <= 0
        ):
            msg = f"{name} must be a finite number of seconds > 0, got {seconds!r:.60}"
            raise ValueError(msg)


def warn_short_lease(lease_seconds: float, poll_interval: float) -> None:
    """Warn of a lease on a shared store that one late renewal would let lapse.

    A worker renews its lease once per poll: shorter than two polls, it lapses whenever
    a renewal comes late, and other workers take its cases over while it runs them
    (``actors worker`` refuses such options; a Mediator warns, and runs as told).
    """
    if lease_seconds < 2 * poll_interval:
        logger.warning(
            "lease_seconds=%g is less than twice poll_interval=%g: this worker renews its "
            "lease once per poll, so one late renewal lets it lapse, and other workers then "
            "take its cases over while it runs them",
            lease_seconds,
            poll_interval,
            extra=job_log(None),
        )


def wait_bound(value: Any, name: str = "timeout") -> float | None:
    """``value`` as a bound on a wait: ``None`` (or infinity) waits for ever.

    ``TypeError`` for what is no number, ``ValueError`` for NaN, a negative number or
    one past a century (``seconds_problem``): refused before anything is done.
    """
    if value is None or (isinstance(value, float) and math.isinf(value) and value > 0):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = (
            f"{name} must be a number of seconds or None, got {type(value).__name__} {value!r:.40}"
        )
        raise TypeError(msg)
    problem = seconds_problem(value)
    if problem is not None or value < 0:
        msg = f"{name} must be a number of seconds >= 0 or None: {problem or f'{value!r} < 0'}"
        raise ValueError(msg)
    return float(value)


def owner_problem(owner: str) -> str | None:
    """What makes ``owner`` no worker's name, or ``None``.

    An empty name names nobody. The name is stamped on every row of the cases the worker
    holds and shown by every command. One that begins ``operator:`` reads as an
    operator's stamp, so a case taken from such a worker after it died gets no "taken
    over" row in its history (the row that explains why its steps ran again); control
    characters would break the lines that show it; and the stores index it as they index
    ids.
    """
    from actors._cases import MAX_ID_LENGTH, lookup_flaw
    from actors.stores._admin_types import OPERATOR_STAMP

    if not owner:
        return "it is empty"
    if owner.startswith(OPERATOR_STAMP):
        return f"it begins {OPERATOR_STAMP!r}, which marks an operator's change"
    flaw = lookup_flaw(owner)
    if flaw:
        return f"it holds a {flaw.strip()[1:-1]}"
    if len(owner) > MAX_ID_LENGTH:
        return f"it is {len(owner):,} characters long, more than {MAX_ID_LENGTH}"
    return None


def check_hooks(store: Any, clock: Any, on_shed: Any, owner: Any = None) -> None:
    """``TypeError`` naming a ``store``, ``clock``, ``on_shed`` or ``owner`` of the wrong kind.

    ``ValueError`` for an ``owner`` that cannot name a worker (``owner_problem``).
    """
    if owner is not None and not isinstance(owner, str):
        msg = f"owner must be a worker's name (a non-empty str), got {owner!r:.40}"
        raise TypeError(msg)
    problem = None if owner is None else owner_problem(owner)
    if problem is not None:
        from actors._cases import shown_id

        msg = f"owner {shown_id(owner)} is not a worker's name: {problem}"
        raise ValueError(msg)
    from actors.stores import Store  # here: the stores import the engine's modules

    if not isinstance(store, str | Store):
        msg = (
            f"store must be a store URL (str) or a Store, got {type(store).__name__} {store!r:.40}"
        )
        raise TypeError(msg)
    if clock is not None and not all(callable(getattr(clock, n, None)) for n in ("now", "alarm")):
        msg = f"clock must have now() and alarm() (an actors Clock), got {type(clock).__name__}"
        raise TypeError(msg)
    if on_shed is not None and not callable(on_shed):
        msg = f"on_shed must be callable (it is told each shed job), got {type(on_shed).__name__}"
        raise TypeError(msg)


def not_started(failure: BaseException | None, stopped: EngineStoppedError) -> Exception:
    """The error of a Mediator whose Scheduler failed as it started: it names the cause.

    (It said only "the mediator is shut down", and pykka's log of the cause goes unheard
    where nothing configures its logger.)
    """
    if failure is None:
        return stopped
    msg = f"the engine could not start: {type(failure).__name__}: {failure}"
    return EngineStoppedError(mask_secrets(msg))


def check_unheld(store: Any, runtime: Any) -> None:
    """``ValueError`` if ``store``, one no other worker may share, serves a running Mediator.

    A Mediator on such a store resumes every unfinished job it holds: a second one would
    run the first one's cases again, side by side. (Under the harness a crashed engine is
    left as it was, and its restart on the same store is the point.)
    """
    if isinstance(store, str) or store.shared or getattr(runtime, "starts_synchronously", False):
        return
    gate = getattr(store, "_mediator_gate", None)
    if gate is not None and not gate.closed:
        msg = (
            f"the store {store.url} serves another Mediator that is still running; a second "
            "Mediator on it would resume that one's unfinished cases and run them again "
            "beside it (only SQL stores take leases); shut the first one down, or give "
            "each Mediator a store of its own"
        )
        raise ValueError(msg)


def hold_store(store: Any, gate: Any) -> None:
    """Mark ``store`` as serving the Mediator whose admission is ``gate`` (until it closes)."""
    with contextlib.suppress(AttributeError):  # a store with __slots__ goes unmarked
        store._mediator_gate = gate
