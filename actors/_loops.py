"""A loop no run of a workflow could leave: steps that cycle with no way out and no wait.

Such a loop keeps a runner busy for ever (or, through a split, the Scheduler), and a
draining shutdown waits for it for ever. A loop with an exit (a choice that may leave
it, a fault path) or with a step that parks the job (``Wait``, ``RequestReaction``,
``DeferredChoice``: a job polling something every hour, say) is a workflow's own
business and is left alone.

A ``ParallelSplit`` takes every branch, so a branch that leaves the loop is no way out
of it: the loop's thread goes on in the branch that stays, and each turn only adds
branches (and parents waiting for them). Unless a ``Synchronize`` is in the loop: it
waits for the branch that left, which can never come back to it, and the run faults.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

__all__ = ["endless_loop", "loop_problem"]


def endless_loop(
    targets: Mapping[str, Sequence[str]],
    parks: set[str],
    forks: Collection[str] = (),
    joins: Collection[str] = (),
) -> list[str] | None:
    """The steps of a cycle with no exit and no parking step (definition order), or None.

    ``targets`` maps each step to the steps it may go to; ``parks`` names the steps that
    park a job, or may end it there (a cycle through one of them can be left).
    ``forks`` names the steps that go to all their targets at once (a split with fixed
    branches), ``joins`` the ``Synchronize`` steps.
    """
    for group in _cycles(targets):
        inside = set(group)
        exits = [n for n in group if n not in forks] if inside.isdisjoint(joins) else group
        leaves = any(t not in inside for name in exits for t in targets.get(name, ()))
        if not leaves and not inside & parks:
            order = {name: i for i, name in enumerate(targets)}
            return sorted(group, key=order.__getitem__)
    return None


def loop_problem(
    targets: Mapping[str, Sequence[str]],
    parks: set[str],
    forks: Collection[str] = (),
    joins: Collection[str] = (),
) -> tuple[str, str] | None:
    """The step to name and what is wrong, for an endless loop (``endless_loop``), or None."""
    loop = endless_loop(targets, parks, forks, joins)
    if loop is None:
        return None
    split = next((n for n in loop if n in forks), None)
    fork = f" (split {split!r} goes on in its branch that stays)" if split else ""
    return loop[0], (
        f"the steps {loop} loop for ever: no step leads out of them{fork} and none waits "
        "(give the loop an ExclusiveChoice that leaves it, or a Wait)"
    )


def _cycles(targets: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The strongly connected groups of steps that hold a cycle (Tarjan, no recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in targets:
        if root in index:
            continue
        work = [(root, iter(targets.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            name, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in targets:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(targets.get(child, ()))))
                elif child in on_stack:
                    low[name] = min(low[name], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
            if low[name] == index[name]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == name:
                        break
                if len(group) > 1 or name in targets.get(name, ()):
                    found.append(group)
    return found
