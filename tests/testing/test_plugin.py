"""The pytest plugin: its fixtures, its option, and its import discipline."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zlib

pytest_plugins = ("pytester",)

FLOW = textwrap.dedent(
    """
    import pykka
    from actors import JobState, ParallelSplit, Sequential, Synchronize, Workflow

    def mark(name):
        return lambda data: data.update({name: True})

    FLOW = Workflow("w", start="a", steps=[
        Sequential("a", mark("a"), next="split"),
        ParallelSplit("split", branches=["b", "c"]),
        Sequential("b", mark("b"), next="join"),
        Sequential("c", mark("c"), next="join"),
        Synchronize("join"),
    ])
    """
)


def test_the_harness_fixture_makes_seeded_harnesses_and_closes_them(pytester):
    pytester.makepyfile(
        FLOW
        + textwrap.dedent(
            """
            SEEDS = []

            def test_runs(harness):
                h = harness([FLOW], runners=2)
                SEEDS.append(h.seed)
                job = h.schedule("w", {}).result()
                assert job.state is JobState.DONE and job.data == {"a": True, "b": True, "c": True}

            def test_same_test_same_seed(harness):
                again = harness([FLOW])
                assert again.seed != SEEDS[0]  # another test id, another seed

            def test_nothing_left_running():
                assert pykka.ActorRegistry.get_all() == []
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_actors_seed_replays_a_seed(pytester):
    pytester.makepyfile(
        FLOW
        + textwrap.dedent(
            """
            def test_seed(harness):
                assert harness([FLOW]).seed == 1234
            """
        )
    )
    pytester.runpytest("-p", "no:cacheprovider", "--actors-seed=1234").assert_outcomes(passed=1)


def test_the_mediator_fixture_runs_real_threads_and_shuts_them_down(pytester):
    pytester.makepyfile(
        FLOW
        + textwrap.dedent(
            """
            def test_threaded(mediator, virtual_clock):
                engine = mediator([FLOW], runners=2, clock=virtual_clock)
                assert engine.schedule("w", {}).result(timeout=10).state is JobState.DONE

            def test_stopped_after():
                assert pykka.ActorRegistry.get_all() == []
            """
        )
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_loading_the_plugin_imports_neither_hypothesis_nor_the_harness():
    code = (
        "import sys, actors.testing.pytest_plugin; "
        "bad = [m for m in sys.modules if m.startswith(('hypothesis', 'actors.testing._'))]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_a_plain_assert_after_harness_runs_is_reported_with_their_seeds_and_traces(pytester):
    pytester.makepyfile(
        FLOW
        + textwrap.dedent(
            """
            import pytest
            from actors.testing import Harness

            def test_fails_on_its_own_check(harness):
                h = harness([FLOW], runners=2)
                h.schedule("w", {}).result()
                assert False, "my own check"

            def test_passes(harness):
                harness([FLOW]).schedule("w", {}).result()

            def test_a_harness_failure_is_not_said_twice(harness):
                h = harness([FLOW])
                h.fail("the harness says it")
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-rN")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    test_id = "test_a_plain_assert_after_harness_runs_is_reported_with_their_seeds_and_traces.py"
    seed = zlib.crc32(f"{test_id}::test_fails_on_its_own_check".encode())
    assert f"harness 1 of 1 that this test made (rerun this test with --actors-seed={seed})" in out
    assert "config: runners=2" in out and "actions:" in out
    assert out.count("that this test made") == 1  # not for h.fail(), which says it itself


def test_a_test_that_never_ran_its_cases_does_not_pass(pytester):
    """Cases scheduled and never run: the test checked a run that never happened."""
    pytester.makepyfile(
        FLOW
        + textwrap.dedent(
            """
            def test_forgot_to_run(harness):
                h = harness([FLOW])
                h.schedule("w", {})
                assert True  # what it meant to check never ran

            def test_ran(harness):
                h = harness([FLOW])
                h.schedule("w", {})
                h.finish()

            def test_failed_itself(harness):
                h = harness([FLOW])
                h.schedule("w", {})
                assert False, "its own failure, reported alone"
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    # The error is test_forgot_to_run's teardown; test_failed_itself gets no second one.
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*the test ended before anything ran: 1 case(s) admitted (j1)*"])
    result.stdout.fnmatch_lines(["ERROR *::test_forgot_to_run*"])
