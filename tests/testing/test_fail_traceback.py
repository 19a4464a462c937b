"""A check failed with ``h.fail`` shows the test's own line, not the harness's code.

pytest printed the source of ``fail`` and ``_fail`` (``raise error from cause``) between
the user's check and its message, two screens of the harness's internals in a report
whose point is the user's message, seed and trace.
"""

from __future__ import annotations

import textwrap

pytest_plugins = ("pytester",)


def test_a_failed_check_points_at_the_test_not_at_the_harness(pytester):
    pytester.makepyfile(
        textwrap.dedent(
            """
            from actors import Sequential, Workflow
            from actors.testing import Harness

            FLOW = Workflow("w", start="a", steps=[Sequential("a", lambda d: None)])

            def test_check():
                with Harness([FLOW], seed=1) as h:
                    h.schedule("w", {})
                    h.finish()
                    h.fail("lost update: counted 1")
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert 'h.fail("lost update: counted 1")' in out
    assert "InvariantViolation: lost update: counted 1" in out
    assert "_failures.py" not in out, out
    assert "raise error from cause" not in out, out
