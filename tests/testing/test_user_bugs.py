"""Bugs users write in their own tasks and workflows, found by the harness as users run it.

One test per bug class: the workflow and its tasks are plain user code (no engine class
is substituted, no park is added to help the harness). Each bug is searched for by
Hypothesis over the scenario's sizes, the fault plan and the seed; the search must find
it, shrink it to the smallest scenario that still shows it, and that scenario's seed must
replay the very same failure.
"""

from __future__ import annotations

import itertools
import random
import re
from typing import TYPE_CHECKING, Any

import pykka
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from actors import (
    ExclusiveChoice,
    JobState,
    ParallelSplit,
    Sequential,
    StepContext,
    Synchronize,
    Workflow,
)
from actors.stores import open_store
from actors.testing import (
    Crash,
    Deadlock,
    FaultPlan,
    Harness,
    HarnessError,
    InvariantViolation,
    Livelock,
)
from actors.testing.strategies import fault_plans

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SEARCH = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,  # the same search on every run: found, or a bug to fix
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def _fails(run: Callable[[], None], expected: type[Exception]) -> str | None:
    """The failure's headline if ``run()`` raises ``expected``; None if it passes."""
    try:
        run()
    except expected as exc:
        return str(exc).splitlines()[0]
    return None


# -- 1. A race between two steps of parallel branches ---------------------------------------

STOCK = {"count": 0}


def read_stock(data: dict[str, Any]) -> dict[str, Any]:
    data["seen"] = STOCK["count"]
    return data


def write_stock(data: dict[str, Any]) -> dict[str, Any]:
    STOCK["count"] = data["seen"] + 1  # a lost update if another branch wrote in between
    return data


def counting_flow(branches: int) -> Workflow:
    names = [f"b{i}" for i in range(branches)]
    return Workflow(
        f"count{branches}",
        start="split",
        steps=[
            ParallelSplit("split", branches=names),
            *(Sequential(n, read_stock, next=f"{n}_write") for n in names),
            *(Sequential(f"{n}_write", write_stock, next="join") for n in names),
            Synchronize("join", merge=lambda parent, _: parent),
        ],
    )


def count_with(branches: int, runners: int, seed: int) -> None:
    STOCK["count"] = 0
    flow = counting_flow(branches)
    with Harness([flow], seed=seed, runners=runners) as h:
        h.schedule(flow.name, {})
        h.finish()
        if STOCK["count"] != branches:
            h.fail(f"lost update: {branches} branches counted {STOCK['count']}")


def test_a_race_between_two_steps_of_parallel_branches_is_found_shrunk_and_replayed():
    sizes = st.tuples(st.integers(2, 4), st.integers(1, 3), st.integers(0, 2**16))
    smallest = find(
        sizes,
        lambda s: _fails(lambda: count_with(*s), InvariantViolation) is not None,
        settings=SEARCH,
    )
    branches, runners, seed = smallest
    # One runner runs a job's steps back to back (so does the threaded engine): the
    # race needs two runners. Shrinking is a search, and may stop above two branches.
    assert runners == 2
    first = _fails(lambda: count_with(*smallest), InvariantViolation)
    assert first == _fails(lambda: count_with(*smallest), InvariantViolation)
    assert first is not None and first.startswith(f"lost update: {branches} branches counted")
    # Two branches are enough: a few seeds show it.
    two = (_fails(lambda s=s: count_with(2, 2, s), InvariantViolation) for s in range(20))
    assert any(h is not None and h.startswith("lost update: 2 branches counted 1") for h in two)
    # Without the choice point between steps the same search finds nothing.
    assert _fails(lambda: _back_to_back(branches, runners, seed), InvariantViolation) is None
    # The trace says which steps each delivery ran, so the interleaving can be read off:
    # both branches' reads before either write.
    with pytest.raises(InvariantViolation) as report:
        count_with(*smallest)
    runs = [line for line in str(report.value).splitlines() if " RunJob " in line]
    assert any("ran 'b0'" in line or "ran 'b1'" in line for line in runs), runs
    assert any("_write'" in line for line in str(report.value).splitlines())


def _back_to_back(branches: int, runners: int, seed: int) -> None:
    STOCK["count"] = 0
    flow = counting_flow(branches)
    with Harness([flow], seed=seed, runners=runners, between_steps=False) as h:
        h.schedule(flow.name, {})
        h.finish()
        if STOCK["count"] != branches:
            h.fail("lost update")


# -- 2. An effect repeated by a crash -----------------------------------------------------

CHARGES: list[int] = []
CHARGED: dict[str, int] = {}


def charge(data: dict[str, Any]) -> None:
    CHARGES.append(data["order"])  # not idempotent: a rerun charges the card again


def charge_once(data: dict[str, Any], ctx: StepContext) -> None:
    CHARGED.setdefault(ctx.idempotency_key, data["order"])


def payment_flow(task: Callable[..., Any]) -> Workflow:
    return Workflow(
        "pay",
        start="charge",
        steps=[Sequential("charge", task, next="ship"), Sequential("ship", lambda d: None)],
    )


NAIVE = payment_flow(charge)
KEYED = payment_flow(charge_once)


def pay(orders: int, runners: int, crashes: tuple[Crash, ...], seed: int) -> Harness:
    CHARGES.clear()
    with Harness([NAIVE], seed=seed, runners=runners, faults=FaultPlan(crashes=crashes)) as h:
        for order in range(orders):
            h.schedule("pay", {"order": order})
        h.finish()
        if sorted(CHARGES) != list(range(orders)):
            h.fail(f"charged {sorted(CHARGES)} for orders {list(range(orders))}")
    return h


@pytest.mark.parametrize("point", ["before_save", "stalled"])
def test_an_effect_repeated_by_a_crash_is_found_shrunk_and_replayed(point):
    crash = st.builds(Crash, at_step=st.integers(1, 6), point=st.just(point))
    plans = st.lists(crash, max_size=3, unique_by=lambda c: c.at_step).map(tuple)
    scenarios = st.tuples(st.integers(1, 3), st.integers(1, 3), plans, st.integers(0, 2**16))
    smallest = find(
        scenarios,
        lambda s: _fails(lambda: pay(*s), InvariantViolation) is not None,
        settings=SEARCH,
    )
    orders, runners, crashes, _ = smallest
    assert (orders, runners, len(crashes)) == (1, 1, 1)
    with pytest.raises(InvariantViolation, match=r"charged \[0, 0\] for orders \[0\]") as first:
        pay(*smallest)
    with pytest.raises(InvariantViolation) as again:
        pay(*smallest)
    assert str(again.value) == str(first.value)  # the same run, trace and all


def test_fault_plans_with_crash_points_inside_a_step_catch_the_repeated_charge():
    # As the how-to writes it: Hypothesis draws plans with the new crash points.
    @given(
        plan=fault_plans(points=("before_save", "stalled"), max_step=4, stalls=False,
                         events=False),
        seed=st.integers(0, 2**16),
    )  # fmt: skip
    @SEARCH
    def each_order_is_charged_once(plan: FaultPlan, seed: int) -> None:
        pay(1, 2, plan.crashes, seed)

    with pytest.raises(InvariantViolation, match=r"charged \[0, 0\]"):
        each_order_is_charged_once()


def test_crashes_before_a_step_never_repeat_an_effect():
    # The old crash point alone cannot catch the non-idempotent task.
    for seed in range(40):
        pay(2, 2, (Crash(1), Crash(3)), seed)


@pytest.mark.slow
def test_a_task_keyed_on_its_idempotency_key_passes_500_schedules_with_crashes():
    points = ("before_step", "before_save", "stalled")
    for seed in range(500):
        rng = random.Random(seed)
        crashes = tuple(
            Crash(at, point=rng.choice(points)) for at in sorted(rng.sample(range(1, 9), 2))
        )
        CHARGED.clear()
        with Harness([KEYED], seed=seed, runners=2, faults=FaultPlan(crashes=crashes)) as h:
            for order in range(3):
                h.schedule("pay", {"order": order})
            for job in h.finish():
                assert job.state is JobState.DONE
        assert sorted(CHARGED.values()) == [0, 1, 2], (seed, crashes, CHARGED)


# A group commit lost before it is stored (commit="group"): every slice in it runs again.


def pay_grouped(
    where: Path,
    orders: int,
    runners: int,
    crashes: tuple[Crash, ...],
    seed: int,
    *,
    flow: Workflow = NAIVE,
    commit: str = "group",
) -> None:
    CHARGES.clear()
    CHARGED.clear()
    store = open_store(f"sqlite:///{where / f'{next(DATABASES)}.db'}", commit=commit)
    try:
        plan = FaultPlan(crashes=crashes)
        with Harness([flow], seed=seed, runners=runners, store=store, faults=plan) as h:
            for order in range(orders):
                h.schedule("pay", {"order": order})
            for job in h.finish():
                assert job.state is JobState.DONE
            charged = sorted(CHARGES) if flow is NAIVE else sorted(CHARGED.values())
            if charged != list(range(orders)):
                h.fail(f"charged {charged} for orders {list(range(orders))}")
    finally:
        store.close()


DATABASES = itertools.count()


@pytest.mark.parametrize(
    ("commit", "charged"), [("step", [0]), ("slice", [0, 0]), ("group", [0, 0])]
)
def test_a_crash_before_a_step_reruns_only_what_the_store_had_not_stored(tmp_path, commit, charged):
    """As documented: no step runs twice where each save is stored as it is made."""
    crash = (Crash(2, point="before_step"),)  # before 'ship', right after charge's save
    if charged == [0]:
        pay_grouped(tmp_path, 1, 1, crash, 0, commit=commit)
        assert CHARGES == [0]
        return
    with pytest.raises(InvariantViolation, match=rf"charged {re.escape(str(charged))}"):
        pay_grouped(tmp_path, 1, 1, crash, 0, commit=commit)


def test_an_effect_repeated_by_a_lost_group_commit_is_found_shrunk_and_replayed(tmp_path):
    crash = st.builds(Crash, at_step=st.integers(1, 6), point=st.just("in_group"))
    plans = st.lists(crash, max_size=3, unique_by=lambda c: c.at_step).map(tuple)
    scenarios = st.tuples(st.integers(1, 3), st.integers(1, 3), plans, st.integers(0, 2**16))
    smallest = find(
        scenarios,
        lambda s: _fails(lambda: pay_grouped(tmp_path, *s), InvariantViolation) is not None,
        settings=settings(SEARCH, max_examples=60),
    )
    orders, runners, crashes, _ = smallest
    assert (orders, runners, len(crashes)) == (1, 1, 1)
    with pytest.raises(InvariantViolation, match=r"charged \[0, 0\] for orders \[0\]") as first:
        pay_grouped(tmp_path, *smallest)
    assert "lost before it is stored" in str(first.value)  # the trace shows the lost group
    with pytest.raises(InvariantViolation) as again:
        pay_grouped(tmp_path, *smallest)
    assert str(again.value) == str(first.value)  # the same run, trace and all


def test_a_task_keyed_on_its_idempotency_key_passes_lost_group_commits(tmp_path):
    points = ("before_step", "before_save", "stalled", "in_group")
    for seed in range(120):
        rng = random.Random(seed)
        crashes = tuple(
            Crash(at, point=rng.choice(points)) for at in sorted(rng.sample(range(1, 9), 2))
        )
        pay_grouped(tmp_path, 3, 2, crashes, seed, flow=KEYED)


# -- 3. A deadlock inside a task -------------------------------------------------------------


class Stock(pykka.ThreadingActor):
    """A user's actor: reserving asks the prices actor for a quote."""

    def __init__(self) -> None:
        super().__init__()
        self.prices: Any = None
        self.units = 3

    def reserve(self) -> int:
        return int(self.prices.proxy().quote().get())

    def count(self) -> int:
        return self.units


class Prices(pykka.ThreadingActor):
    """Quoting asks the stock actor back: a cycle of asks while it waits."""

    def __init__(self) -> None:
        super().__init__()
        self.stock: Any = None

    def quote(self) -> int:
        return 2 * int(self.stock.proxy().count().get())


def reserve_with(orders: int, runners: int, seed: int) -> None:
    actors: dict[str, Any] = {}

    def reserve(data: dict[str, Any]) -> dict[str, Any]:
        data["total"] = actors["stock"].proxy().reserve().get()
        return data

    flow = Workflow(
        "reserve",
        start="reserve",
        # A fault path: the engine would end the job DONE if the Deadlock were a task error.
        steps=[Sequential("reserve", reserve, on_fault=lambda d, e: d, fault_next=None)],
    )
    with Harness([flow], seed=seed, runners=runners) as h:
        stock, prices = h.actor(Stock), h.actor(Prices)
        stock.proxy().prices = prices
        prices.proxy().stock = stock
        actors["stock"] = stock
        for order in range(orders):
            h.schedule("reserve", {"order": order})
        h.finish()


def test_a_deadlock_between_user_actors_inside_a_task_fails_the_run():
    scenarios = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**16))
    smallest = find(
        scenarios, lambda s: _fails(lambda: reserve_with(*s), Deadlock) is not None, settings=SEARCH
    )
    assert smallest[:2] == (1, 1)
    with pytest.raises(Deadlock) as first:
        reserve_with(*smallest)
    report = str(first.value)
    assert "waiting on replies, outermost first: runner-0 -> stock -> prices" in report
    assert "stock: BUSY" in report and "prices: BUSY" in report
    assert "Deadlock: " not in report.splitlines()[0]
    with pytest.raises(Deadlock) as again:
        reserve_with(*smallest)
    assert str(again.value) == report


class PatientStock(pykka.ThreadingActor):
    """Asks for a quote, giving up after 2 seconds: with threads it never hangs."""

    def __init__(self, prices_wait: float | None) -> None:
        super().__init__()
        self.prices: Any = None
        self.prices_wait = prices_wait

    def reserve(self) -> int:
        try:
            return int(self.prices.proxy().quote(self.prices_wait).get(timeout=2))
        except pykka.Timeout:
            return -1

    def count(self) -> int:
        return 3


class AskingPrices(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.stock: Any = None

    def quote(self, wait: float | None) -> int:
        return 2 * int(self.stock.proxy().count().get(timeout=wait))


def reserve_patiently(prices_wait: float | None, seed: int) -> tuple[Harness, Any]:
    actors: dict[str, Any] = {}

    def reserve(data: dict[str, Any]) -> dict[str, Any]:
        data["total"] = actors["stock"].proxy().reserve().get(timeout=10)
        return data

    flow = Workflow("reserve", start="reserve", steps=[Sequential("reserve", reserve)])
    h = Harness([flow], seed=seed, runners=1)
    stock, prices = h.actor(PatientStock, prices_wait), h.actor(AskingPrices)
    stock.proxy().prices = prices
    prices.proxy().stock = stock
    actors["stock"] = stock
    h.schedule("reserve", {})
    return h, h.finish


@pytest.mark.parametrize("seed", range(5))
def test_a_cycle_of_asks_that_time_out_is_no_deadlock(seed):
    """Every wait has a timeout: virtual time passes as it would for a blocked thread."""
    h, finish = reserve_patiently(1.0, seed)
    with h:
        (job,) = finish()
        # The innermost wait (prices' 1 s) timed out first; stock caught the Timeout.
        assert job.state is JobState.DONE and job.data["total"] == -1
        assert h.clock.now() == 1.0
        waits = [e for e in h.trace if e.action == "wait"]
        assert len(waits) == 1 and "timed out" in waits[0].detail


def test_a_wait_with_no_timeout_inside_one_with_a_timeout_is_refused_not_a_false_deadlock():
    h, finish = reserve_patiently(None, 1)
    with h, pytest.raises(HarnessError, match="awaited with no timeout inside a wait that has"):
        finish()


# -- 4. User actors under the harness, and one it does not run --------------------------------


def test_a_task_asking_an_actor_outside_the_harness_gets_a_clear_error_not_a_hang():
    outside = Stock.start()  # a real thread: the harness cannot schedule it
    try:
        flow = Workflow(
            "ask",
            start="ask",
            steps=[
                Sequential(
                    "ask",
                    lambda d: {"n": outside.proxy().count().get(timeout=5)},
                    on_fault=lambda d, e: d,
                    fault_next=None,
                )
            ],
        )
        with Harness([flow], seed=1, runners=1) as h:
            h.schedule("ask", {})
            with pytest.raises(HarnessError, match="an actor the harness does not run"):
                h.finish()
    finally:
        outside.stop()


# -- 5. Livelock reports name who kept busy ---------------------------------------------------


def test_a_livelock_names_the_actors_and_jobs_involved():
    class Echo(pykka.ThreadingActor):
        def __init__(self) -> None:
            super().__init__()
            self.peer: Any = None

        def on_receive(self, message: Any) -> None:
            self.peer.tell(message)  # forever

    def start(data: dict[str, Any]) -> None:
        pinger.tell("ping")

    flow = Workflow("ping", start="start", steps=[Sequential("start", start)])
    with Harness([flow], seed=2, runners=1, max_steps=400) as h:
        pinger, ponger = h.actor(Echo), h.actor(Echo)
        pinger.proxy().peer = ponger
        ponger.proxy().peer = pinger
        h.schedule("ping", {})
        with pytest.raises(Exception, match="has not settled") as info:
            h.finish()
    headline = str(info.value).splitlines()[0]
    assert "echo (" in headline and "echo#2 (" in headline
    assert "jobs involved: none" in headline  # the case ended; only the actors spin
    assert not headline.startswith("Livelock:")


def test_a_loop_that_never_waits_is_a_livelock_naming_its_runner_and_job():
    flow = Workflow(
        "spin",
        start="again",
        # Its exit never comes (a loop with no exit at all is refused when built).
        steps=[
            Sequential("again", lambda d: None, next="more"),
            ExclusiveChoice("more", spec=lambda d: True, if_true="again", if_false="out"),
            Sequential("out", lambda d: None),
        ],
    )
    with Harness([flow], seed=3, runners=1, max_steps=300) as h:
        h.schedule("spin", {})
        with pytest.raises(Livelock) as info:
            h.finish()
    report = str(info.value)
    headline = report.splitlines()[0]
    assert "runner 0 ran" in headline and "of job j1" in headline
    # The delivery ran 50,000 steps: its trace line names the first and last ones only.
    (line,) = [line for line in report.splitlines() if "RunJob" in line]
    assert "'again', 'more', 'again'" in line and " more ..., " in line
    assert len(report) < 5_000, len(report)
    assert "runner-0: holds j1 at " in report  # the actors are still there to show


@pytest.mark.parametrize(
    ("timeout", "error"), [(float("inf"), OverflowError), (float("nan"), ValueError)]
)
def test_a_wait_no_thread_could_make_raises_as_a_threads_would(timeout, error):
    """Virtual time moved to infinity (or nan), and every timer then fired at once."""
    raised: list[type] = []

    class Silent(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            if message == "go":  # asks itself: never answered while it waits
                return self.actor_ref.ask("again", timeout=timeout)
            return None

    actors: dict[str, Any] = {}

    def ask(data: dict[str, Any]) -> None:
        try:
            actors["silent"].ask("go", timeout=timeout)
        except Exception as exc:
            raised.append(type(exc))

    flow = Workflow("ask", start="a", steps=[Sequential("a", ask)])
    with Harness([flow], seed=1, runners=1) as h:
        actors["silent"] = h.actor(Silent)
        h.schedule("ask", {})
        h.run_until_quiescent(advance_time=False)
        assert raised == [error]
        assert h.clock.now() == 0.0
