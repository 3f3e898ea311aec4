"""Letting finished Mesa models go: Mesa 3.3 keeps every model alive in a class-level table.

``mesa.Agent._ids`` maps each model to its counter of agent ids and is never emptied, so a
process that runs thousands of models (a sweep's worker) would grow without bound. Later
Mesa versions keep the counter on the model, and these functions then do nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def _registry() -> dict[Any, Any] | None:
    """Mesa's class-level table of models, or None when this Mesa version has none."""
    from mesa import Agent

    ids = getattr(Agent, "_ids", None)
    return ids if isinstance(ids, dict) else None


def release(model: Any) -> None:
    """Drop Mesa's class-level reference to a finished model.

    Args:
        model: a Mesa model that will not be stepped again.
    """
    ids = _registry()
    if ids is not None:
        ids.pop(model, None)


@contextlib.contextmanager
def release_models() -> Iterator[None]:
    """Release the Mesa models created inside the block once it ends.

    Only the models created in the block are dropped; models the caller keeps (in a notebook,
    say) are untouched.
    """
    ids = _registry()
    before = set(map(id, ids)) if ids is not None else set()
    try:
        yield
    finally:
        if ids is not None:
            for model in [m for m in list(ids) if id(m) not in before]:
                release(model)
