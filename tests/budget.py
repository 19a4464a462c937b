"""How many examples a property test draws: ten times more under ``HYPOTHESIS_PROFILE=explore``.

A test that names its own ``max_examples`` is not scaled by the profile (the profile
only sets what a test leaves unset), so it asks for ``budget(n)``: ``n`` under ``ci``
(and ``dev``), ``10 * n`` when searching for new failures.
"""

from __future__ import annotations

import os

EXPLORE_FACTOR = 10


def budget(examples: int) -> int:
    """``examples`` for the ``ci`` profile; ten times as many under ``explore``."""
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "explore":
        return examples * EXPLORE_FACTOR
    return examples
