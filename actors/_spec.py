"""``Spec``: composable predicates over job data, used by ``ExclusiveChoice``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Spec"]


class Spec:
    """A named predicate over a job's data.

    Specs compose with ``&`` (both hold), ``|`` (either holds) and ``~`` (does not hold);
    the description of a composite spec spells out the expression, which makes
    choices readable in logs and diagrams::

        big = Spec(lambda d: d["total"] > 100, "total > 100")
        vip = Spec(lambda d: d.get("vip", False), "vip")
        manual_review = big & ~vip
    """

    __slots__ = ("description", "predicate")

    def __init__(self, predicate: Callable[[Any], Any], description: str | None = None) -> None:
        if not callable(predicate):
            msg = f"Spec needs a callable predicate, got {predicate!r}"
            raise TypeError(msg)
        self.predicate = predicate
        self.description = description or getattr(predicate, "__name__", "spec")

    def __call__(self, data: Any) -> bool:
        """Evaluate the predicate against ``data``."""
        return bool(self.predicate(data))

    def is_satisfied_by(self, data: Any) -> bool:
        """Evaluate the predicate against ``data`` (same as calling the spec)."""
        return self(data)

    def __and__(self, other: Spec) -> Spec:
        return Spec(lambda d: self(d) and other(d), f"({self.description} & {other.description})")

    def __or__(self, other: Spec) -> Spec:
        return Spec(lambda d: self(d) or other(d), f"({self.description} | {other.description})")

    def __invert__(self) -> Spec:
        return Spec(lambda d: not self(d), f"~{self.description}")

    def __repr__(self) -> str:
        return f"Spec({self.description!r})"
