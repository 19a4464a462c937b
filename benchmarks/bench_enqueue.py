"""``actors enqueue --file``: how long N cases take, from a file and from a pipe.

Each run is one ``actors enqueue`` process writing ``--cases`` lines (``{"order": n}``)
into a new SQLite store: ``--file cases.jsonl`` (a regular file) and ``cat cases.jsonl |
actors enqueue --file -`` (a pipe). Timed from the start of the process to its end, so
the interpreter's start and the imports are in every figure alike; the ids go to
``/dev/null``.

    python benchmarks/bench_enqueue.py --cases 100000
    python benchmarks/bench_enqueue.py --against /tmp/base   # that tree too, interleaved

With ``--against``, each tree runs each form in turn, ``--rounds`` times; the ratio to
read is this tree's time against that tree's in the same round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_FLOW = """
from actors import Sequential, Workflow

def noop(data):
    return None

FLOW = Workflow("order", [Sequential("a", noop)], start="a")
"""


def run(tree: str, folder: Path, lines: Path, *, pipe: bool) -> float:
    """Seconds one ``actors enqueue`` of ``lines`` takes in ``tree`` (a new store)."""
    store = folder / f"cases-{time.monotonic_ns()}.db"
    command = [sys.executable, "-m", "actors", "enqueue", "order", "--workflows", "benchflow"]
    command += ["--store", f"sqlite:///{store}", "--file", "-" if pipe else str(lines)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, str(folder)])}
    with open(os.devnull, "w") as out:
        started = time.perf_counter()
        if pipe:
            cat = subprocess.Popen(["cat", str(lines)], stdout=subprocess.PIPE)
            subprocess.run(command, stdin=cat.stdout, stdout=out, env=env, check=True)
            assert cat.stdout is not None
            cat.stdout.close()
            cat.wait()
        else:
            subprocess.run(command, stdout=out, env=env, check=True)
        took = time.perf_counter() - started
    for path in folder.glob(f"{store.name}*"):
        path.unlink()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", default=None, help="another tree, measured interleaved")
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent.parent)
    trees = {"this": here} if args.against is None else {"base": args.against, "this": here}
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "benchflow.py").write_text(_FLOW, encoding="utf-8")
        lines = folder / "cases.jsonl"
        lines.write_text("".join(f'{{"order": {n}}}\n' for n in range(args.cases)))
        for _ in range(args.rounds):
            for form in ("file", "pipe"):
                for name, tree in trees.items():
                    took = run(tree, folder, lines, pipe=form == "pipe")
                    times.setdefault((form, name), []).append(took)
    for form in ("file", "pipe"):
        for name in trees:
            each = times[(form, name)]
            shown = ", ".join(f"{t:.2f}" for t in each)
            print(f"{form:<4} {name:<4} {statistics.median(each):.2f} s ({shown})")
        if args.against is not None:
            ratios = [
                t / b for t, b in zip(times[(form, "this")], times[(form, "base")], strict=True)
            ]
            shown = ", ".join(f"{r:.3f}" for r in ratios)
            print(
                f"{form:<4} this/base per round: median {statistics.median(ratios):.3f} ({shown})"
            )


if __name__ == "__main__":
    main()
