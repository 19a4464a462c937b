"""Workload W on SQLite: this engine with no options against DBOS, interleaved in one run.

    python benchmarks/bench_dbos.py --dbos-python /path/to/venv/bin/python [-n 1500] [--repeat 3]

DBOS is not a dependency of ``actors``: install it into a virtualenv of its own
(``python3 -m venv /tmp/dbos && /tmp/dbos/bin/pip install dbos``) and name that
environment's Python. Each round runs, each in a process of its own and on a new
database file: ``dbos_w.py`` (W on DBOS, SQLite system database; see that file) and W on
``Mediator([w], store="sqlite:///...")`` with no other option (4 runners and capacity 100
are the defaults; one producer calling ``schedule()``, each call returning once the case
is stored, as ``DBOS.start_workflow`` returns once the workflow is recorded). Prints each
run, then the medians and the ratio, round by round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def engine_default(path: str, n: int) -> float:
    """W on ``Mediator(store="sqlite:///path")`` with no options: workflows/s."""
    from workload import workload_w

    from actors import Mediator

    mediator = Mediator([workload_w()], store=f"sqlite:///{path}")
    start = time.perf_counter()
    for _ in range(n):
        mediator.schedule("w", {})
    mediator.shutdown(drain=True)
    return n / (time.perf_counter() - start)


def _run(cmd: list[str]) -> float:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["workflows_per_s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dbos-python", required=True, help="a Python with dbos installed")
    parser.add_argument("-n", type=int, default=1500, help="workflows per engine run")
    parser.add_argument("--dbos-n", type=int, default=150, help="workflows per DBOS run")
    parser.add_argument("--inflight", type=int, default=4, help="DBOS workflows unfinished")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine-only", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_only:  # the engine's run, in a process of its own
        rate = engine_default(args.path, args.engine_only)
        print(json.dumps({"workflows_per_s": rate}))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="actors-dbos-"))
    dbos, engine = [], []
    for r in range(args.repeat):  # interleaved: the machine's drift hits both alike
        dbos.append(
            _run(
                [
                    *(args.dbos_python, str(HERE / "dbos_w.py"), str(tmp / f"dbos-{r}.sqlite")),
                    *(str(args.dbos_n), "--inflight", str(args.inflight)),
                ]
            )
        )
        engine.append(
            _run(
                [
                    *(sys.executable, __file__, "--dbos-python", args.dbos_python),
                    *("--engine-only", str(args.n), "--path", str(tmp / f"engine-{r}.db")),
                ]
            )
        )
        print(
            f"round {r + 1}: DBOS {dbos[-1]:,.1f} wf/s, engine (no options) "
            f"{engine[-1]:,.0f} wf/s: {engine[-1] / dbos[-1]:.1f}x",
            flush=True,
        )
    ratios = [e / d for d, e in zip(dbos, engine, strict=True)]
    d, e = statistics.median(dbos), statistics.median(engine)
    print(
        f"W on SQLite: DBOS {d:,.1f} wf/s, engine with no options {e:,.0f} wf/s: "
        f"{e / d:.1f}x on the medians; round by round "
        + ", ".join(f"{x:.1f}x" for x in ratios)
        + f" (min {min(ratios):.1f}x, max {max(ratios):.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
