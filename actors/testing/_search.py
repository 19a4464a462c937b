"""Search strategies beyond uniform random choices: PCT, and every schedule up to a bound.

**PCT** (probabilistic concurrency testing) gives every actor a random priority and
always runs the enabled actor with the highest one; at ``depth - 1`` change points, drawn
at random among the first ``steps`` choices, the running actor drops to the lowest
priority. A bug that needs ``d`` ordering constraints between actions to show (its
*depth*; a lost update between two steps has depth 2) is found by one PCT run with
probability at least ``1 / (n * k ** (d - 1))`` for ``n`` actors and ``k`` choice points,
where uniform random choices can do exponentially worse in ``k``.

**Exhaustive** search (``exhaust``) runs every distinct sequence of choices, depth first,
up to a bound, and says how many it ran and whether that was all of them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actors.testing._arguments import need_callable, need_count
from actors.testing._chooser import DataChooser, SeededChooser, fresh_seed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from actors._workflow import Workflow
    from actors.testing._chooser import Chooser
    from actors.testing._harness import Harness

__all__ = [
    "PCT",
    "Choosing",
    "Exhaustion",
    "PCTChooser",
    "ScriptChooser",
    "exhaust",
    "pick_chooser",
]


@dataclass(frozen=True, slots=True)
class PCT:
    """Choose schedules by PCT (pass as ``Harness(strategy=PCT(...))`` or to ``explore``).

    Args:
        depth: ``d``, the bug depth aimed at: ``depth - 1`` priority change points.
        steps: ``k``, about how many choices a run makes (change points fall among them).
    """

    depth: int = 2
    steps: int = 100

    def __post_init__(self) -> None:
        if self.depth < 1 or self.steps < 1:
            msg = f"PCT needs depth >= 1 and steps >= 1, got depth={self.depth} steps={self.steps}"
            raise ValueError(msg)

    def chooser(self, seed: int) -> PCTChooser:
        """The chooser of one run under ``seed``."""
        return PCTChooser(seed, self.depth, self.steps)

    def bound(self, actors: int) -> float:
        """The least chance that one run finds a bug of depth ``depth`` with ``actors`` actors."""
        return 1.0 / float(actors * self.steps ** (self.depth - 1))


class PCTChooser:
    """One PCT run: the highest-priority enabled actor acts; priorities drop at change points."""

    def __init__(self, seed: int, depth: int, steps: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._depth = depth
        points = min(depth - 1, steps)
        picks = self._rng.sample(range(1, steps + 1), points)
        # Change point i (0-based) lowers the running actor to priority i + 1 < depth.
        self._changes = {step: i + 1 for i, step in enumerate(sorted(picks))}
        self._priority: dict[str, float] = {}
        self._count = 0

    def choose(self, n: int) -> int:
        """A uniform choice, where the options are not actors (rare)."""
        return self._rng.randrange(n)

    def pick(self, labels: Sequence[str]) -> int:
        """The option whose actor has the highest priority (lowered at a change point)."""
        self._count += 1
        priority = self._priority
        for label in labels:
            if label not in priority:  # a new actor gets a random rank above every change
                priority[label] = self._depth + self._rng.random()
        best = max(range(len(labels)), key=lambda i: priority[labels[i]])
        lowered = self._changes.get(self._count)
        if lowered is not None:
            priority[labels[best]] = float(self._depth - lowered)
            best = max(range(len(labels)), key=lambda i: priority[labels[i]])
        return best


class ScriptChooser:
    """Replays a list of choices, then takes option 0; records every choice point it met."""

    def __init__(self, script: Sequence[int], max_depth: int | None = None) -> None:
        self.script = list(script)
        self.max_depth = max_depth
        self.taken: list[tuple[int, int]] = []
        """(choice, number of options) at every choice point of the run."""

    def choose(self, n: int) -> int:
        """The scripted choice at this point (modulo ``n``), else 0."""
        i = len(self.taken)
        choice = self.script[i] % n if i < len(self.script) else 0
        self.taken.append((choice, n))
        return choice

    def following(self) -> list[int] | None:
        """The next script in depth-first order after this run's, or None if none is left."""
        taken = self.taken
        limit = len(taken) if self.max_depth is None else min(len(taken), self.max_depth)
        for i in range(limit - 1, -1, -1):
            choice, n = taken[i]
            if choice + 1 < n:
                return [c for c, _ in taken[:i]] + [choice + 1]
        return None


@dataclass(frozen=True, slots=True)
class Exhaustion:
    """What ``exhaust`` ran."""

    explored: int
    """Distinct schedules run."""
    complete: bool
    """Whether that was every schedule within ``max_depth`` (False: stopped at the bound)."""


def exhaust(
    scenario: Callable[[Harness], Any],
    *,
    max_schedules: int = 10_000,
    max_depth: int | None = None,
    workflows: Iterable[Workflow] = (),
    **options: Any,
) -> Exhaustion:
    """Run ``scenario`` under every distinct schedule, depth first, up to a bound.

    Each run follows a script of choices (``Harness(choices=...)``); the next script
    changes the last choice point that has an option left. ``max_depth`` bounds the
    choice points that are varied (later ones take option 0); ``max_schedules`` bounds
    the runs. The first failure propagates; its message gives the ``choices=`` that
    replay it.
    """
    from actors.testing._harness import Harness

    need_callable(scenario, "exhaust(scenario)")
    need_count(max_schedules, "exhaust(max_schedules=...)", least=1)
    if max_depth is not None:
        need_count(max_depth, "exhaust(max_depth=...)")
    flows = list(workflows)
    script: list[int] | None = []
    explored = 0
    while script is not None and explored < max_schedules:
        chooser = ScriptChooser(script, max_depth)
        harness = Harness(flows, chooser=chooser, **options)
        try:
            scenario(harness)
        except Exception as exc:
            harness._note_replay(exc)
            raise
        finally:
            harness.close()
        explored += 1
        script = chooser.following()
    return Exhaustion(explored, script is None)


@dataclass(frozen=True, slots=True)
class Choosing:
    """Who makes a harness's choices, its seed, and the script that replays them."""

    chooser: Chooser
    seed: int | None = None
    replay: list[int] | None = None


def pick_chooser(
    *,
    seed: int | None,
    data: Any,
    choices: Sequence[int] | None,
    chooser: Chooser | None,
    strategy: PCT | None,
) -> Choosing:
    """The chooser ``Harness(seed=, data=, choices=, chooser=, strategy=)`` asks for.

    Raises ``ValueError`` when more than one of the four sources is given.
    """
    given = [name for name, v in (("seed", seed), ("data", data), ("choices", choices),
                                  ("chooser", chooser)) if v is not None]  # fmt: skip
    if len(given) > 1:
        msg = f"pass one of seed=, data= (Hypothesis data), choices= or chooser=, not {given}"
        raise ValueError(msg)
    if chooser is not None:
        need_callable(getattr(chooser, "choose", None), "Harness(chooser=...).choose")
        return Choosing(chooser, replay=getattr(chooser, "script", None))
    if choices is not None:
        if isinstance(choices, str | bytes) or not isinstance(choices, Sequence):
            msg = f"Harness(choices=...) takes a list of ints, got {choices!r:.60}"
            raise TypeError(msg)
        for choice in choices:
            need_count(choice, "each of Harness(choices=...)")
        return Choosing(ScriptChooser(choices), replay=list(choices))
    if data is not None:
        need_callable(
            getattr(data, "draw", None), "Harness(data=...) (Hypothesis's st.data()) .draw"
        )
        return Choosing(DataChooser(data))
    if strategy is not None and not isinstance(strategy, PCT):
        msg = f"Harness(strategy=...) takes PCT(depth, steps) or None, got {strategy!r:.60}"
        raise TypeError(msg)
    if seed is not None:
        need_count(seed, "Harness(seed=...)", least=None)  # printed as seed=... to replay
    seed = fresh_seed() if seed is None else seed
    return Choosing(SeededChooser(seed) if strategy is None else strategy.chooser(seed), seed)
