"""The delivery trace, and readable reports of a simulated engine's state."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka
from pykka import messages as pykka_messages

from actors import messages as m
from actors._job import JobRecord, JobState

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from actors.testing._clock import VirtualClock
    from actors.testing._probe import Probe

__all__ = [
    "TRACE_TAIL",
    "TraceEntry",
    "describe_failure",
    "describe_message",
    "format_trace",
    "state_report",
]

TRACE_TAIL = 25  # actions shown in a failure message: enough context, still readable


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One action of a simulated run: a delivery, a clock move, an admission, a fault."""

    index: int
    """Position in the run (0-based)."""
    actor: str
    """Who acted: ``scheduler``, ``runner-1``, ``clock``, ``producer-3``, ``harness``."""
    action: str
    """What happened: a message type (``RunJob``), ``on_start``, ``stop``, ``ring``, ``crash``..."""
    job: str | None = None
    """The job the action concerns, if any."""
    detail: str = ""
    """Anything else worth a glance (the step, a branch index, a time)."""

    def __str__(self) -> str:
        text = f"{self.index:>5}  {self.actor:<12} {self.action:<13} {self.job or '':<6}"
        return f"{text} {self.detail}".rstrip()


def describe_message(message: Any) -> tuple[str, str | None, str]:  # noqa: PLR0911 - a return per kind
    """``(action, job id, detail)`` of an engine message, for the trace."""
    cls = type(message)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = _KINDS[cls] = _kind(cls)
    if kind == _STOP:
        return "stop", None, ""
    name = cls.__name__
    if kind == _PROXY:  # a user actor's proxy: which method or attribute it is about
        return name, None, _proxy_detail(message)
    if kind == _DATA:  # told or asked of a user's actor: which of its messages it is
        return name, None, _shown(message)
    if kind == _EVENT:
        return name, message.correlation_id.split("/", 1)[0], message.correlation_id
    if kind == _CANCEL:
        return name, message.job_id, ""
    # The first job record it carries (a spawn carries its parent too): as message_jobs,
    # without a generator (this describes every delivery).
    job = getattr(message, "job", None)
    if not isinstance(job, JobRecord):
        job = getattr(message, "parent", None)
        if not isinstance(job, JobRecord):
            return name, None, ""
    if kind == _SPAWN:
        # Where the branch starts: which branch is which, without reading the workflow.
        return name, job.id, f"branch {job.branch_index} of {job.parent_id} at {job.step!r}"
    if kind == _ARRIVED:
        return (
            name,
            job.id,
            f"branch {job.branch_index} of {job.parent_id} at {message.join_step!r}",
        )
    if kind == _FAILED:
        return name, job.id, f"runner {message.runner}"
    if kind == _ENDED:  # how it ended: a cancelled loser and a finished winner differ
        return name, job.id, f"{job.state.value} at {job.step!r}"
    if kind == _PARKED and job.error is not None and job.attempt > 1:
        # A retry's backoff: why the step runs again, and when.
        return (
            name,
            job.id,
            f"at {job.step!r}: retry, attempt {job.attempt} at t={job.due} ({job.error})",
        )
    return name, job.id, f"at {job.step!r}" if job.step else ""


_STOP, _EVENT, _CANCEL, _SPAWN, _ARRIVED, _FAILED, _PROXY, _ENDED, _PARKED = range(9)
_DATA, _OTHER = 9, 10
_KINDS: dict[type, int] = {}
"""How ``describe_message`` describes each message class (found once per class)."""


def _kind(cls: type) -> int:
    for base, kind in (
        (pykka_messages._ActorStop, _STOP),
        (m.DeliverEvent, _EVENT),
        (m.JobSendFailed, _EVENT),  # a fault reply: which request failed
        (m.CancelJob, _CANCEL),
        (m.SpawnBranch, _SPAWN),
        (m.BranchArrived, _ARRIVED),
        (m.RunnerFailed, _FAILED),
        (m.JobEnded, _ENDED),
        (m.JobParked, _PARKED),
        (pykka_messages.ProxyCall, _PROXY),
        (pykka_messages.ProxyGetAttr, _PROXY),
        (pykka_messages.ProxySetAttr, _PROXY),
    ):
        if issubclass(cls, base):
            return kind
    # Plain data (``("put", "o1", "paid")``), as users tell and ask their own actors.
    return _DATA if cls in (*_PLAIN, list, tuple, dict) else _OTHER


def _proxy_detail(message: Any) -> str:
    """``take('sku-1', 2)``, ``stock`` or ``stock = 3``: what a proxy message asks for."""
    path = ".".join(message.attr_path)
    if isinstance(message, pykka_messages.ProxyCall):
        args = [_shown(a) for a in message.args]
        args += [f"{k}={_shown(v)}" for k, v in message.kwargs.items()]
        return f"{path}({', '.join(args)})"
    if isinstance(message, pykka_messages.ProxySetAttr):
        return f"{path} = {_shown(message.value)}"
    return path


_PLAIN = (str, int, float, bool, type(None), bytes)


def _shown(value: Any, depth: int = 0) -> str:
    """``value`` for the trace, the same in every run: plain data as written, else its type.

    An actor ref's or an object's repr holds a uuid or an address, which would make two
    runs of one seed print different traces.
    """
    if isinstance(value, _PLAIN) or (
        isinstance(value, list | tuple | dict) and depth < 2 and _all_plain(value, depth)
    ):
        return reprlib.repr(value)
    if isinstance(value, pykka.ActorRef):
        return f"<{value.actor_class.__name__} ref>"
    return f"<{type(value).__name__}>"


def _all_plain(value: list[Any] | tuple[Any, ...] | dict[Any, Any], depth: int) -> bool:
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    return all(_shown(item, depth + 1)[:1] != "<" for item in items)


# What came from outside the engine, or went wrong in it: an event sent, a cancel, an
# injected fault, the test moving the clock. A failure often follows from one of these
# long before it shows (an event sent before its job waits, then an hour's timeout), so a
# report keeps them even where its tail leaves out the actions around them. Every action
# of the "harness" actor is one (an event sent, held, dropped or duplicated, a cancel).
_OUTSIDE = frozenset(
    {
        "DeliverEvent",
        "JobSendFailed",
        "CancelJob",
        "crash",
        "lease-expired",
        "stalled",
        "frozen",
        "wakes",
        "slow step",
        "advance",
    }
)
_KEPT = 10  # outside actions listed from before the tail, the latest ones


def _outside(entry: TraceEntry) -> bool:
    return entry.actor == "harness" or entry.action in _OUTSIDE


def format_trace(entries: Sequence[TraceEntry], tail: int | None = None) -> str:
    """The trace (its last ``tail`` entries), one action per line.

    Of the entries before the tail, the events, cancels and injected faults are listed
    too (the last ``_KEPT`` of them), each with its index, so a report shows the event
    that came too early even when many actions followed it.
    """
    shown = entries if tail is None else entries[-tail:] if tail else []
    skipped = len(entries) - len(shown)
    lines = []
    if skipped:
        kept = [entry for entry in entries[:skipped] if _outside(entry)]
        if kept:
            some = f" (the last {_KEPT} of {len(kept)})" if len(kept) > _KEPT else ""
            lines.append(
                f"  ... {skipped} earlier action(s), among them these events, cancels and"
                f" faults{some}:"
            )
            lines.extend(f"  {entry}" for entry in kept[-_KEPT:])
            lines.append("  ... then:")
        else:
            lines.append(f"  ... {skipped} earlier action(s)")
    lines.extend(f"  {entry}" for entry in shown)
    return "\n".join(lines) or "  (nothing happened)"


def _job(job: JobRecord, probe: Probe) -> str:
    text = f"{job.id} ({job.workflow}) {job.state.name} at {job.step!r}"
    if job.split_total and not job.joined:
        kids = sorted(probe.kids().get(job.id, ()))
        text += (
            f": split {job.split_step!r} into {job.split_total}, "
            f"{len(job.arrivals)} arrived at {job.join_step!r}, live branches {kids}"
        )
    if job.cancel_requested:
        text += " [cancel requested]"
    return text


def _inbox(envelopes: Iterable[Any]) -> str:
    parts = []
    for envelope in envelopes:
        action, job, _ = describe_message(envelope.message)
        parts.append(f"{action}({job})" if job else action)
    return ", ".join(parts) or "empty"


def state_report(probe: Probe, clock: VirtualClock, producers: Sequence[str] = ()) -> str:
    """Who holds which job, which messages wait where, who is blocked, what is parked."""
    lines: list[str] = []
    live = probe.live()
    cases: dict[str, list[JobRecord]] = {}
    for job in live.values():
        cases.setdefault(job.case_id, []).append(job)
    lines.append(f"unfinished cases: {len(cases)}")
    jobs = probe.jobs()
    for case_id, members in sorted(cases.items()):
        lines.append(f"  case {case_id}:")
        lines.extend(f"    {_job(jobs.get(j.id, j), probe)}" for j in members)
    lines.append("actors:")
    running = dict(probe.running().values())
    idle = set(probe.idle())
    for cell in probe.runtime.cells:
        what = []
        index = getattr(cell.actor, "_index", None)
        if cell.blocker is not None:
            held = ", ".join(cell.blocker.holds())
            what.append(f"BLOCKED: {cell.blocker.why}" + (f" (holding {held})" if held else ""))
        if isinstance(index, int) and index in running:
            job = running[index]
            what.append(f"holds {job.id} at {job.step!r}")
        elif isinstance(index, int) and index in idle:
            what.append("idle")
        if cell.busy and cell.blocker is None and cell.paused_at is not None:
            what.append(f"BUSY: paused before {cell.paused_at!r} while others act (not blocked)")
        elif cell.busy and cell.blocker is None:
            what.append("BUSY: mid-delivery, waiting on a reply or between two steps")
        if not cell.started:
            what.append("not started")
        what.append(f"inbox: {_inbox(cell.pending)}")
        lines.append(f"  {cell.name}: " + "; ".join(what))
    gate = probe.gate
    queued = ", ".join(f"{j.id} ({j.workflow})" for j in probe.queued()) or "none"
    lines.append(
        f"admission gate: {gate.used}/{gate.capacity} used ({gate.mode.name}); queued: {queued}"
    )
    blocked = [b for b in probe.runtime.blockers if b.cell is None]
    lines.append(
        "blocked producers: "
        + (", ".join(f"{b.name} ({b.why})" for b in blocked) or "none")
        + (f"; refused: {', '.join(producers)}" if producers else "")
    )
    ready = ", ".join(j.id for j in probe.ready()) or "none"
    lines.append(f"ready, not yet taken: {ready}")
    timers = probe.timers()
    corrs = probe.correlations()
    parked = [j for j in jobs.values() if j.state is JobState.WAITING]
    lines.append(f"parked jobs: {len(parked)}")
    for job in parked:
        extra = []
        if job.id in timers:
            extra.append(f"timer due {timers[job.id]}")
        if job.id in corrs:
            extra.append(f"waits on events {', '.join(corrs[job.id])}")
        lines.append(f"  {_job(job, probe)}" + (f"; {'; '.join(extra)}" if extra else ""))
    nxt = clock.next_alarm()
    lines.append(f"clock: t={clock.now()}, next alarm: {'none' if nxt is None else nxt}")
    return "\n".join(lines)


def describe_failure(
    headline: str,
    seed: int | None,
    options: Mapping[str, Any],
    faults: str,
    state: str | None,
    trace: Sequence[TraceEntry],
) -> str:
    """A failure message: what failed, how to replay it, the config, the state, the trace tail."""
    strategy = options.get("strategy")
    if options.get("replay_choices") is not None:
        choices = options["replay_choices"]
        how = f"choices: {choices} (replay: Harness(..., choices={choices}) with the same options)"
    elif seed is not None:
        also = f", strategy={strategy!r}" if strategy is not None else ""
        how = f"seed: {seed} (replay: Harness(..., seed={seed}{also}) with the same options)"
    else:
        how = "seed: none; choices came from Hypothesis data (Hypothesis replays the example)"
    config = (
        f"config: runners={options['runners']} capacity={options['capacity']} "
        f"full_mode={options['full_mode'].name} runner_batch={options['runner_batch']}; "
        f"faults: {faults}"
    )
    parts = [headline, how, config]
    if state is not None:
        parts.append(state)
    parts.append(f"last {min(TRACE_TAIL, len(trace))} of {len(trace)} actions:")
    parts.append(format_trace(trace, TRACE_TAIL))
    return "\n".join(parts)
