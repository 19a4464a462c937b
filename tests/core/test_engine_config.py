"""The configuration every actor gets is frozen; the harness's view of the Scheduler reads only."""

from __future__ import annotations

import dataclasses

import pytest

from actors import Mediator, Sequential, Workflow
from actors._engine import EngineConfig
from actors.testing import Harness

WF = Workflow("w", [Sequential("a", lambda d: d)], "a")


def test_the_engine_configuration_cannot_be_changed() -> None:
    with Mediator([WF], runners=1) as mediator:
        config = mediator._engine
        assert isinstance(config, EngineConfig)
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.store = None  # type: ignore[misc]
        with pytest.raises(TypeError):
            config.workflows[("x", 1)] = WF  # type: ignore[index]
        assert not hasattr(config, "scheduler")  # nothing is patched in after start


def test_a_workflow_registered_twice_is_refused_by_name_and_version() -> None:
    with pytest.raises(ValueError, match="workflow 'w' version 1 is registered twice"):
        Mediator([WF, WF])


def test_the_schedulers_view_cannot_change_what_it_shows() -> None:
    with Harness([WF], seed=0) as h:
        h.schedule("w", {})
        h.run_until_quiescent()
        view = h.probe.view()
        assert view is not None
        with pytest.raises(TypeError):
            view.jobs["x"] = None  # type: ignore[index]
        with pytest.raises(TypeError):
            view.kids["x"] = set()  # type: ignore[index]
        with pytest.raises(TypeError):
            view.correlations["x"] = ()  # type: ignore[index]
        view.check_invariants()
