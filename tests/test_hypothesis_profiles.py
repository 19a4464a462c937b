"""``HYPOTHESIS_PROFILE=explore`` draws ten times the examples of ``ci`` in every property test.

README ("Development") promises it. A test that names its own ``max_examples`` is not
scaled by the profile, so this reads each one's budget under both profiles, each in a
fresh interpreter (the profile is chosen as ``conftest`` is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bounds import TIMEOUT

TESTS = Path(__file__).parent
MODULES = [
    "properties.test_admission_gate",
    "properties.test_cancel_answers",
    "properties.test_engine_properties",
    "properties.test_event_properties",
    "properties.test_invariants",
    "testing.test_stateful",
]
_READ = """
import importlib, json, sys
import conftest  # registers the profiles and loads the one named
from hypothesis import settings
found = {}
for name in sys.argv[1:]:
    for attr, value in vars(importlib.import_module(name)).items():
        if attr.startswith("test_") and hasattr(value, "hypothesis"):
            found[f"{name}.{attr}"] = value._hypothesis_internal_use_settings.max_examples
        elif attr.startswith("Test") and isinstance(getattr(value, "settings", None), settings):
            found[f"{name}.{attr}"] = value.settings.max_examples
print(json.dumps(found))
"""


def _budgets(profile: str) -> dict[str, int]:
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "HYPOTHESIS_PROFILE": profile, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", _READ, *MODULES],
        env=env, capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


def test_explore_draws_ten_times_the_examples_of_ci_in_every_property_test() -> None:
    ci, explore = _budgets("ci"), _budgets("explore")
    assert ci.keys() == explore.keys()
    assert len(ci) >= 10, ci  # the property tests were all found
    fewer = {name: (ci[name], explore[name]) for name in ci if explore[name] < 10 * ci[name]}
    assert not fewer, f"(ci, explore) examples: {fewer}"
