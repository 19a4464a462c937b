"""``replay`` a run from its seed, and ``explore`` many seeds without Hypothesis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.testing._arguments import need_callable, need_count
from actors.testing._errors import HarnessError
from actors.testing._harness import Harness
from actors.testing._scenario import Scenario
from actors.testing._workers import first_failure

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from actors._workflow import Workflow

__all__ = ["explore", "replay"]


def replay(
    scenario: Scenario | Callable[[Harness], Any],
    *,
    seed: int = 0,
    workflows: Iterable[Workflow] = (),
    **options: Any,
) -> Harness:
    """Run a scenario again under ``seed``: the same seed gives the identical trace.

    ``scenario`` is a generated ``Scenario`` or a function that drives a harness
    (``def scenario(h): h.schedule(...); h.finish()``), run on
    ``Harness(workflows, seed=seed, **options)`` (or, given ``choices=``, on the
    schedule those choices make). Returns the closed harness, whose
    ``trace`` is the run; a failure raises again, with the same message.
    """
    if isinstance(scenario, Scenario):
        return scenario.play(seed=seed, **options)
    need_callable(scenario, "replay(scenario)")
    choices = options.pop("choices", None)
    if choices is not None:
        harness = Harness(workflows, choices=choices, **options)
    else:
        harness = Harness(workflows, seed=seed, **options)
    try:
        scenario(harness)
    except Exception as exc:
        harness._note_replay(exc)
        raise
    finally:
        harness.close()
    return harness


def explore(
    scenario: Scenario | Callable[[Harness], Any],
    *,
    runs: int = 100,
    seed: int = 0,
    workers: int = 1,
    workflows: Iterable[Workflow] = (),
    **options: Any,
) -> int:
    """Run ``scenario`` under seeds ``seed .. seed + runs - 1``; return how many ran.

    The first failure propagates; its message names its seed, so ``replay(scenario,
    seed=...)`` reproduces it. A seeded search, for when Hypothesis is not at hand (with
    Hypothesis, pass ``data=`` to the harness instead: failures then shrink). Pass
    ``strategy=PCT(depth, steps)`` to choose by PCT rather than uniformly; for every
    schedule up to a bound, see ``exhaust``.

    ``workers=N`` (N > 1) tries the seeds in N forked copies of this process (POSIX
    only; the scenario needs no pickling). The failure raised is still the lowest
    failing seed's, replayed in this process with its whole report; a seed that failed
    in a worker but passes here raises ``HarnessError`` (the scenario depends on more
    than its seed).
    """
    need_callable(scenario, "explore(scenario)")
    need_count(runs, "explore(runs=...)", least=1)  # zero runs would pass having run nothing
    need_count(seed, "explore(seed=...)", least=None)
    need_count(workers, "explore(workers=...)", least=1)
    flows = list(workflows)
    if workers > 1 and runs > 1:
        found = first_failure(
            lambda s: replay(scenario, seed=s, workflows=flows, **options),
            range(seed, seed + runs),
            workers,
        )
        if found is not None:
            failing, what = found
            replay(scenario, seed=failing, workflows=flows, **options)  # raises, whole
            msg = (
                f"explore(workers={workers}): seed {failing} failed in a worker process "
                f"({what}) but passed when replayed in this one: the scenario depends on "
                "more than its seed (state left by earlier runs, real time, randomness "
                "of its own)"
            )
            raise HarnessError(msg)
        return runs
    for offset in range(runs):
        replay(scenario, seed=seed + offset, workflows=flows, **options)
    return runs
