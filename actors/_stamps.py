"""Who a case's stamp names: the worker that holds it, or an operator who changed it.

Every row of a case is stamped with its holder. An operator's change made in the store
(of a case no live worker holds) stamps it ``operator:NAME`` instead: that fences out its
last worker and leaves the case free, held by nobody, for the next claim.
"""

from __future__ import annotations

__all__ = ["OPERATOR_STAMP", "operator_of"]

OPERATOR_STAMP = "operator:"
"""How an operator's change in the store stamps a case (fencing out its last worker)."""


def operator_of(stamp: str | None) -> str | None:
    """The operator's name when ``stamp`` is an operator's (``operator:olga``), else ``None``."""
    if stamp is None or not stamp.startswith(OPERATOR_STAMP):
        return None
    return stamp.removeprefix(OPERATOR_STAMP)
