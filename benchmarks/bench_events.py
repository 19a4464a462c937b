"""Delivering external events with N cases waiting: time and CPU per event, on each store.

    python benchmarks/bench_events.py [--sizes 1000,10000,100000] [--stores memory,sqlite,postgres]
        [--events 2000] [--repeat 1] [--against TREE]

Each size runs in a process of its own: N cases of one workflow (a ``RequestReaction``
step whose ``send`` does nothing, then one step) are admitted and left waiting on their
reply, then ``--events`` of them, chosen at random, get their reply from one thread
calling ``Mediator.receive_event`` back to back. Figures per event: the wall time of the
``receive_event`` call (the Scheduler finds the job, saves it with its event and readies
it), the wall time from the first event to the last of those cases' end (the runners
run the reply's step and the last one, and store them), and the CPU of the whole process
and of each kind of thread over that span. Flat in N means the figures per event stay
the same as N grows. With ``--against TREE`` the same sizes also run on another source
tree (``PYTHONPATH=TREE``), each size alternating between the two, ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from actors import Mediator, RequestReaction, Workflow
from actors.stores import open_store

BATCH = 500  # cases admitted per schedule_many (the capacity is twice that)
OWNER = "bench-worker"


class _Sends:
    """Counts the requests sent (each case's first park and every re-park after a reply)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.target = -1
        self.reached = threading.Event()

    def __call__(self, data: dict[str, Any], ctx: Any) -> None:
        with self._lock:
            self.count += 1
            if self.count == self.target:
                self.reached.set()

    def expect(self, target: int) -> None:
        with self._lock:
            self.target = target
            if self.count >= target:
                self.reached.set()


def _reply(data: dict[str, Any], event: Any) -> None:
    data["replies"] = data.get("replies", 0) + 1


def waiting_case(sends: _Sends) -> Workflow:
    """Ask (the request goes nowhere) and wait for the reply; ask again after each reply."""
    return Workflow(
        "ev", [RequestReaction("ask", send=sends, on_reply=_reply, next="ask")], start="ask"
    )


def _thread_kind(thread: threading.Thread) -> str:
    if thread is threading.main_thread():
        return "caller"
    return re.sub(r"[-_][0-9a-f]+$", "", thread.name)  # Runner-1 -> Runner


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each kind of live thread so far (all runners together)."""
    cpu: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            clock = time.pthread_getcpuclockid(thread.ident)
            seconds = time.clock_gettime(clock)
        except (OSError, ProcessLookupError):  # ended meanwhile
            continue
        kind = _thread_kind(thread)
        cpu[kind] = cpu.get(kind, 0.0) + seconds
    return cpu


def _await_waiting(mediator: Mediator, n: int, timeout: float = 3600.0) -> None:
    deadline = time.monotonic() + timeout
    while mediator.stats().waiting < n:  # a benchmark's wait for the engine, not a test's
        if time.monotonic() > deadline:
            msg = f"only {mediator.stats().waiting} of {n} cases parked"
            raise RuntimeError(msg)
        time.sleep(0.05)


def one_run(url: str, n: int, events: int, seed: int, quiet: bool = False) -> dict[str, Any]:
    """N waiting cases on ``url``, then ``events`` replies: figures per event.

    The replies go to the cases in a random order, round after round if there are more
    replies than cases; a case waits again after each, so N cases wait throughout.
    ``quiet``: polls and lease renewals an hour apart, so that none falls in the events.
    """
    options: dict[str, Any] = {"poll_interval": 3600.0, "lease_seconds": 7200.0} if quiet else {}
    sends = _Sends()
    flow = waiting_case(sends)
    with Mediator(
        [flow], runners=4, capacity=2 * BATCH, store=url, owner=OWNER, **options
    ) as mediator:
        began = time.perf_counter()
        ids: list[str] = []
        for at in range(0, n, BATCH):
            batch = mediator.schedule_many("ev", [{} for _ in range(min(BATCH, n - at))])
            ids += [handle.job_id for handle in batch]
        _await_waiting(mediator, n)
        setup = time.perf_counter() - began
        random.Random(seed).shuffle(ids)
        calls: list[float] = []
        sends.expect(n + events)
        cpu0, proc0 = _thread_cpu(), time.process_time()
        began = time.perf_counter()
        for i in range(events):
            cid = f"{ids[i % n]}/ask"
            called = time.perf_counter()
            outcome = mediator.receive_event(cid, {"ok": True})
            calls.append(time.perf_counter() - called)
            if outcome.value != "delivered":
                msg = f"the reply for {cid} was not delivered: {outcome.value}"
                raise RuntimeError(msg)
        if not sends.reached.wait(timeout=3600):
            raise RuntimeError("the cases did not all ask again")
        through = time.perf_counter() - began
        proc, cpu1 = time.process_time() - proc0, _thread_cpu()
        _await_waiting(mediator, n)
        renewal = _renewal(url, quiet)
        elsewhere = None if url == "memory://" else _elsewhere(flow, url, ids[: min(n, 500)])
    return {
        "setup_s": setup,
        "call_us": sum(calls) / events * 1e6,
        "call_p50_us": statistics.median(calls) * 1e6,
        "through_us": through / events * 1e6,
        "cpu_us": proc / events * 1e6,
        "threads_us": {k: (cpu1[k] - cpu0.get(k, 0.0)) / events * 1e6 for k in cpu1},
        "renewal_ms": renewal,
        "elsewhere_us": elsewhere,
    }


def _elsewhere(flow: Workflow, url: str, ids: list[str]) -> float:
    """Microseconds per event a second worker gets for cases the first one holds."""
    with Mediator([flow], runners=1, store=url, owner="other", poll_interval=3600.0) as other:
        began = time.perf_counter()
        for case_id in ids:
            outcome = other.receive_event(f"{case_id}/ask", {"ok": True})
            if outcome.value != "elsewhere":
                msg = f"the second worker's event for {case_id} was {outcome.value}"
                raise RuntimeError(msg)
        return (time.perf_counter() - began) / len(ids) * 1e6


def _renewal(url: str, quiet: bool) -> float | None:
    """Milliseconds of one renewal of the worker's leases (median of 3), on a shared store."""
    if url == "memory://":
        return None
    store = open_store(url)
    try:
        lease = 7200.0 if quiet else 15.0
        took = []
        for _ in range(3):
            began = time.perf_counter()
            store.heartbeat(OWNER, time.time(), lease)
            took.append(time.perf_counter() - began)
    finally:
        store.close()
    return statistics.median(took) * 1e3


def _url(store: str, n: int, tmp: Path, server: Any, tag: str) -> str:
    if store == "memory":
        return "memory://"
    if store == "sqlite":
        path = tmp / f"ev-{tag}-{n}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    name = f"ev_{tag}_{n}"
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(name))


def _in_subprocess(
    tree: str, url: str, n: int, events: int, seed: int, quiet: bool
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(
        [sys.executable, __file__, "--one", url, str(n), str(events), str(seed), str(int(quiet))],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _show(label: str, store: str, n: int, run: dict[str, Any]) -> None:
    threads = ", ".join(f"{k} {v:.0f}" for k, v in sorted(run["threads_us"].items()) if v >= 1)
    print(
        f"{label:<6} {store:<9} {n:>7,} waiting: call {run['call_us']:6.0f} us "
        f"(p50 {run['call_p50_us']:5.0f}), through {run['through_us']:6.0f} us, "
        f"CPU {run['cpu_us']:6.0f} us per event [{threads}]; setup {run['setup_s']:.1f} s"
        + ("" if run["renewal_ms"] is None else f"; a renewal {run['renewal_ms']:.1f} ms")
        + ("" if run["elsewhere_us"] is None else f"; elsewhere {run['elsewhere_us']:.0f} us"),
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--against", help="another source tree, run alternately")
    parser.add_argument(
        "--quiet-polls",
        action="store_true",
        help="polls and lease renewals an hour apart: the events' own cost",
    )
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        url, n, events, seed, quiet = args.one
        print(json.dumps(one_run(url, int(n), int(events), int(seed), quiet=quiet == "1")))
        return 0
    here = str(Path(__file__).resolve().parent.parent)
    trees = [("this", here)] + ([("other", args.against)] if args.against else [])
    tmp = Path(tempfile.mkdtemp(prefix="actors-events-"))
    server = None
    if "postgres" in args.stores:
        import pgserver

        server = pgserver.get_server(
            Path(tempfile.mkdtemp(prefix="actors-events-pg-")), cleanup_mode="delete"
        )
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    try:
        for round_ in range(args.repeat):
            for store in args.stores.split(","):
                for n in (int(s) for s in args.sizes.split(",")):
                    order = trees if round_ % 2 == 0 else trees[::-1]
                    for label, tree in order:
                        url = _url(store, n, tmp, server, label)
                        run = _in_subprocess(tree, url, n, args.events, round_, args.quiet_polls)
                        results.setdefault((label, store, n), []).append(run)
                        _show(label, store, n, run)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.repeat > 1 or args.against:
        print("medians:")
        for (label, store, n), runs in results.items():
            pick = {k: statistics.median(r[k] for r in runs) for k in ("call_us", "through_us")}
            cpu = statistics.median(r["cpu_us"] for r in runs)
            print(
                f"{label:<6} {store:<9} {n:>7,} waiting: call {pick['call_us']:6.0f} us, "
                f"through {pick['through_us']:6.0f} us, CPU {cpu:6.0f} us per event"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
