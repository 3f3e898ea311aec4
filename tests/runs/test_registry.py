"""Finished Mesa models are let go: Mesa 3.3's class-level table of models does not grow."""

from __future__ import annotations

import mesa
import pytest

from simulation.runs.registry import release, release_models

pytestmark = pytest.mark.skipif(
    not isinstance(getattr(mesa.Agent, "_ids", None), dict),
    reason="only Mesa 3.3 keeps a class-level registry of models",
)


class _Tiny(mesa.Model):
    def __init__(self):
        super().__init__(rng=1)
        mesa.Agent(self)


def test_release_drops_one_model():
    model = _Tiny()
    assert model in mesa.Agent._ids
    release(model)
    assert model not in mesa.Agent._ids
    release(model)  # a second release is harmless


def test_release_models_forgets_only_the_models_made_inside():
    kept = _Tiny()
    with release_models():
        dropped = _Tiny()
    ids = mesa.Agent._ids
    assert kept in ids and dropped not in ids
    release(kept)
