"""Test support for workflows built on ``actors``: deterministic harness, clocks, strategies."""
