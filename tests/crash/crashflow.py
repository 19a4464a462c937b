"""The workflow the crash tests run: W with effects recorded outside the engine.

Every task records each run (``runs``: every execution, repeats included, with the pid of
the worker that ran it) and its effect keyed by its idempotency key (``effects``: a repeat
is absorbed), in a database of its own named by ``ACTORS_EFFECTS``. Tasks take a little
time so that kills land mid-flight.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from actors import ParallelSplit, Sequential, StepContext, Synchronize, Workflow

BRANCHES = 4
STEPS = 3
TASK_SECONDS = 0.02
# Cases a worker runs at once: fewer than a part of the crash test's cases, so a worker
# that claims a part fills up and the rest waits for it or the others.
CAPACITY = 10
_local = threading.local()


def effects_url() -> str:
    return os.environ["ACTORS_EFFECTS"]


def connect(url: str) -> Any:
    if url.startswith("postgresql://"):
        import psycopg

        return psycopg.connect(url, autocommit=True)
    conn = sqlite3.connect(url, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def setup(url: str) -> None:
    conn = connect(url)
    real = "DOUBLE PRECISION" if url.startswith("postgresql://") else "REAL"  # float4 in PG
    conn.execute(
        "CREATE TABLE IF NOT EXISTS runs "
        f"(job TEXT, step TEXT, attempt INTEGER, at {real}, pid INTEGER)"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY)")
    conn.close()


def _conn() -> Any:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = connect(effects_url())
    return conn


def _q(sql: str) -> str:
    return sql.replace("?", "%s") if effects_url().startswith("postgresql://") else sql


def effect(data: dict[str, Any], ctx: StepContext) -> None:
    conn = _conn()
    conn.execute(
        _q("INSERT INTO runs (job, step, attempt, at, pid) VALUES (?, ?, ?, ?, ?)"),
        (ctx.job_id, ctx.step, ctx.attempt, time.time(), os.getpid()),
    )
    conn.execute(
        _q("INSERT INTO effects (key) VALUES (?) ON CONFLICT DO NOTHING"), (ctx.idempotency_key,)
    )
    time.sleep(TASK_SECONDS)  # the work itself
    data.setdefault("done", []).append(ctx.step)


def merge(parent: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    parent.setdefault("merged", []).extend(b["done"][-1][:2] for b in branches)


def branch_steps(b: int) -> list[str]:
    return [f"b{b}s{s}" for s in range(STEPS)]


def build() -> Workflow:
    steps: list[Any] = [
        Sequential("A", effect, next="split"),
        ParallelSplit("split", branches=[branch_steps(b)[0] for b in range(BRANCHES)]),
    ]
    for b in range(BRANCHES):
        names = branch_steps(b)
        for i, name in enumerate(names):
            nxt = names[i + 1] if i + 1 < len(names) else "join"
            steps.append(Sequential(name, effect, next=nxt))
    steps += [Synchronize("join", merge=merge, next="B"), Sequential("B", effect)]
    return Workflow("crashy", steps, start="A")


FLOW = build()
