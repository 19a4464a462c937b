"""One job looping N times in one slice on SQLite: time per step and peak memory.

    python benchmarks/bench_loop.py [--steps 1000,10000] [--data-bytes 1000000]

The job runs a step and a choice that loops back to it until it has run N times, with
a string of ``--data-bytes`` characters in its data, on a SQLite file with the store's
defaults (group commit), one runner. The job never leaves its runner, so the whole loop
is one slice. Each size runs in a process of its own, so its peak RSS is its own (the
interpreter and the imports included, about 30 MiB). Linear means the time per step stays
flat as N grows, and the peak memory stays flat too: a slice stores its saves every
``slice_rows`` (1,000) saves and keeps only its last save's data.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from actors import ExclusiveChoice, JobState, Mediator, Sequential, Spec, Workflow


def _count(data: dict[str, Any]) -> None:
    data["i"] += 1


def loop() -> Workflow:
    """``count`` runs until ``data["i"]`` reaches ``data["n"]``."""
    return Workflow(
        "loop",
        [
            Sequential("count", _count, next="more"),
            ExclusiveChoice(
                "more", Spec(lambda d: d["i"] < d["n"]), if_true="count", if_false="end"
            ),
            Sequential("end", _count),
        ],
        start="count",
    )


def one_run(steps: int, data_bytes: int) -> dict[str, float]:
    """The loop of ``steps`` steps on a new SQLite file: seconds per step, peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'loop.db'}"
        with Mediator([loop()], runners=1, store=url) as mediator:
            start = time.perf_counter()
            data = {"i": 0, "n": steps, "pad": "x" * data_bytes}
            job = mediator.schedule("loop", data).result(timeout=3600)
            elapsed = time.perf_counter() - start
    if job.state is not JobState.DONE:
        msg = f"the loop ended {job.state.name}"
        raise RuntimeError(msg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"us_per_step": elapsed / steps * 1e6, "peak_rss_mib": peak}


def main() -> None:
    """Run each size in a subprocess and print its figures and the ratios to the first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1000,10000")
    parser.add_argument("--data-bytes", type=int, default=1_000_000)
    parser.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(*args.one)))
        return
    first: dict[str, float] | None = None
    for steps in (int(s) for s in args.steps.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(steps), str(args.data_bytes)],
            check=True,
            capture_output=True,
            text=True,
        )
        got = json.loads(out.stdout.strip().splitlines()[-1])
        first = first or got
        print(
            f"{steps:>7} steps: {got['us_per_step']:9.1f} us/step "
            f"(x{got['us_per_step'] / first['us_per_step']:.2f}), "
            f"peak RSS {got['peak_rss_mib']:7.1f} MiB "
            f"(x{got['peak_rss_mib'] / first['peak_rss_mib']:.2f})"
        )


if __name__ == "__main__":
    main()
